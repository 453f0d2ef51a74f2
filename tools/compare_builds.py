"""Build the site with two toolchains and compare the pages: what `nox -s toolchain_watch` runs.

    python tools/compare_builds.py --pinned-python P --newest-python N OUT

P and N are the Python of two environments holding requirements/docs.in: one on the pins of
requirements/constraints.txt, one on the newest releases. This prints which installed versions
of N differ from the pins, builds the site with each (``sphinx-build -c . -W --keep-going -n
docs``, without "Run in your browser", each in a fresh copy of the sources so that neither
reuses the other's Sphinx-Gallery output) into OUT/pinned and OUT/html, and compares every file
the two builds wrote. Exit status 0 when the newest build succeeds and gives the same bytes.
"""

from __future__ import annotations

import argparse
import filecmp
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / "requirements" / "constraints.txt"
sys.path.insert(0, str(ROOT / "tests"))
import sitebuild  # noqa: E402  (standard library only)

# Not pages: Sphinx's pickled environment and doctrees, and the digest of the configuration.
NOT_COMPARED = (".doctrees", ".buildinfo")
# Different on every build, whatever the toolchain: the plot of the bulk UPDATE timings that
# examples/performance/strategy_cost.py measures while the site is built (and its card).
VARYING = ("_images/sphx_glr_strategy_cost_*",)
SOURCE_DATE_EPOCH = "1767225600"  # as the tests' builds: both builds date their pages alike
LISTED = 20


def normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def versions(freeze: str) -> dict[str, tuple[str, str]]:
    """normalised name -> (name as written, version), from `pip freeze` or constraints.txt."""
    found = {}
    for line in freeze.splitlines():
        name, separator, version = line.strip().partition("==")
        if separator and not name.startswith("#"):
            found[normalised(name)] = (name, version.strip())
    return found


def version_report(newest_python: str) -> list[str]:
    frozen = subprocess.run(
        [newest_python, "-m", "pip", "freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pins, installed = versions(CONSTRAINTS.read_text()), versions(frozen)
    lines = []
    for key, (name, version) in sorted(installed.items()):
        if key not in pins:
            lines.append(f"  {name} {version} (not pinned)")
        elif pins[key][1] != version:
            lines.append(f"  {name} {pins[key][1]} -> {version}")
    return lines


def copy_sources(destination: Path) -> Path:
    """A fresh copy of the sources, as the tests make one (tests/sitebuild.py)."""
    shutil.rmtree(destination, ignore_errors=True)
    return sitebuild.copy_sources(destination)


def build(python: str, sources: Path, html: Path, log: Path) -> int:
    shutil.rmtree(html, ignore_errors=True)
    env = {
        **os.environ,
        "SESSION_SYNC_BROWSER_RUN": "off",
        "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH,
        "MPLBACKEND": "Agg",
        "PATH": str(Path(python).parent) + os.pathsep + os.environ.get("PATH", ""),
    }
    env.pop("PYTHONPATH", None)
    command = [python, "-m", "sphinx", "-c", ".", "-W", "--keep-going", "-n", "docs", str(html)]
    with log.open("w", encoding="utf-8") as output:
        result = subprocess.run(command, cwd=sources, env=env, stdout=output, stderr=output)
    return result.returncode


def files_of(html: Path) -> set[str]:
    return {
        path.relative_to(html).as_posix()
        for path in html.rglob("*")
        if path.is_file() and path.relative_to(html).parts[0] not in NOT_COMPARED
    }


def varies(name: str) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in VARYING)


def same(a: Path, b: Path) -> bool:
    """The same bytes; for a zip (the examples' downloads), the same files in it: each build
    dates the files it zips with the time it wrote them."""
    if a.suffix == ".zip":
        with zipfile.ZipFile(a) as first, zipfile.ZipFile(b) as second:
            members = [
                [(i.filename, i.CRC, i.file_size) for i in z.infolist()] for z in (first, second)
            ]
        return members[0] == members[1]
    return filecmp.cmp(a, b, shallow=False)


def compare(pinned: Path, newest: Path) -> dict[str, list[str]]:
    before, after = files_of(pinned), files_of(newest)
    changed = [
        name
        for name in sorted(before & after)
        if not varies(name) and not same(pinned / name, newest / name)
    ]
    return {
        "changed": changed,
        "only in the pinned build": sorted(before - after),
        "only in the newest build": sorted(after - before),
        "compared": sorted(before | after),
    }


def listed(names: list[str]) -> list[str]:
    more = len(names) - LISTED
    return [f"    {name}" for name in names[:LISTED]] + (
        [f"    ... and {more} more"] if more > 0 else []
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pinned-python", required=True)
    parser.add_argument("--newest-python", default=sys.executable)
    parser.add_argument("out", type=Path, help="where both builds go (OUT/pinned, OUT/html)")
    args = parser.parse_args()
    out = args.out.resolve()
    # Not resolved: a virtual environment's python is a link to the interpreter it was made from.
    pinned_python, newest_python = map(os.path.abspath, (args.pinned_python, args.newest_python))
    out.mkdir(parents=True, exist_ok=True)

    differences = version_report(newest_python)
    print("Newest releases that differ from requirements/constraints.txt:")
    print("\n".join(differences) if differences else "  none: the newest releases are the pins")

    results = {}
    for name, python, html in (
        ("pinned", pinned_python, out / "pinned"),
        ("newest", newest_python, out / "html"),
    ):
        log = out / f"{name}.log"
        returncode = build(python, copy_sources(out / f"sources-{name}"), html, log)
        results[name] = returncode
        state = "succeeded" if returncode == 0 else f"FAILED (exit status {returncode})"
        print(f"Build with the {name} toolchain {state}: {html} (log: {log})")
        if returncode:
            tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
            print("\n".join("  | " + line for line in tail))
    if results["pinned"]:
        print("The pinned build fails: fix the site first (nox -s docs), then watch the toolchain.")
        return 2
    if results["newest"]:
        return 1

    found = compare(out / "pinned", out / "html")
    changes = sum(len(found[kind]) for kind in found if kind != "compared")
    print(
        f"Files compared: {len(found['compared'])} (not the bytes of {', '.join(VARYING)}: "
        f"different on every build); differing: {changes}"
    )
    for kind in ("changed", "only in the pinned build", "only in the newest build"):
        if found[kind]:
            print(f"  {kind}: {len(found[kind])}")
            print("\n".join(listed(found[kind])))
    if changes:
        print(
            f"The newest toolchain changes the pages: compare {out / 'pinned'} with {out / 'html'}"
        )
        return 1
    print("The newest toolchain builds the same pages, byte for byte.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
