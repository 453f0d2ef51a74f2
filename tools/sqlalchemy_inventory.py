"""Write the SQLAlchemy intersphinx inventory the site links with (run by `nox -s inventory`).

SQLAlchemy's own ``objects.inv`` names each object only where it is documented
(``sqlalchemy.sql.expression.update``), but examples import it from where people import it
(``from sqlalchemy import update``), and Sphinx-Gallery links a name in example code only when
the inventory has it under one of the modules it is imported from.  This script adds, for every
public name of SQLAlchemy's public modules, an alias entry pointing at the same page and anchor
as the documented one, for the object itself and for each of its documented members and
parameters (``sqlalchemy.MetaData.create_all``).  Nothing is removed or changed.

Usage: ``python sqlalchemy_inventory.py BUILT_OBJECTS_INV DESTINATION`` with the SQLAlchemy
whose documentation was built importable (the sdist's ``lib`` on ``PYTHONPATH``).
"""

from __future__ import annotations

import importlib
import re
import sys
import zlib
from pathlib import Path

PUBLIC_MODULES = (
    "sqlalchemy",
    "sqlalchemy.orm",
    "sqlalchemy.exc",
    "sqlalchemy.orm.exc",
    "sqlalchemy.event",
    "sqlalchemy.engine",
    "sqlalchemy.sql",
    "sqlalchemy.sql.expression",
    "sqlalchemy.schema",
    "sqlalchemy.types",
    "sqlalchemy.inspection",
    "sqlalchemy.orm.attributes",
    "sqlalchemy.orm.session",
)
# Entry types that name an object one can import; their members follow them.
OBJECT_TYPES = ("py:class", "py:function", "py:exception", "py:data")
LINE = re.compile(r"(?x)(.+?)\s+(\S+)\s+(-?\d+)\s+?(\S*)\s+(.*)")
SCALARS = (int, float, str, bytes, bool, type(None), tuple, frozenset)


def read_inventory(path: Path) -> tuple[list[bytes], list[tuple[str, str, str, str, str]]]:
    data = path.read_bytes()
    lines = data.split(b"\n", 4)
    header, body = lines[:4], lines[4]
    if not header[0].startswith(b"# Sphinx inventory version 2"):
        raise SystemExit(f"{path}: not a version 2 Sphinx inventory")
    entries = []
    for line in zlib.decompress(body).decode("utf-8").splitlines():
        match = LINE.fullmatch(line.rstrip())
        if match:
            entries.append(match.groups())
    return header, entries


def write_inventory(path: Path, header: list[bytes], entries) -> None:
    text = "".join(" ".join(entry) + "\n" for entry in entries)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\n".join(header) + b"\n" + zlib.compress(text.encode("utf-8"), 9))


def resolve(dotted: str):
    """The object a dotted name names, importing the longest module prefix; None if none."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except Exception:
            continue
        try:
            for attribute in parts[cut:]:
                obj = getattr(obj, attribute)
        except AttributeError:
            return None
        return obj
    return None


def full_uri(name: str, uri: str) -> str:
    return uri[:-1] + name if uri.endswith("$") else uri


def add_aliases(entries):
    by_name = {}
    for entry in entries:
        by_name.setdefault(entry[0], entry)
    documented: dict[int, str] = {}
    keep_alive = []
    for name, role, *_ in entries:
        if role not in OBJECT_TYPES or not name.startswith("sqlalchemy."):
            continue
        obj = resolve(name)
        if obj is None or isinstance(obj, SCALARS):
            continue
        keep_alive.append(obj)
        known = documented.get(id(obj))
        if known is None or len(name) < len(known):
            documented[id(obj)] = name

    members: dict[str, list] = {}
    for entry in entries:
        head, _, _ = entry[0].rpartition(".")
        while head:
            members.setdefault(head, []).append(entry)
            head, _, _ = head.rpartition(".")

    aliases = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        public = getattr(module, "__all__", None) or [n for n in dir(module) if n[:1] != "_"]
        for attribute in public:
            obj = getattr(module, attribute, None)
            canonical = documented.get(id(obj)) if obj is not None else None
            alias = f"{module_name}.{attribute}"
            if canonical is None or alias in by_name or alias == canonical:
                continue
            for name, role, priority, uri, display in [
                by_name[canonical],
                *members.get(canonical, []),
            ]:
                new_name = alias + name[len(canonical) :]
                if new_name in by_name:
                    continue
                entry = (new_name, role, priority, full_uri(name, uri), display)
                by_name[new_name] = entry
                aliases.append(entry)
    return aliases


def main(source: str, destination: str) -> None:
    header, entries = read_inventory(Path(source))
    aliases = add_aliases(entries)
    write_inventory(
        Path(destination), header, sorted(entries + aliases, key=lambda e: (e[1], e[0]))
    )
    print(f"{len(entries)} entries from SQLAlchemy's build, {len(aliases)} aliases: {destination}")


if __name__ == "__main__":
    main(*sys.argv[1:])
