// The Web Worker that runs an example: Pyodide restored from a snapshot holding SQLAlchemy and
// the capture layer, and SQLAlchemy's files, all from this site (never another host), loaded on
// the first Run and kept for the next ones (and in the Cache Storage for the site's other pages).
// control.js starts it on the reader's click, before the editor has loaded; it starts Python at
// once. Messages in: {id, source, original}; out: {id, json} (what each cell showed) or
// {id, failure}; and, while Python loads, {progress: {text, done, total}} (bytes downloaded of
// what the first Run downloads, from the sizes the build wrote into assets.json).

const base = new URL(".", self.location.href).href;
// Seconds each step took, since the worker started: the benchmark reports them.
const phases = {};
const lap = (name) => (phases[name] = Number((performance.now() / 1000).toFixed(3)));

// Progress for the page, in bytes of the files the first Run downloads.
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
// The large files (Pyodide's, the snapshot, SQLAlchemy's) are kept in the Cache Storage, under
// their content hash from assets.json (the build's manifest): the first Run on another page of
// the site takes them from there, whatever the host's cache headers (GitHub Pages keeps a file
// 10 minutes). Another build's file has another hash: it is fetched anew (asked for as
// name?v=<hash>, past any HTTP cache), and the copy of the previous one deleted.
const CACHE = "session-sync-run";
const hashes = {};
let assetsRead = null;
const realFetch = self.fetch.bind(self);

async function openCache() {
  try {
    return await caches.open(CACHE);
  } catch {
    return null; // no Cache Storage here (a private window, an opaque origin): the network
  }
}

async function cachedFetch(name) {
  const url = new URL(name, base);
  url.search = "v=" + hashes[name];
  const cache = await openCache();
  const hit = cache && (await cache.match(url.href).catch(() => null));
  if (hit) return hit;
  const response = await realFetch(url.href);
  if (cache && response.ok) {
    cache
      .put(url.href, response.clone())
      .then(async () => {
        for (const request of await cache.keys()) {
          const kept = new URL(request.url);
          if (kept.pathname === url.pathname && kept.search !== url.search) await cache.delete(request);
        }
      })
      .catch(() => {});
  }
  return response;
}

// The files Pyodide requests only once its JavaScript is imported (its wasm, its standard
// library, its lock file) are requested by the boot at once; Pyodide's own request then gets
// the response the boot has (the wasm's body unread: the boot compiles a clone of it).
const WASM = "pyodide/pyodide.asm.wasm";
const EARLY = [WASM, "pyodide/python_stdlib.zip", "pyodide/pyodide-lock.json"];
const requested = new Map();

self.fetch = async (input, init) => {
  const url = new URL(input instanceof Request ? input.url : String(input), base);
  const name = url.href.startsWith(base) ? url.href.slice(base.length) : "";
  const early = requested.get(name);
  if (early) {
    requested.delete(name);
    return early;
  }
  return fetchCounted(name, input, init);
};

async function fetchCounted(name, input, init) {
  if (name && name !== "assets.json" && assetsRead) await assetsRead;
  const response = name in hashes ? await cachedFetch(name) : await realFetch(input, init);
  // Progress for the page: every response this worker (and Pyodide in it) fetches is counted as
  // its bytes arrive (a clone read beside the original), up to the size the build recorded.
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
}

function fetched(name) {
  return fetch(new URL(name, base)).then((response) => {
    if (!response.ok) throw new Error(`${name}: HTTP ${response.status}`);
    return response;
  });
}

// A gzip-compressed file, inflated here as it arrives, unless the host already did
// (Content-Encoding: the browser inflated it).
async function inflated(response) {
  const done = /gzip/.test(response.headers.get("Content-Encoding") || "");
  const body = done ? response.body : response.body.pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(body).arrayBuffer());
}

// Pyodide 314.0.8 restores a snapshot into the memory its module starts with, which is smaller
// than a heap holding SQLAlchemy ("offset is out of bounds"): the memory is grown to the
// snapshot's size as soon as the instance exists, before Pyodide makes its views of it. Wrapped
// once; each boot says which snapshot its instance is for (a boot after a failed one, another).
// Pyodide's wasm module itself is the one the boot compiled as it arrived (compiledWasm), when
// that worked: Pyodide would only request it once its JavaScript is imported.
let snapshotToHold = null;
let compiledWasm = null;
const instantiate = WebAssembly.instantiate.bind(WebAssembly);
for (const name of ["instantiate", "instantiateStreaming"]) {
  const original = WebAssembly[name].bind(WebAssembly);
  WebAssembly[name] = async (...args) => {
    const precompiled = name === "instantiateStreaming" && (await compiledWasm?.catch(() => null));
    const made = precompiled
      ? instantiate(precompiled, args[1]).then((instance) => ({ instance, module: precompiled }))
      : original(...args);
    if (precompiled) Promise.resolve(args[0]).then((response) => response.body?.cancel(), () => {});
    const [result, bytes] = await Promise.all([
      made.then((result) => (lap("wasm instantiated"), result)),
      snapshotToHold,
    ]);
    const memory = (result.instance ?? result).exports.memory;
    const missing = memory && bytes ? bytes.length - memory.buffer.byteLength : 0;
    if (missing > 0) memory.grow(Math.ceil(missing / 65536));
    return result;
  };
}

// SQLAlchemy's files (tools/browser_assets.py's pack_files: a 4-byte length, a JSON list of
// [path, size], the bytes), written where Pyodide's Python looks for them.
function writeFiles(pyodide, bytes, folder) {
  const length = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true);
  const files = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + length)));
  let offset = 4 + length;
  const made = new Set();
  for (const [name, size] of files) {
    const path = `${folder}/${name}`;
    const parent = path.slice(0, path.lastIndexOf("/"));
    if (!made.has(parent)) pyodide.FS.mkdirTree(parent), made.add(parent);
    pyodide.FS.writeFile(path, bytes.subarray(offset, offset + size));
    offset += size;
  }
}

async function boot() {
  const indexURL = new URL("pyodide/", base).href;
  // Everything is requested at once: Pyodide's own files (it fetches its wasm and standard
  // library side by side), the snapshot of its heap with SQLAlchemy and the capture layer
  // imported (tools/make_snapshot.mjs), and SQLAlchemy's compiled files. The large ones wait
  // for assets.json (their hashes: see cachedFetch).
  const assets = (assetsRead = fetch(new URL("assets.json", base), { cache: "no-cache" })
    .then((response) => {
      if (!response.ok) throw new Error(`assets.json: HTTP ${response.status}`);
      return response.json();
    })
    .then((found) => {
      Object.assign(sizes, found.sizes || {});
      Object.assign(hashes, found.hashes || {});
      lap("assets.json");
      progress();
      return found;
    }));
  assets.catch(() => (assetsRead = null));
  const snapshot = assets
    .then((found) => fetched(found.snapshot))
    .then(inflated)
    .then((bytes) => (lap("snapshot inflated"), bytes));
  const packed = assets.then((found) => fetched(found.site_packages)).then(inflated);
  // Pyodide's wasm (9.6 MB) is compiled as it arrives, beside the snapshot's download (Pyodide
  // would request it once its JavaScript is imported), from a clone of the response; Pyodide's
  // own request gets the response itself, unread, which the instantiate wrapper above then
  // drops. Where compiling from a stream fails (a host's wrong MIME type), Pyodide reads it.
  requested.clear();
  for (const name of EARLY) requested.set(name, fetched(name));
  for (const response of requested.values()) response.catch(() => {});
  compiledWasm = requested
    .get(WASM)
    .then((response) => WebAssembly.compileStreaming(response.clone()));
  compiledWasm.catch(() => {});
  // Pyodide's JavaScript (1.3 MB) through the same cache: imported from its text.
  const script = assets
    .then(() => fetched("pyodide/pyodide.asm.mjs"))
    .then((response) => response.blob())
    .then((blob) => URL.createObjectURL(new Blob([blob], { type: "text/javascript" })))
    .then((url) => import(url))
    .then((module) => (lap("pyodide.asm.mjs"), module));
  // Not left unhandled if Pyodide fails first: the await below reports the first failure.
  packed.catch(() => {});
  snapshot.catch(() => {});
  snapshotToHold = snapshot;
  const { loadPyodide } = await import(indexURL + "pyodide.mjs");
  lap("pyodide.mjs");
  const pyodide = await loadPyodide({
    indexURL,
    packageBaseUrl: indexURL,
    lockFileURL: indexURL + "pyodide-lock.json",
    createPyodideModule: (await script).default,
    _loadSnapshot: snapshot,
    stdout: () => {},
    stderr: () => {},
  });
  lap("Python restored");
  progress("Starting SQLAlchemy", true);
  // SQLAlchemy's modules the snapshot does not hold (imported later by an example, or by the
  // reader's edit): installed and compiled to bytecode when the site was built
  // (tools/compile_wheels.mjs), written into site-packages, nothing to compile here. (The
  // bytecode names its files in site-packages, where the capture layer looks for SQLAlchemy's
  // frames.) The capture layer and runner.py are in the snapshot, imported.
  const sitePackages = pyodide.runPython("import site\nsite.getsitepackages()[0]");
  writeFiles(pyodide, await packed, sitePackages);
  // random was seeded when the snapshot was made, the same for every reader: seeded again.
  pyodide.runPython("import importlib, random\nrandom.seed()\nimportlib.invalidate_caches()");
  lap("SQLAlchemy unpacked");
  const versions = JSON.parse(
    pyodide.runPython(
      "import json, platform, sqlite3, sqlalchemy\n" +
        "json.dumps({'python': platform.python_version(), 'sqlite': sqlite3.sqlite_version," +
        " 'sqlalchemy': sqlalchemy.__version__})",
    ),
  );
  const runner = pyodide.pyimport("runner");
  return { pyodide, run: runner.run_and_render, versions };
}

let ready = boot();
ready.catch(() => {}); // reported to the run that awaits it

// Restored from a snapshot, Python has run almost nothing in this worker, and V8 compiles a wasm
// function for speed only once it has run enough: the first runs of an example run slower until
// then. Once the first Run's result is sent, the example runs up to three more times, unseen,
// while the reader reads it, each compiling its cells again as an edit does (no more once that
// has taken 2 s; a run asked for meanwhile goes first, and no warm-up run comes after it): a
// re-run is then about as fast as after a normal start, and the first result does not wait.
const WARM_UP_RUNS = 3;
const WARM_UP_SECONDS = 2;
let warmedUp = false;
let warmingUp = null;

function warmUp(pyodide, run, source) {
  const token = (warmingUp = {});
  const until = performance.now() + WARM_UP_SECONDS * 1000;
  let left = WARM_UP_RUNS;
  const step = () => {
    if (warmingUp !== token || left-- <= 0 || performance.now() > until) return;
    try {
      pyodide.runPython("import runner\nrunner._compiled.clear()");
      // undefined, not null: Pyodide passes null as jsnull, which is not None.
      run(source, undefined); // compiles the cells again, and keeps them for the next run
    } catch {
      return;
    }
    lap("warmed up");
    setTimeout(step, 0);
  };
  setTimeout(step, 0);
}

self.onmessage = async ({ data }) => {
  warmingUp = null;
  try {
    ready ??= boot();
    const { pyodide, run, versions } = await ready;
    progress("Running the example", true);
    const started = performance.now();
    // Sent as the JSON text (one copy of a string) and parsed by the page, rather than parsed
    // here and structured-cloned across.
    const json = run(data.source, data.original ?? undefined);
    const seconds = (performance.now() - started) / 1000;
    lap("ran");
    self.postMessage({ id: data.id, json, seconds, versions, phases: { ...phases } });
    if (!warmedUp) {
      warmedUp = true;
      warmUp(pyodide, run, data.source);
    }
  } catch (error) {
    ready = null;
    self.postMessage({ id: data.id, failure: String(error && error.message ? error.message : error) });
  }
};
