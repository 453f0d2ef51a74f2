// The Web Worker that runs an example: Pyodide, SQLAlchemy's wheel and the capture layer, all
// from this site (never another host), loaded on the first Run and kept for the next ones.
// Messages in: {source, assets}; out: {result} (what each cell showed) or {failure}.

let ready = null;

async function boot(assets) {
  // Seconds each step took, since the worker started: the benchmark reports them.
  const phases = {};
  const lap = (name) => (phases[name] = Number((performance.now() / 1000).toFixed(3)));
  const indexURL = new URL("pyodide/", assets.base).href;
  const { loadPyodide } = await import(indexURL + "pyodide.mjs");
  lap("pyodide.mjs");
  const pyodide = await loadPyodide({
    indexURL,
    packageBaseUrl: indexURL,
    lockFileURL: indexURL + "pyodide-lock.json",
    stdout: () => {},
    stderr: () => {},
  });
  const fetched = (name) =>
    fetch(new URL(name, assets.base)).then((response) => {
      if (!response.ok) throw new Error(`${name}: HTTP ${response.status}`);
      return response;
    });
  lap("Python started");
  const files = await Promise.all(
    assets.python.map(async (name) => [name, await (await fetched("py/" + name)).text()]),
  );
  // SQLAlchemy and typing-extensions, installed and compiled to bytecode when the site was
  // built (tools/compile_wheels.mjs): unpacked into site-packages, nothing to compile here.
  const sitePackages = pyodide.runPython("import site\nsite.getsitepackages()[0]");
  const archive = await (await fetched(assets.site_packages)).arrayBuffer();
  pyodide.unpackArchive(archive, "zip", { extractDir: sitePackages });
  lap("SQLAlchemy unpacked");
  pyodide.FS.mkdirTree("/home/pyodide/session_sync");
  for (const [name, text] of files) pyodide.FS.writeFile("/home/pyodide/" + name, text);
  // What exists now lives as long as the worker: the capture layer's gc.collect() after every
  // cell can leave it out (the docs build does the same, session_sync.build_hooks).
  pyodide.runPython(
    "import gc, importlib, sys\nimportlib.invalidate_caches()\n" +
      "sys.path.insert(0, '/home/pyodide')\nimport sqlalchemy.orm, runner\n" +
      "gc.collect()\ngc.freeze()",
  );
  lap("SQLAlchemy imported");
  const versions = JSON.parse(
    pyodide.runPython(
      "import json, platform, sqlite3, sqlalchemy\n" +
        "json.dumps({'python': platform.python_version(), 'sqlite': sqlite3.sqlite_version," +
        " 'sqlalchemy': sqlalchemy.__version__})",
    ),
  );
  return { pyodide, run: pyodide.globals.get("runner").run_and_render, versions, phases };
}

self.onmessage = async ({ data }) => {
  try {
    ready ??= boot(data.assets);
    const { run, versions, phases } = await ready;
    if (data.source === undefined) return; // started early, before the code was there
    const started = performance.now();
    const result = JSON.parse(run(data.source));
    result.seconds = (performance.now() - started) / 1000;
    result.versions = versions;
    result.phases = phases;
    self.postMessage({ id: data.id, result });
  } catch (error) {
    ready = null;
    self.postMessage({ id: data.id, failure: String(error && error.message ? error.message : error) });
  }
};
