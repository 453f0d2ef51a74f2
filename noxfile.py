"""Every task of Session Sync, Verified: `nox -l` lists them."""

import hashlib
import importlib.util
import json
import os
import shutil
import tarfile
import tomllib
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
CONSTRAINTS = "requirements/constraints.txt"
BUILD_DIR = "build/html"
SPHINX_STRICT = ["-W", "--keep-going", "-n"]

nox.options.default_venv_backend = "venv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["docs", "tests"]


def install_requirements(session: nox.Session, *names: str) -> None:
    args = []
    for name in names:
        args += ["-r", f"requirements/{name}.in"]
    session.install("-c", CONSTRAINTS, *args)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the site into build/html, running every example (warnings are errors)."""
    install_requirements(session, "docs")
    prepare_browser_assets(session)
    session.run("sphinx-build", "-c", ".", *SPHINX_STRICT, *session.posargs, "docs", BUILD_DIR)
    session.log(f"Site built: {ROOT / BUILD_DIR / 'index.html'}")


SERVER_TESTS = ["tests/test_dialects.py", "tests/test_database_ports.py"]
# Two pytest-xdist workers, each file's tests in one (a file's session fixtures, such as the
# browser sweeps, are made once); the builds they share are made once for both
# (tests/shared_builds.py). tests/benchmark_tests.py runs the suite with these too.
# Files go in tests/conftest.py's order (the quick ones first), not by their number of tests.
PARALLEL = ("-n", "2", "--dist", "loadfile", "--no-loadscope-reorder")
NPM_LOCK = ROOT / "package-lock.json"
NPM_INSTALLED_FROM = ROOT / "node_modules" / ".installed-from-lock"


def npm_ci(session: nox.Session) -> None:
    """The npm packages of package-lock.json (axe-core, Lighthouse, Pyodide, CodeMirror,
    esbuild) into node_modules/.

    `npm ci` installs exactly the lock file; it is skipped when node_modules/ already holds
    what this lock file installed.
    """
    lock = hashlib.sha256(NPM_LOCK.read_bytes()).hexdigest()
    if NPM_INSTALLED_FROM.exists() and NPM_INSTALLED_FROM.read_text() == lock:
        return
    if shutil.which("npm") is None:
        session.error("npm is missing: apt-get install nodejs npm (.ci/run does, as root)")
    session.run("npm", "ci", "--no-audit", "--no-fund", external=True)
    NPM_INSTALLED_FROM.write_text(lock)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite: standalone examples, the built site, the capture layer."""
    install_requirements(session, "docs", "tests")
    npm_ci(session)  # axe-core, which the browser tests run on every page
    prepare_browser_assets(session)
    # These need real database servers: `nox -s dialects` runs them.
    skip = [f"--ignore={path}" for path in SERVER_TESTS]
    session.run("pytest", *PARALLEL, *skip, *(session.posargs or ["tests"]))


# The releases of each series the examples are verified on (requirements/sqlalchemy.toml).
SQLALCHEMY_SERIES = tomllib.loads((ROOT / "requirements" / "sqlalchemy.toml").read_text())["series"]
SQLALCHEMY_RELEASES = {series: pins["verified"] for series, pins in SQLALCHEMY_SERIES.items()}


def run_examples_standalone(session: nox.Session, series: str, release: str) -> None:
    """Every example of a series standalone on one SQLAlchemy release, each in a fresh
    environment of what its PEP 723 block declares."""
    session.install("-c", CONSTRAINTS, "pytest")
    session.install(f"sqlalchemy=={release}")
    only = SQLALCHEMY_SERIES[series].get("examples")
    selection = ["-k", " or ".join(only)] if only else []
    session.run("pytest", "tests/test_examples_standalone.py", *selection, *session.posargs)


def verify_series(session: nox.Session, series: str) -> None:
    run_examples_standalone(session, series, SQLALCHEMY_RELEASES[series])
    if not SQLALCHEMY_SERIES[series].get("examples"):
        # questions_measured.py measures asyncio too: its driver, here.
        session.install("-c", CONSTRAINTS, "aiosqlite", "greenlet")
        committed = "tests/test_measured_summaries.py::test_committed_sweep_matches_this_release"
        session.run("pytest", committed)


@nox.session
@nox.parametrize("series", list(SQLALCHEMY_RELEASES))
def versions(session: nox.Session, series: str) -> None:
    """Run every example standalone on the verified SQLAlchemy release of a series, and check
    the measuring examples' outcomes there against the committed sweep."""
    verify_series(session, series)


@nox.session(name="other-versions")
def other_versions(session: nox.Session) -> None:
    """`versions` for each series but the one the site is built with, in one environment
    (.ci/run): `nox -s tests` verifies that one, whose pin is its verified release
    (tests/test_release_watch.py)."""
    for series, release in SQLALCHEMY_RELEASES.items():
        if release != pinned("SQLAlchemy"):
            verify_series(session, series)


@nox.session
def release_sweep(session: nox.Session) -> None:
    """Measure every SQLAlchemy release of each supported series (a cached environment each,
    build/release-envs/) into docs/_measured/releases.json, then run every example alone on
    each into docs/_measured/examples.json: commit both."""
    session.run("python", "tools/release_sweep.py", "sweep", *session.posargs)
    session.run("python", "tools/release_sweep.py", "examples")


@nox.session
def release_watch(session: nox.Session) -> None:
    """The newest SQLAlchemy of each series, from the package index (not the pins): every
    example standalone on it, and the measuring examples compared with the committed sweep.
    Fails on any failure or changed outcome, printing what changed."""
    newest = json.loads(
        session.run("python", "tools/release_sweep.py", "newest", silent=True).strip()
    )
    failed = []
    for series, release in newest.items():
        try:
            run_examples_standalone(session, series, release)
        except nox.command.CommandFailed:
            failed.append(f"an example failed standalone on SQLAlchemy {release}")
    try:
        session.run("python", "tools/release_sweep.py", "watch")
    except nox.command.CommandFailed:
        failed.append("a measured outcome changed (printed above)")
    if failed:
        session.error("; ".join(failed))


@nox.session
def lock(session: nox.Session) -> None:
    """Regenerate requirements/constraints.txt: newest releases of everything we use."""
    session.install(*(f"-r{path}" for path in sorted((ROOT / "requirements").glob("*.in"))))
    frozen = session.run("python", "-m", "pip", "freeze", "--exclude-editable", silent=True)
    pins = sorted(line for line in frozen.splitlines() if "==" in line)
    header = "# Generated by `nox -s lock` from requirements/*.in: do not edit by hand.\n"
    (ROOT / CONSTRAINTS).write_text(header + "\n".join(pins) + "\n")
    session.log(f"{len(pins)} pins written to {CONSTRAINTS}")


@nox.session
def bench(session: nox.Session) -> None:
    """Time clean, unchanged and incremental builds, and the capture layer's overhead."""
    install_requirements(session, "docs")
    prepare_browser_assets(session)
    session.run("python", "tests/benchmark_build.py")


@nox.session
def bench_tests(session: nox.Session) -> None:
    """What the test suite costs, in clean site builds (tests/benchmark_tests.py): each file's
    seconds, the suite's, a clean build's. `-- --before REV` measures that revision first."""
    install_requirements(session, "docs", "tests")
    npm_ci(session)
    prepare_browser_assets(session)
    session.run("python", "tests/benchmark_tests.py", *session.posargs)


LINTED = ["examples", "conf.py", "noxfile.py", "sphinxext", "tests", "tools", "docs/_run"]
INVENTORY = "docs/_inventories/sqlalchemy-objects.inv"


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (format check and lint) over the Python; pymarkdown over docs/ and README."""
    install_requirements(session, "dev")
    session.run("ruff", "format", "--check", "--diff", *LINTED)
    session.run("ruff", "check", *LINTED)
    session.run("pymarkdown", "scan", "docs", "README.md")


@nox.session
def serve(session: nox.Session) -> None:
    """Live preview on http://127.0.0.1:8000/: rebuilds and reloads the page on every change."""
    install_requirements(session, "docs", "dev")
    prepare_browser_assets(session)
    server = "--host 127.0.0.1 --port 8000".split()
    watch = "--watch conf.py --watch sphinxext --watch examples".split()
    ignore = "--ignore */auto_examples/* --ignore */sg_execution_times.rst".split()
    options = [*SPHINX_STRICT, *server, *watch, *ignore, *session.posargs]
    session.run("sphinx-autobuild", "-c", ".", *options, "docs", "build/serve")


@nox.session
def lighthouse(session: nox.Session) -> None:
    """Lighthouse's four scores (mobile emulation) for five pages of the site, served locally.

    Builds the site into build/html (as `nox -s docs`), then runs npm's `lighthouse` with
    Debian's Chromium on the landing page, the cheat sheet and three example pages; reports go
    to build/lighthouse/. Fails when a page misses a target (100, performance 95).
    """
    install_requirements(session, "docs")
    npm_ci(session)
    prepare_browser_assets(session)
    session.run("sphinx-build", "-c", ".", *SPHINX_STRICT, "-q", "docs", BUILD_DIR)
    session.run("python", "tools/lighthouse_scores.py", BUILD_DIR, "build/lighthouse")


def pinned(name: str) -> str:
    for line in (ROOT / CONSTRAINTS).read_text().splitlines():
        if line.lower().startswith(name.lower() + "=="):
            return line.split("==", 1)[1]
    raise ValueError(f"{name} is not pinned in {CONSTRAINTS}")


@nox.session
def inventory(session: nox.Session) -> None:
    """Rebuild the SQLAlchemy intersphinx inventory from the pinned release's sdist (~4 min).

    SQLAlchemy's sdist ships its documentation sources (doc/build): they are built here, with
    no network, into objects.inv; tools/sqlalchemy_inventory.py then adds the public import
    paths (sqlalchemy.update for sqlalchemy.sql.expression.update) and writes the file the site
    links with. Run it after changing the SQLAlchemy pin, and commit the result.
    """
    version = pinned("SQLAlchemy")
    session.install("-r", "requirements/inventory.txt")
    work = Path(session.create_tmp()) / f"sqlalchemy-{version}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    download = "python -m pip download --no-binary :all: --no-deps".split()
    session.run(*download, f"sqlalchemy=={version}", "-d", str(work))
    (sdist,) = work.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        archive.extractall(work, filter="data")
    (source,) = (path for path in work.iterdir() if path.is_dir())
    html = work / "html"
    # SQLAlchemy's conf.py asks for a newer zzzeeksphinx than PyPI has; 1.6.2 builds it.
    build = "sphinx-build -q -b html -j auto -D needs_extensions.zzzeeksphinx=1.6.2".split()
    session.run(*build, str(source / "doc" / "build"), str(html))
    aliases = ["python", "tools/sqlalchemy_inventory.py", str(html / "objects.inv"), INVENTORY]
    session.run(*aliases, env={"PYTHONPATH": str(source / "lib")})


def database_servers(session: nox.Session):
    """tests/databases.py, once the servers it starts are installed (apt-get, as root)."""
    spec = importlib.util.spec_from_file_location("databases", ROOT / "tests" / "databases.py")
    databases = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(databases)
    if databases.missing_binaries():
        if os.geteuid() != 0:
            session.error("; ".join(databases.missing_binaries()))
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        session.run("apt-get", "update", external=True, env=env)
        session.run("apt-get", "install", "-y", *databases.DEBIAN_PACKAGES, external=True, env=env)
        if databases.missing_binaries():
            session.error("; ".join(databases.missing_binaries()))
    return databases


@nox.session
def dialects(session: nox.Session) -> None:
    """Run every example on real PostgreSQL 15 and MariaDB servers (Debian's packages).

    As root, installs the servers with apt-get when they are missing; otherwise asks for them.
    Each server is a throwaway one (tests/databases.py); the run ends with a table of how long
    the servers took to start and stop and each example to run.
    """
    database_servers(session)
    install_requirements(session, "docs", "tests", "dialects")
    session.run("pytest", *SERVER_TESTS, "-rs", *session.posargs)


DIALECT_SQL = ROOT / "build" / "dialect-sql"


@nox.session(name="docs-full")
def docs_full(session: nox.Session) -> None:
    """Build the site with, under every cell, the SQL it sends to PostgreSQL and MariaDB too.

    Starts throwaway servers (as `nox -s dialects` does), records each example's SQL there cell
    by cell (sphinxext/dialect_capture.py), then builds into build/html with those recordings.
    """
    databases = database_servers(session)
    install_requirements(session, "docs", "dialects")
    shutil.rmtree(DIALECT_SQL, ignore_errors=True)
    examples = sorted(p for p in (ROOT / "examples").rglob("*.py") if not p.name.startswith("_"))
    servers = [
        ("1-postgresql", databases.postgresql_server),
        ("2-mariadb", databases.mariadb_server),
    ]
    for folder, server in servers:
        with server() as server_url:
            session.run(
                "python",
                "sphinxext/dialect_capture.py",
                str(DIALECT_SQL / folder),
                *map(str, examples),
                env={"DATABASE_URL": server_url},
            )
    session.run(
        "sphinx-build",
        "-c",
        ".",
        *SPHINX_STRICT,
        *session.posargs,
        "docs",
        BUILD_DIR,
        env={"SESSION_SYNC_DIALECT_SQL": str(DIALECT_SQL)},
    )
    session.log(f"Site built with PostgreSQL and MariaDB tabs: {ROOT / BUILD_DIR / 'index.html'}")


# ---------------------------------------------------------------------------------------------
# "Run in your browser" (issue 12): Pyodide, the bundled editor and the hashed wheels, prepared
# into build/browser-assets/ before any build (sphinxext/browser_run.py copies them, offline).
# ---------------------------------------------------------------------------------------------
BROWSER_ASSETS = "build/browser-assets"


def prepare_browser_assets(session: nox.Session) -> None:
    """npm ci (Pyodide, CodeMirror, esbuild), then tools/browser_assets.py if anything changed.

    SESSION_SYNC_BROWSER_RUN=off builds without the feature, and prepares nothing.
    """
    if os.environ.get("SESSION_SYNC_BROWSER_RUN", "on").lower() in ("off", "0", "no"):
        return
    npm_ci(session)
    session.run("python", "tools/browser_assets.py", "--if-needed", BROWSER_ASSETS)


@nox.session(name="browser_assets")
def browser_assets(session: nox.Session) -> None:
    """Prepare what 'Run in your browser' serves into build/browser-assets/ (then: nox -s docs)."""
    npm_ci(session)
    session.run("python", "tools/browser_assets.py", BROWSER_ASSETS)


@nox.session
def bench_browser(session: nox.Session) -> None:
    """'Run in your browser' in Chromium: click to first SQL (cold, after a reload), an edited
    re-run, and the bytes a page loads with and without a click. Builds build/html first."""
    install_requirements(session, "docs", "tests")
    prepare_browser_assets(session)
    session.run("sphinx-build", "-c", ".", *SPHINX_STRICT, "-q", "docs", BUILD_DIR)
    session.run("python", "tools/bench_browser.py", BUILD_DIR, *session.posargs)


# ---------------------------------------------------------------------------------------------
# Release watch: the site on the newest Sphinx, Sphinx-Gallery, MyST, furo, sphinx-llm ...
# ---------------------------------------------------------------------------------------------
@nox.session(python="3.11")
def toolchain_watch(session: nox.Session) -> None:
    """Build the site with the newest releases of requirements/docs.in (no constraints) and with
    the pins, and compare the pages (tools/compare_builds.py; build/toolchain-watch/).

    Prints the versions that differ from the pins, whether the newest build succeeded and which
    files changed; fails when it did not, or when any page changed. The extensions check the
    private internals they replace when the build starts (sphinxext/private_internals.py).
    """
    session.install("--upgrade", "--upgrade-strategy", "eager", "-r", "requirements/docs.in")
    pinned = Path(session.create_tmp()) / "pinned"
    if not (pinned / "bin" / "python").exists():
        session.run("python", "-m", "venv", str(pinned))
    pinned_python = str(pinned / "bin" / "python")
    install = [pinned_python, "-m", "pip", "install", "-q", "-c", CONSTRAINTS]
    session.run(*install, "-r", "requirements/docs.in", external=True)
    compare = ["python", "tools/compare_builds.py", "--pinned-python", pinned_python]
    session.run(*compare, "build/toolchain-watch")
