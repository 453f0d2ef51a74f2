// The Web Worker that runs an example: Pyodide, SQLAlchemy's wheel and the capture layer, all
// from this site (never another host), loaded on the first Run and kept for the next ones.
// Messages in: {source, assets}; out: {result} (what each cell showed) or {failure}.

let ready = null;

async function boot(assets) {
  const started = performance.now();
  const indexURL = new URL("pyodide/", assets.base).href;
  const { loadPyodide } = await import(indexURL + "pyodide.mjs");
  const pyodide = await loadPyodide({
    indexURL,
    packageBaseUrl: indexURL,
    lockFileURL: indexURL + "pyodide-lock.json",
    stdout: () => {},
    stderr: () => {},
  });
  const wheels = assets.wheels.map((name) => new URL("wheels/" + name, assets.base).href);
  const files = await Promise.all(
    assets.python.map(async (name) => {
      const response = await fetch(new URL("py/" + name, assets.base));
      if (!response.ok) throw new Error(`${name}: HTTP ${response.status}`);
      return [name, await response.text()];
    }),
  );
  await pyodide.loadPackage(wheels, { messageCallback: () => {}, errorCallback: () => {} });
  pyodide.FS.mkdirTree("/home/pyodide/session_sync");
  for (const [name, text] of files) pyodide.FS.writeFile("/home/pyodide/" + name, text);
  // loadPackage only logs a missing wheel: the import says whether it is there.
  pyodide.runPython(
    "import sys\nsys.path.insert(0, '/home/pyodide')\nimport sqlalchemy, runner",
  );
  const versions = JSON.parse(
    pyodide.runPython(
      "import json, platform, sqlite3, sqlalchemy\n" +
        "json.dumps({'python': platform.python_version(), 'sqlite': sqlite3.sqlite_version," +
        " 'sqlalchemy': sqlalchemy.__version__})",
    ),
  );
  return { pyodide, run: pyodide.globals.get("runner").run_and_render, versions, started };
}

self.onmessage = async ({ data }) => {
  try {
    ready ??= boot(data.assets);
    const { run, versions } = await ready;
    const started = performance.now();
    const result = JSON.parse(run(data.source));
    result.seconds = (performance.now() - started) / 1000;
    result.versions = versions;
    self.postMessage({ id: data.id, result });
  } catch (error) {
    ready = null;
    self.postMessage({ id: data.id, failure: String(error && error.message ? error.message : error) });
  }
};
