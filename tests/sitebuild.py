"""Builds of the site in private copies of the sources, for the tests and the benchmark.

A copy never shares Sphinx-Gallery's output folder (docs/auto_examples) with `nox -s docs`, so
each build here starts clean and nothing it does is seen by another.
"""

import os
import re
import shutil
import subprocess
import sys
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(
    path for path in (ROOT / "examples").rglob("*.py") if not path.name.startswith("_")
)
NARRATIVE_PAGES = sorted((ROOT / "docs").glob("*.md"))

# The reference regular expression of PEP 723.
SCRIPT_BLOCK = re.compile(
    r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$"
)


def script_metadata(example: Path) -> dict:
    blocks = [m for m in SCRIPT_BLOCK.finditer(example.read_text()) if m["type"] == "script"]
    assert len(blocks) == 1, f"{example.name}: one `# /// script` block, found {len(blocks)}"
    content = "".join(
        line[2:] if line.startswith("# ") else line[1:]
        for line in blocks[0]["content"].splitlines(keepends=True)
    )
    return tomllib.loads(content)


def distribution_name(requirement: str) -> str:
    return re.match(r"[A-Za-z0-9._-]+", requirement).group(0).lower()


def example_page(example: Path) -> str:
    """Where the site puts an example's page, relative to the HTML root."""
    return "auto_examples/" + example.relative_to(ROOT / "examples").with_suffix(".html").as_posix()


EXAMPLE_PAGES = [example_page(example) for example in EXAMPLES]
NARRATIVE_HTML = [page.with_suffix(".html").name for page in NARRATIVE_PAGES]
SOURCE_PARTS = ("conf.py", "sphinxext", "docs", "examples", "requirements")
# A fixed build date: two builds of the same sources must give the same bytes.
SOURCE_DATE_EPOCH = "1767225600"
# What "Run in your browser" serves (tools/browser_assets.py; the copies build with these): where
# SESSION_SYNC_BROWSER_ASSETS says, as for the project's own builds (sphinxext/browser_run.py).
BROWSER_ASSETS = Path(
    os.environ.get("SESSION_SYNC_BROWSER_ASSETS") or ROOT / "build" / "browser-assets"
)


@dataclass
class SiteBuild:
    project: Path
    html: Path
    returncode: int
    output: str
    # The command line's prefix: ("unshare", "--net", ...) for a build with no network at all.
    prefix: tuple[str, ...] = ()

    # Each page parsed once per build, shared by every test that reads it.
    _parsed: dict = field(default_factory=dict, repr=False, compare=False)

    def page(self, relative: str) -> str:
        return (self.html / relative).read_text(encoding="utf-8")

    def soup(self, relative: str):
        """The page parsed (html.parser), once per build: shared, so read it, never change it."""
        if relative not in self._parsed:
            from bs4 import BeautifulSoup  # `nox -s versions` runs without bs4

            self._parsed[relative] = BeautifulSoup(self.page(relative), "html.parser")
        return self._parsed[relative]

    def rebuild(self, *extra_args: str, env: dict | None = None) -> "SiteBuild":
        return build_site(self.project, *extra_args, env=env)


def copy_sources(destination: Path) -> Path:
    """The project's sources, without anything an earlier build generated."""
    ignore = shutil.ignore_patterns("auto_examples", "sg_execution_times.rst", "__pycache__")
    destination.mkdir(parents=True, exist_ok=True)
    for part in SOURCE_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, destination / part, ignore=ignore)
        else:
            shutil.copy2(source, destination / part)
    return destination


def sphinx_command(html: Path, *extra_args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "sphinx",
        "-c",
        ".",
        "-W",
        "--keep-going",
        "-n",
        "-q",
        "--no-color",  # the tests read the output, which nox would have coloured
        *extra_args,
        "docs",
        str(html),
    ]


def build_env(env: dict | None = None) -> dict:
    return {
        **os.environ,
        "MPLBACKEND": "Agg",
        "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH,
        "SESSION_SYNC_BROWSER_ASSETS": str(BROWSER_ASSETS),
        **(env or {}),
    }


_browser_assets_ready: list[bool] = []
# Builds start from the tests and from the shared builds' thread (tests/shared_builds.py).
_browser_assets_lock = threading.Lock()


def prepare_browser_assets() -> None:
    """tools/browser_assets.py --if-needed, once per test run (needs `npm ci` and pip's index the
    first time; a build itself stays offline)."""
    with _browser_assets_lock:
        if _browser_assets_ready:
            return
        tool = [sys.executable, str(ROOT / "tools" / "browser_assets.py"), "--if-needed"]
        # One process at a time (pytest-xdist's workers share the folder): flock(1) waits.
        BROWSER_ASSETS.parent.mkdir(parents=True, exist_ok=True)
        lock = ["flock", str(BROWSER_ASSETS.parent / ".browser-assets.lock")]
        result = subprocess.run([*lock, *tool, str(BROWSER_ASSETS)], capture_output=True, text=True)
        if result.returncode:
            raise RuntimeError("tools/browser_assets.py failed:\n" + result.stdout + result.stderr)
        _browser_assets_ready.append(True)


def run_example(
    example: Path, directory: Path, database_url: str | None = None, python: Path | None = None
):
    """Run an example as a reader would: a copy in `directory`, a fresh interpreter, no project.

    -I: no PYTHONPATH, no user site, no current directory on sys.path: only what pip installed
    (into `python`'s environment; by default the one running the tests).
    The database is SQLite in memory unless `database_url` is given (as DATABASE_URL).
    """
    copied = directory / example.name
    copied.write_bytes(example.read_bytes())
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DATABASE_URL")}
    env["MPLBACKEND"] = "Agg"
    if database_url:
        env["DATABASE_URL"] = database_url
    return subprocess.run(
        [str(python or sys.executable), "-I", str(copied)],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def build_site(
    project: Path, *extra_args: str, env: dict | None = None, prefix: tuple[str, ...] = ()
) -> SiteBuild:
    html = project / "build" / "html"
    if build_env(env).get("SESSION_SYNC_BROWSER_RUN", "on") != "off":
        prepare_browser_assets()
    result = subprocess.run(
        [*prefix, *sphinx_command(html, *extra_args)],
        cwd=project,
        env=build_env(env),
        capture_output=True,
        text=True,
    )
    return SiteBuild(project, html, result.returncode, result.stdout + result.stderr, prefix)


# A cross-reference role, reStructuredText's (:ref:`...`) or MyST's ({ref}`...`).
REFERENCE = r"(?::(?:doc|ref):|\{(?:doc|ref)\})"


def _link_text(match: re.Match) -> str:
    text, gap, after = match.groups()
    # A target on the next line (of a docstring or a comment): the text ends that line.
    return text + gap + after.lstrip(" ") if "\n" in gap else text + after


def unlinked(source: str) -> str:
    """A real page's links to the site's other pages, as their text: a small project has no
    other pages (the whole site's build checks every link)."""
    titled = re.sub(REFERENCE + r"`([^`<]*?)(\s*(?:#\s*)?)<[^`>]*>`( ?)", _link_text, source)
    return re.sub(REFERENCE + r"`([^`<]*)`", r"\1", titled)


def small_project(
    tmp_path: Path, examples: dict[str, str], pages: dict[str, str] | None = None
) -> Path:
    """A copy of the site whose only pages are these examples ({"section/name.py": source},
    in their real sections) and these narrative pages ({"name.md": MyST}), with the real
    configuration and extensions (but no "Related pages"): a build of it takes seconds, not the
    whole site's minute."""
    project = copy_sources(tmp_path / "project")
    shutil.rmtree(project / "examples")
    (project / "examples").mkdir()
    shutil.copy(ROOT / "examples" / "GALLERY_HEADER.rst", project / "examples")
    for relative, source in examples.items():
        section = project / "examples" / Path(relative).parent
        if not section.exists():
            section.mkdir()
            shutil.copy(ROOT / "examples" / section.name / "GALLERY_HEADER.rst", section)
        (section / Path(relative).name).write_text(unlinked(source))
    for page in (project / "docs").glob("*.md"):
        page.unlink()
    # Its examples' "Related pages" would link to pages it does not have: none.
    (project / "docs" / "_related.toml").write_text("# No related pages in a small project.\n")
    pages = pages or {}
    for name, text in pages.items():
        (project / "docs" / name).write_text(text)
    toctree = "\n".join(["auto_examples/index", *(Path(name).stem for name in pages)])
    (project / "docs" / "index.md").write_text(f"# Test\n\n```{{toctree}}\n{toctree}\n```\n")
    return project


def project_with_one_example(tmp_path: Path, name: str, source: str) -> Path:
    """A copy of the site whose only page is one example, `examples/myths/<name>`."""
    return small_project(tmp_path, {f"myths/{name}": source})
