// A memory snapshot of Pyodide's Python with SQLAlchemy's ORM and SQLite dialect imported, and
// the capture layer with docs/_run/runner.py (what the worker runs an example with): the browser
// restores it instead of starting Python and importing SQLAlchemy and the capture layer (seconds
// of CPU) on every first Run. Made in Node by the same Pyodide the site serves; the bytes depend
// only on it, the compiled site-packages zip and those Python files: every source of randomness
// and time Pyodide reads while starting is pinned here (the reader's worker reseeds `random`
// after restoring).
//     node tools/make_snapshot.mjs <folder holding pyodide.mjs> <site-packages.zip> <output>
//          <capture layer folder (sphinxext/session_sync)> <runner.py>
import { readFileSync, writeFileSync } from "node:fs";
import nodeCrypto from "node:crypto";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [folder, sitePackagesZip, output, captureFolder, runnerFile] = process.argv.slice(2);

// A fixed byte stream for getentropy() (Python's hash secret, random's seed, SQLite's), fixed
// clocks, and a fixed program name (Node's argv[1] lands in the heap as sys.executable).
let state = 0x2545f491;
function pinnedRandomFill(view) {
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  for (let i = 0; i < bytes.length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    bytes[i] = state >>> 24;
  }
  return view;
}
globalThis.crypto.getRandomValues = pinnedRandomFill;
nodeCrypto.randomFillSync = pinnedRandomFill;
Math.random = () => 0.5;
Date.now = () => 1767225600000;
let ticks = 0;
performance.now = () => (ticks += 1);
process.argv[1] = "/snapshot";

const indexURL = path.resolve(folder) + path.sep;
const { loadPyodide } = await import(pathToFileURL(indexURL + "pyodide.mjs").href);
const pyodide = await loadPyodide({
  indexURL,
  _makeSnapshot: true,
  stdout: () => {},
  stderr: (line) => console.error(line),
});
const sitePackages = pyodide.runPython("import site\nsite.getsitepackages()[0]");
pyodide.unpackArchive(new Uint8Array(readFileSync(sitePackagesZip)), "zip", {
  extractDir: sitePackages,
});
// The capture layer's modules the worker uses (sphinxext/browser_run.py's CAPTURE_MODULES:
// those of its folder but the build's hooks and directives) and runner.py, where the worker
// would have written them: imported below, they are compiled and run here, not in the browser.
const modules = readFileSync(path.join(path.dirname(new URL(import.meta.url).pathname), "..",
  "sphinxext", "browser_run.py"), "utf8");
const names = [.../^CAPTURE_MODULES = \(([^)]*)\)/m.exec(modules)[1].matchAll(/"([^"]+)"/g)];
pyodide.FS.mkdirTree("/home/pyodide/session_sync");
for (const [, name] of names) {
  pyodide.FS.writeFile("/home/pyodide/session_sync/" + name, readFileSync(path.join(captureFolder, name), "utf8"));
}
pyodide.FS.writeFile("/home/pyodide/runner.py", readFileSync(runnerFile, "utf8"));
// What every example needs before its first statement: the ORM, and what create_engine() and
// the first connection import lazily (the SQLite dialect, its DBAPI, the pool), then the capture
// layer (runner.prepare(): what every run uses). The engine itself is not kept. Then a small
// example (WARM_UP below) runs once through runner.py, as a reader's Run does, and is dropped:
// the code paths every example takes (the ORM's flush, loading, the bulk UPDATE and DELETE with
// each synchronize_session, relationship loading; the capture layer's recording and state
// tables; rendering and JSON) have then run once in this heap: what the first run would do once
// (memoized attributes, caches of SQLAlchemy's and Python's own, Python's specialized bytecode)
// is done. Nothing of it is left for the reader's run to see: its module, classes, engine and
// session are gone (runner.py restores __main__, the recording's listeners are removed, the
// compiled-cell cache is emptied), as between two Runs in the browser (the tests run every
// example in one worker and compare each with its page). What exists then lives as long as the
// worker: frozen out of the garbage collections the capture layer makes after every cell (the
// docs build does the same, session_sync.build_hooks).
const WARM_UP = `"""A warm-up run: the ORM's common paths, once."""

from sqlalchemy import ForeignKey, create_engine, delete, func, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship
from sqlalchemy.orm import selectinload


class Base(DeclarativeBase):
    pass


class Parent(Base):
    __tablename__ = "parent"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    children: Mapped[list["Child"]] = relationship(
        back_populates="parent", cascade="all, delete-orphan"
    )


class Child(Base):
    __tablename__ = "child"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("parent.id"))
    value: Mapped[int]
    parent: Mapped[Parent] = relationship(back_populates="children")


engine = create_engine("sqlite://")
Base.metadata.create_all(engine)
session = Session(engine)

# %%
parent = Parent(name="a", children=[Child(value=1), Child(value=2)])
session.add(parent)
session.flush()
session.commit()
print(parent.name, [child.value for child in parent.children])
# sphinx_gallery_start_ignore
assert parent.name == "a", "the name is loaded"
# sphinx_gallery_end_ignore

# %%
session.execute(update(Child).where(Child.value > 1).values(value=Child.value + 1))
session.execute(
    update(Child).where(Child.value > 2).values(value=5),
    execution_options={"synchronize_session": "fetch"},
)
session.execute(update(Parent).values(name="b").execution_options(synchronize_session=False))
session.execute(update(Child), [{"id": 1, "value": 7}])
parent.name = "c"
session.refresh(parent)
session.expire(parent)
print(parent.name, session.scalar(select(func.count()).select_from(Child)))

# %%
session.expire_all()
loaded = session.scalars(select(Parent).options(selectinload(Parent.children))).all()
print([(p.name, [c.value for c in p.children]) for p in loaded])
extra = Parent(name="d")
session.add(extra)
session.flush()
session.delete(extra)
session.execute(delete(Child).where(Child.value == 7))
session.execute(
    delete(Child).where(Child.value == 5), execution_options={"synchronize_session": "fetch"}
)
session.execute(delete(Parent).where(Parent.id == parent.id))
session.commit()
try:
    session.get(Parent, 1).name
except AttributeError as error:
    print(type(error).__name__)
session.close()
engine.dispose()
`;
pyodide.globals.set("WARM_UP", WARM_UP);
pyodide.runPython(`
import gc, importlib, json, sys
importlib.invalidate_caches()
import sqlalchemy, sqlalchemy.orm
from sqlalchemy import create_engine, text

engine = create_engine("sqlite://")
with engine.connect() as connection:
    connection.execute(text("SELECT 1"))
engine.dispose()
del engine, connection
sys.path.insert(0, "/home/pyodide")
import runner
runner.prepare()
result = json.loads(runner.run_and_render(WARM_UP, WARM_UP))
problems = [c for c in result["cells"] if c["error"] or c["stderr"] or c["broken_claims"]]
if problems or len(result["cells"]) != 4 or not result["cells"][1]["claims"]:
    raise SystemExit(f"The warm-up run did not run as it should: {problems or result}")
runner._compiled.clear()
del result, problems, WARM_UP
gc.collect()
gc.freeze()
`);
writeFileSync(output, pyodide.makeMemorySnapshot());
