// The Web Worker that runs an example: Pyodide, SQLAlchemy's wheel and the capture layer, all
// from this site (never another host), loaded on the first Run and kept for the next ones.
// control.js starts it on the reader's click, before the editor has loaded; it starts Python at
// once. Messages in: {id, source, original}; out: {id, json} (what each cell showed) or
// {id, failure}; and, while Python loads, {progress: {text, done, total}} (bytes downloaded of
// what the first Run downloads, from the sizes the build wrote into assets.json).

const base = new URL(".", self.location.href).href;
// Seconds each step took, since the worker started: the benchmark reports them.
const phases = {};
const lap = (name) => (phases[name] = Number((performance.now() / 1000).toFixed(3)));

// Progress for the page: every response this worker (and Pyodide in it) fetches is counted as
// its bytes arrive (a clone read beside the original), up to the size the build recorded.
const sizes = {};
const received = {};
let step = "Downloading Python, SQLite and SQLAlchemy";
let lastSent = "";
function progress(text = step, finished = false) {
  step = text;
  const total = Object.values(sizes).reduce((a, b) => a + b, 0);
  const done = finished
    ? total
    : Object.entries(received).reduce((sum, [name, bytes]) => sum + Math.min(bytes, sizes[name] || 0), 0);
  if (!finished && total && done >= total && text === step) text = "Starting Python";
  const message = { text, done, total };
  const key = `${text}|${Math.floor((done / (total || 1)) * 100)}`;
  if (key === lastSent) return;
  lastSent = key;
  self.postMessage({ progress: message });
}
const realFetch = self.fetch.bind(self);
self.fetch = async (...args) => {
  const response = await realFetch(...args);
  const name = new URL(response.url || String(args[0]), base).href.slice(base.length);
  if (response.ok && response.body && name in sizes) {
    (async () => {
      const reader = response.clone().body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        received[name] = (received[name] || 0) + value.length;
        progress();
      }
    })().catch(() => {});
  }
  return response;
};

function fetched(name) {
  return fetch(new URL(name, base)).then((response) => {
    if (!response.ok) throw new Error(`${name}: HTTP ${response.status}`);
    return response;
  });
}

// A gzip-compressed file, inflated here unless the host already did (Content-Encoding).
async function inflated(response) {
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

// Pyodide 314.0.8 restores a snapshot into the memory its module starts with, which is smaller
// than a heap holding SQLAlchemy ("offset is out of bounds"): the memory is grown to the
// snapshot's size as soon as the instance exists, before Pyodide makes its views of it. Wrapped
// once; each boot says which snapshot its instance is for (a boot after a failed one, another).
let snapshotToHold = null;
for (const name of ["instantiate", "instantiateStreaming"]) {
  const original = WebAssembly[name];
  WebAssembly[name] = async (...args) => {
    const [result, bytes] = await Promise.all([original.apply(WebAssembly, args), snapshotToHold]);
    const memory = (result.instance ?? result).exports.memory;
    const missing = memory && bytes ? bytes.length - memory.buffer.byteLength : 0;
    if (missing > 0) memory.grow(Math.ceil(missing / 65536));
    return result;
  };
}

async function boot() {
  const indexURL = new URL("pyodide/", base).href;
  // Everything is requested at once: Pyodide's own files (it fetches its wasm and standard
  // library side by side), the snapshot of its heap with SQLAlchemy imported
  // (tools/make_snapshot.mjs), SQLAlchemy's compiled zip and the capture layer.
  const assets = fetched("assets.json")
    .then((response) => response.json())
    .then((found) => (Object.assign(sizes, found.sizes || {}), progress(), found));
  const snapshot = assets.then((found) => fetched(found.snapshot)).then(inflated);
  const archive = assets
    .then((found) => fetched(found.site_packages))
    .then((response) => response.arrayBuffer());
  const files = assets.then((found) =>
    Promise.all(
      found.python.map(async (name) => [name, await (await fetched("py/" + name)).text()]),
    ),
  );
  // Not left unhandled if Pyodide fails first: the await below reports the first failure.
  archive.catch(() => {});
  files.catch(() => {});
  snapshot.catch(() => {});
  snapshotToHold = snapshot;
  const { loadPyodide } = await import(indexURL + "pyodide.mjs");
  lap("pyodide.mjs");
  const pyodide = await loadPyodide({
    indexURL,
    packageBaseUrl: indexURL,
    lockFileURL: indexURL + "pyodide-lock.json",
    _loadSnapshot: snapshot,
    stdout: () => {},
    stderr: () => {},
  });
  lap("Python restored");
  progress("Starting SQLAlchemy", true);
  // SQLAlchemy's modules the snapshot does not hold (imported later by an example, or by the
  // reader's edit): installed and compiled to bytecode when the site was built
  // (tools/compile_wheels.mjs), unpacked into site-packages, nothing to compile here.
  // (Not imported from the zip itself: the bytecode names its files in site-packages, where
  // the capture layer looks for SQLAlchemy's frames.)
  const sitePackages = pyodide.runPython("import site\nsite.getsitepackages()[0]");
  pyodide.unpackArchive(await archive, "zip", { extractDir: sitePackages });
  pyodide.FS.mkdirTree("/home/pyodide/session_sync");
  for (const [name, text] of await files) pyodide.FS.writeFile("/home/pyodide/" + name, text);
  lap("SQLAlchemy unpacked");
  // random was seeded when the snapshot was made, the same for every reader: seeded again.
  // What exists now lives as long as the worker: the capture layer's gc.collect() after every
  // cell can leave it out (the docs build does the same, session_sync.build_hooks).
  pyodide.runPython(
    "import gc, importlib, random, sys\nrandom.seed()\nimportlib.invalidate_caches()\n" +
      "sys.path.insert(0, '/home/pyodide')\nimport runner\nrunner.prepare()\n" +
      "gc.collect()\ngc.freeze()",
  );
  lap("capture layer imported");
  const versions = JSON.parse(
    pyodide.runPython(
      "import json, platform, sqlite3, sqlalchemy\n" +
        "json.dumps({'python': platform.python_version(), 'sqlite': sqlite3.sqlite_version," +
        " 'sqlalchemy': sqlalchemy.__version__})",
    ),
  );
  return { pyodide, run: pyodide.globals.get("runner").run_and_render, versions };
}

let ready = boot();
ready.catch(() => {}); // reported to the run that awaits it

// Restored from a snapshot, Python has run almost nothing in this worker, and V8 compiles a wasm
// function for speed only once it has run enough: the first runs of an example run slower until
// then (0.19 s for an edited re-run in the worker, against 0.12 s after a normal start). The
// first Run therefore runs the example up to twice more, unseen, before the run it shows, and
// no more once that has taken a second (a long example warms V8 up in one run).
const WARM_UP_RUNS = 2;
const WARM_UP_SECONDS = 1;
let warmedUp = false;

self.onmessage = async ({ data }) => {
  try {
    ready ??= boot();
    const { run, versions } = await ready;
    if (!warmedUp) {
      progress("Running the example", true);
      const until = performance.now() + WARM_UP_SECONDS * 1000;
      for (let i = 0; i < WARM_UP_RUNS && performance.now() < until; i++) {
        try {
          run(data.source, null);
        } catch {
          break; // the run below reports it
        }
      }
      warmedUp = true;
      lap("warmed up");
    }
    const started = performance.now();
    // Sent as the JSON text (one copy of a string) and parsed by the page, rather than parsed
    // here and structured-cloned across.
    const json = run(data.source, data.original ?? null);
    const seconds = (performance.now() - started) / 1000;
    self.postMessage({ id: data.id, json, seconds, versions, phases });
  } catch (error) {
    ready = null;
    self.postMessage({ id: data.id, failure: String(error && error.message ? error.message : error) });
  }
};
