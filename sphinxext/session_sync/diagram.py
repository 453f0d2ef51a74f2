"""A picture per example: the lifecycle transitions its ORM objects went through, as SVG.

While an example runs, Session lifecycle events (``transient_to_pending``, ...) and the mapper's
``init`` say exactly which object went from which state to which, in which cell; after each
cell the object gets its name (the example's variable for it, else its identity).  What ran is
then drawn: the five states, an arrow for each transition that happened (none for one that did
not), the objects or their count on it.  An example that touched no ORM object gets the kinds of
the statements each cell sent instead.

Pure SQLAlchemy and the standard library, like ``recording`` and ``state``: no Sphinx.  The
SVG is written by hand, so it is the same bytes on every machine: no font is measured (text is
monospace, sized by its number of characters) and nothing depends on time or addresses.
"""

from __future__ import annotations

import json
import re
import weakref
from html import escape

from sqlalchemy import event, inspect
from sqlalchemy.orm import Mapper, Session

from .state import identity_label

# Session event: the transition it reports.  "new" and "loaded" are where an object comes from:
# its constructor, or a row the session loaded.
TRANSITION_EVENTS = {
    "transient_to_pending": ("transient", "pending"),
    "pending_to_transient": ("pending", "transient"),
    "pending_to_persistent": ("pending", "persistent"),
    "persistent_to_transient": ("persistent", "transient"),
    "loaded_as_persistent": ("loaded", "persistent"),
    "detached_to_persistent": ("detached", "persistent"),
    "persistent_to_deleted": ("persistent", "deleted"),
    "deleted_to_persistent": ("deleted", "persistent"),
    "persistent_to_detached": ("persistent", "detached"),
    "deleted_to_detached": ("deleted", "detached"),
}
MAX_NAMED_OBJECTS = 200


class LifecycleRecorder:
    """Every lifecycle transition of the example's objects, with the cell it happened in."""

    def __init__(self) -> None:
        self.cell = 1
        self.cell_lines: list[int] = []  # first source line of each cell that ended
        self.refs: dict[int, weakref.ref] = {}  # id(obj) -> the object, weakly
        self.serial: dict[int, int] = {}  # id(obj) -> its number, first seen first
        self.labels: list[str] = []  # by serial
        self.classes: list[str] = []  # by serial: the object's class name
        self.named: list[bool] = []  # by serial: the label is the example's variable name
        self.transitions: list[tuple[int, str, str, int]] = []  # serial, from, to, cell
        self.statements: list[dict[str, int]] = []  # per cell: statement kind -> count

    def _serial_of(self, obj) -> int:
        known = self.refs.get(id(obj))
        if known is not None and known() is obj:
            return self.serial[id(obj)]
        number = len(self.labels)
        self.refs[id(obj)] = weakref.ref(obj)
        self.serial[id(obj)] = number
        # Past that many objects, one is named by its class alone: the picture counts them.
        self.labels.append(_label(obj) if number < MAX_NAMED_OBJECTS else type(obj).__name__)
        self.classes.append(type(obj).__name__)
        self.named.append(False)
        return number

    def transition(self, obj, old: str, new: str) -> None:
        serial = self._serial_of(obj)
        if (
            new == "persistent"
            and serial < MAX_NAMED_OBJECTS
            and not self.named[serial]
            and "(" not in self.labels[serial]
        ):
            self.labels[serial] = _label(obj)  # its identity, now that it has one
        self.transitions.append((serial, old, new, self.cell))

    def end_cell(self, lineno: int, records: list[dict], example_globals: dict) -> None:
        """After a cell: the example's names for its objects, the cell's statements by kind."""
        for name, value in example_globals.items():
            ref = self.refs.get(id(value))
            if name.startswith("_") or ref is None or ref() is not value:
                continue
            serial = self.serial[id(value)]
            if not self.named[serial]:
                self.labels[serial], self.named[serial] = name, True
        self.statements.append(statement_kinds(records))
        self.cell_lines.append(lineno)
        self.cell += 1

    def data(self) -> dict:
        """What ran, as plain JSON data (``draw`` draws it)."""
        return {
            "cells": self.cell_lines,
            "objects": [list(pair) for pair in zip(self.labels, self.classes, strict=True)],
            # A flush makes its objects persistent in set order, which differs between runs:
            # by cell, then object (a stable sort keeps each object's own order).
            "transitions": [list(t) for t in sorted(self.transitions, key=lambda t: (t[3], t[0]))],
            "statements": self.statements,
        }


def _label(obj) -> str:
    state = inspect(obj)
    if state.identity is None:
        return state.mapper.class_.__name__
    return identity_label(obj)


STATEMENT_KINDS = ("SELECT", "INSERT", "UPDATE", "DELETE")


def statement_kinds(records: list[dict]) -> dict[str, int]:
    """A cell's statements by kind: SELECT, INSERT, UPDATE, DELETE, and the rest as "other"
    (schema, savepoints); BEGIN, COMMIT and ROLLBACK are not counted."""
    counts: dict[str, int] = {}
    for record in records:
        sql = record.get("sql", "")
        if not sql or sql in ("BEGIN (implicit)", "COMMIT", "ROLLBACK"):
            continue
        first = sql.split(None, 1)[0].upper()
        if first == "WITH":  # a CTE: the statement is what follows its parenthesised parts
            outer = sql.upper()
            while (inner := re.sub(r"\([^()]*\)", "", outer)) != outer:
                outer = inner
            found = re.search(r"\b(SELECT|INSERT|UPDATE|DELETE)\b", outer)
            first = found.group(1) if found else "other"
        kind = first if first in STATEMENT_KINDS else "other"
        counts[kind] = counts.get(kind, 0) + 1
    return counts


# ---------------------------------------------------------------------------
# Listeners, for one example at a time
# ---------------------------------------------------------------------------

_active: dict = {}


def start(recorder: LifecycleRecorder) -> None:
    stop()
    listeners = []

    def created(target, args, kwargs):
        recorder.transition(target, "new", "transient")

    listeners.append((Mapper, "init", created))
    for name, (old, new) in TRANSITION_EVENTS.items():

        def moved(session, instance, old=old, new=new):
            recorder.transition(instance, old, new)

        listeners.append((Session, name, moved))
    for target, name, fn in listeners:
        event.listen(target, name, fn)
    _active.update(listeners=listeners, recorder=recorder)


def stop() -> None:
    for target, name, fn in _active.pop("listeners", ()):
        event.remove(target, name, fn)
    _active.clear()


def active() -> LifecycleRecorder | None:
    return _active.get("recorder")


def dumps(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True) + "\n"


# ---------------------------------------------------------------------------
# What ran, summed up: the transitions that happened, who went through them, where
# ---------------------------------------------------------------------------

STATES = ("transient", "pending", "persistent", "deleted", "detached")
SOURCES = ("new", "loaded")  # where an object comes from: not states
# Reading order of the transitions, for the text that goes with the picture.
ORDER = ("new", "loaded", *STATES)


def transitions(data: dict) -> list[dict]:
    """Each transition that happened once or more: ``{"from", "to", "objects", "cells"}``
    (object numbers in first-seen order, cell numbers ascending), in lifecycle order."""
    found: dict[tuple[str, str], tuple[set, set]] = {}
    for serial, old, new, cell in data["transitions"]:
        objects, cells = found.setdefault((old, new), (set(), set()))
        objects.add(serial)
        cells.add(cell)
    return [
        {"from": old, "to": new, "objects": sorted(objects), "cells": sorted(cells)}
        for (old, new), (objects, cells) in sorted(
            found.items(), key=lambda item: (ORDER.index(item[0][0]), ORDER.index(item[0][1]))
        )
    ]


def object_paths(data: dict) -> list[tuple[str, list[str]]]:
    """Each object's states in the order it went through them, by its label."""
    paths: dict[int, list[str]] = {}
    for serial, old, new, _cell in data["transitions"]:
        path = paths.setdefault(serial, [] if old in SOURCES else [old])
        if old not in SOURCES and path[-1] != old:  # an event not seen: keep what is known
            path.append(old)
        path.append(new)
    return [(data["objects"][serial][0], path) for serial, path in sorted(paths.items())]


def named_objects(data: dict, serials: list[int], most: int = 5) -> str:
    """``alice, bob ×2`` (two objects the example called ``bob``), or by class past ``most``
    names: ``24 User objects`` or ``30 objects: 24 User, 6 Address``."""
    labels: dict[str, int] = {}
    for serial in serials:
        label = data["objects"][serial][0]
        labels[label] = labels.get(label, 0) + 1
    if len(labels) > most:
        classes: dict[str, int] = {}
        for serial in serials:
            name = data["objects"][serial][1]
            classes[name] = classes.get(name, 0) + 1
        if len(classes) == 1:
            return f"{len(serials)} {next(iter(classes))} objects"
        by_class = ", ".join(f"{count} {name}" for name, count in classes.items())
        return f"{len(serials)} objects: {by_class}"
    return ", ".join(
        label if count == 1 else f"{label} \u00d7{count}" for label, count in labels.items()
    )


def state_name(name: str) -> str:
    return {"new": "new", "loaded": "loaded from a row"}.get(name, name)


def cells_named(titles: list[str], most: int = 3) -> str:
    """``“Setup”, “Commit”``, or ``“At a glance”, “Setup” and 6 more cells`` past ``most``; a
    title that starts with its own quote (``"auto" (the default)``) is not quoted again."""
    quoted = [t if t[:1] in "\"'\u201c" else f"\u201c{t}\u201d" for t in titles]
    if len(quoted) <= most:
        return ", ".join(quoted)
    return ", ".join(quoted[: most - 1]) + f" and {len(quoted) - most + 1} more cells"


def sentences(data: dict, cell_titles: dict[int, str] | None = None) -> list[str]:
    """One line per transition that happened, as the figure's text says it:
    ``transient → pending: alice, bob (in “Pending”)``."""
    lines = []
    for entry in transitions(data):
        where = ""
        if cell_titles:
            titles = []
            for cell in entry["cells"]:
                title = cell_titles.get(cell)
                if title and title not in titles:
                    titles.append(title)
            if titles:
                where = f" (in {cells_named(titles)})"
        arrow = f"{state_name(entry['from'])} \u2192 {entry['to']}"
        lines.append(f"{arrow}: {named_objects(data, entry['objects'])}{where}")
    return lines


def summary(data: dict) -> str:
    """What the picture shows, in one line: its title for a screen reader."""
    paths = object_paths(data)
    if not paths:
        counts = _statement_totals(data)
        if not counts:
            return "This example sent no statement and touched no ORM object."
        listed = ", ".join(f"{count} {kind}" for kind, count in counts.items())
        return f"Statements this example sent, by kind and cell: {listed}."
    groups: dict[tuple[str, ...], list[str]] = {}
    for label, path in paths:
        groups.setdefault(tuple(path), []).append(label)
    parts = []
    for path, labels in groups.items():
        who = labels[0] if len(labels) == 1 else f"{len(labels)} objects"
        parts.append(f"{who}: " + " \u2192 ".join(path))
    shown = parts[:6]
    if len(parts) > 6:
        shown.append(f"and {len(parts) - 6} more paths")
    return "Lifecycle of this example's objects. " + "; ".join(shown) + "."


def _statement_totals(data: dict) -> dict[str, int]:
    totals: dict[str, int] = {}
    for cell in data["statements"]:
        for kind, count in cell.items():
            totals[kind] = totals.get(kind, 0) + count
    return {kind: totals[kind] for kind in (*STATEMENT_KINDS, "other") if kind in totals}


# ---------------------------------------------------------------------------
# The picture: fixed positions, an arrow only for a transition that happened
# ---------------------------------------------------------------------------

WIDTH, HEIGHT = 400, 280  # Sphinx-Gallery's thumbnail proportions (400 x 280)
NODE_W, NODE_H = 96, 32
POSITIONS = {
    "transient": (104, 52),
    "pending": (250, 52),
    "persistent": (250, 148),
    "deleted": (340, 236),
    "detached": (132, 236),
}
SOURCE_POSITIONS = {"new": (16, 52), "loaded": (366, 148)}
# The palette of a picture shown on its own (a gallery card's image); on the page, site.css
# sets these variables from the theme, so the inline picture follows light and dark mode.
STANDALONE_STYLE = (
    ".lc-ink{fill:var(--lc-ink,#1f2328)}"
    ".lc-line{stroke:var(--lc-ink,#1f2328);fill:none;stroke-width:2.5}"
    ".lc-head{fill:var(--lc-ink,#1f2328)}"
    ".lc-off{opacity:.35}"
    ".lc-node{stroke:var(--lc-ink,#1f2328);stroke-width:1.5}"
    ".lc-transient{fill:var(--lc-transient,#eaeef2)}"
    ".lc-pending{fill:var(--lc-pending,#fff1c2)}"
    ".lc-persistent{fill:var(--lc-persistent,#d2f4d8)}"
    ".lc-deleted{fill:var(--lc-deleted,#ffd8d3)}"
    ".lc-detached{fill:var(--lc-detached,#d8e8ff)}"
    ".lc-bg{fill:var(--lc-bg,#ffffff)}"
    "text{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,'DejaVu Sans Mono',monospace}"
)
FONT = 13
CHAR_W = 0.6  # a monospace character's width, in ems: text is placed, never measured


def _num(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _edge_points(old: str, new: str) -> tuple[float, float, float, float]:
    """Where an arrow from ``old`` to ``new`` leaves and arrives: on the boxes' outlines,
    along the line between their centres."""
    (x1, y1), (x2, y2) = _centre(old), _centre(new)
    dx, dy = x2 - x1, y2 - y1
    return (*_on_outline(old, dx, dy), *_on_outline(new, -dx, -dy))


def _centre(name: str) -> tuple[float, float]:
    return POSITIONS.get(name) or SOURCE_POSITIONS[name]


def _half_size(name: str) -> tuple[float, float]:
    if name == "new":
        return 6, 6
    if name == "loaded":
        return 30, 14
    return NODE_W / 2, NODE_H / 2


def _on_outline(name: str, dx: float, dy: float) -> tuple[float, float]:
    x, y = _centre(name)
    half_w, half_h = _half_size(name)
    scale = min(half_w / abs(dx) if dx else float("inf"), half_h / abs(dy) if dy else float("inf"))
    return x + dx * scale, y + dy * scale


def _arrow(old: str, new: str, count: int, paired: bool, title: str) -> str:
    x1, y1, x2, y2 = _edge_points(old, new)
    length = ((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5
    ux, uy = (x2 - x1) / length, (y2 - y1) / length
    nx, ny = -uy, ux  # to the right of the direction of travel (y points down)
    if paired:  # a transition back and forth: two arrows side by side
        x1, y1, x2, y2 = x1 + 5 * nx, y1 + 5 * ny, x2 + 5 * nx, y2 + 5 * ny
    gap = 3
    tip_x, tip_y = x2 - gap * ux, y2 - gap * uy
    base_x, base_y = tip_x - 10 * ux, tip_y - 10 * uy
    head = " ".join(
        f"{_num(px)},{_num(py)}"
        for px, py in (
            (tip_x, tip_y),
            (base_x + 5 * nx, base_y + 5 * ny),
            (base_x - 5 * nx, base_y - 5 * ny),
        )
    )
    side = -1 if old == "new" else 1  # that short arrow's count goes above it
    label_x = (x1 + x2) / 2 + side * 12 * nx
    label_y = (y1 + y2) / 2 + side * 12 * ny + FONT * 0.35
    return (
        f'<g class="lc-edge" data-from="{old}" data-to="{new}">{_title(title)}'
        f'<line class="lc-line" x1="{_num(x1)}" y1="{_num(y1)}" '
        f'x2="{_num(base_x)}" y2="{_num(base_y)}"/>'
        f'<polygon class="lc-head" points="{head}"/>'
        f'<text class="lc-ink lc-count" x="{_num(label_x)}" y="{_num(label_y)}" '
        f'font-size="{FONT - 1}" text-anchor="middle">{count}</text></g>'
    )


def _node(name: str, visited: bool) -> str:
    x, y = POSITIONS[name]
    off = "" if visited else " lc-off"
    return (
        f'<g class="lc-state{off}"><rect class="lc-node lc-{name}" x="{_num(x - NODE_W / 2)}" '
        f'y="{_num(y - NODE_H / 2)}" width="{NODE_W}" height="{NODE_H}" rx="{NODE_H // 2}"/>'
        f'<text class="lc-ink" x="{x}" y="{_num(y + FONT * 0.35)}" font-size="{FONT}" '
        f'text-anchor="middle">{name}</text></g>'
    )


def _sources(used: set[str]) -> str:
    parts = []
    if "new" in used:
        x, y = SOURCE_POSITIONS["new"]
        parts.append(f'<circle class="lc-head" cx="{x}" cy="{y}" r="6"/>')
        parts.append(
            f'<text class="lc-ink" x="{x}" y="{y + 22}" font-size="{FONT - 2}" '
            'text-anchor="middle">new</text>'
        )
    if "loaded" in used:
        x, y = SOURCE_POSITIONS["loaded"]
        # a database: a cylinder
        parts.append(
            f'<path class="lc-node lc-bg" d="M{x - 16},{y - 9} v18 a16,5 0 0 0 32,0 v-18 '
            f'a16,5 0 0 0 -32,0 a16,5 0 0 0 32,0"/>'
        )
        parts.append(
            f'<text class="lc-ink" x="{x}" y="{y + 30}" font-size="{FONT - 2}" '
            'text-anchor="middle">loaded</text>'
        )
    return "".join(parts)


LABEL_BAND = 64  # a card picture's label, above its diagram (scaled to fit under it)


def _label_lines(label: str, most: int = 26) -> list[str]:
    """The label in lines of at most ``most`` characters (a long word gets a line of its own)."""
    lines: list[str] = []
    for word in label.split():
        if lines and len(lines[-1]) + 1 + len(word) <= most:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def _card_label(label: str) -> str:
    """The page's subject in large type across the top of its card: what tells the cards
    apart, since many pages' objects went through the same states."""
    lines = _label_lines(label)
    if len(lines) > 2:
        lines = [lines[0], " ".join(lines[1:])]
    widest = max(len(line) for line in lines)
    size = min(22, (WIDTH - 24) / (widest * CHAR_W), LABEL_BAND / (len(lines) * 1.25))
    first = (LABEL_BAND - size * 1.25 * len(lines)) / 2 + size
    return "".join(
        f'<text class="lc-ink lc-label" x="{WIDTH // 2}" y="{_num(first + i * size * 1.25)}" '
        f'font-size="{_num(size)}" font-weight="700" text-anchor="middle">{escape(line)}</text>'
        for i, line in enumerate(lines)
    )


def _title(text: str, element_id: str | None = None) -> str:
    """An SVG <title>: a tooltip, and what a screen reader says. Sphinx's search highlighting
    would mark a searched word in it as in SVG text, with a box it cannot measure there (an
    error on the opened page): it leaves a "nohighlight" element alone."""
    named = f' id="{element_id}"' if element_id else ""
    return f'<title{named} class="nohighlight">{escape(text)}</title>'


def draw(data: dict, standalone: bool = False, label: str | None = None) -> str:
    """The example's picture as SVG: its lifecycle transitions, else its statements by kind.
    ``standalone``: a file of its own (a gallery card's image), with its own palette; else
    for the page, whose stylesheet gives the colours of the theme. ``label``: the page's
    subject, written across the top of a card's picture."""
    happened = transitions(data)
    body = _lifecycle_body(happened) if happened else _statements_body(data)
    if label:
        scale = (HEIGHT - LABEL_BAND - 4) / HEIGHT
        left = (WIDTH - WIDTH * scale) / 2
        body = (
            _card_label(label)
            + f'<g transform="translate({_num(left)},{LABEL_BAND}) scale({scale:.3f})">'
            + body
            + "</g>"
        )
    title = summary(data)
    style = f"<style>{STANDALONE_STYLE}</style>" if standalone else ""
    background = (
        f'<rect class="lc-bg" x="0" y="0" width="{WIDTH}" height="{HEIGHT}" rx="8"/>'
        if standalone
        else ""
    )
    namespace = ' xmlns="http://www.w3.org/2000/svg"'
    size = f' width="{WIDTH}" height="{HEIGHT}"' if standalone else ""
    return (
        f'<svg{namespace} class="lc-figure" viewBox="0 0 {WIDTH} {HEIGHT}"{size} role="img" '
        f'aria-labelledby="lc-title">{_title(title, "lc-title")}'
        f"{style}{background}{body}</svg>\n"
    )


def _lifecycle_body(happened: list[dict]) -> str:
    pairs = {(e["from"], e["to"]) for e in happened}
    visited = {e["to"] for e in happened} | {e["from"] for e in happened}
    nodes = "".join(_node(name, name in visited) for name in STATES)
    arrows = "".join(
        _arrow(
            e["from"],
            e["to"],
            len(e["objects"]),
            (e["to"], e["from"]) in pairs,
            f"{state_name(e['from'])} \u2192 {e['to']}: {len(e['objects'])} "
            + ("object" if len(e["objects"]) == 1 else "objects"),
        )
        for e in happened
    )
    return _sources(visited & set(SOURCES)) + nodes + arrows


KIND_CLASSES = {
    "SELECT": "lc-detached",
    "INSERT": "lc-persistent",
    "UPDATE": "lc-pending",
    "DELETE": "lc-deleted",
    "other": "lc-transient",
}


def _statements_body(data: dict) -> str:
    """Stacked bars, one per cell: how many statements of each kind it sent."""
    cells = data["statements"]
    tallest = max((sum(cell.values()) for cell in cells), default=0)
    left, right, top, bottom = 40, WIDTH - 16, 44, HEIGHT - 40
    parts = [
        f'<text class="lc-ink" x="{left}" y="24" font-size="{FONT}">statements per cell</text>',
        f'<line class="lc-line" x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}"/>',
    ]
    if tallest:
        slot = (right - left) / max(len(cells), 1)
        bar = min(28, slot * 0.7)
        for index, cell in enumerate(cells):
            x = left + slot * index + (slot - bar) / 2
            y = bottom
            for kind in (*STATEMENT_KINDS, "other"):
                count = cell.get(kind, 0)
                if not count:
                    continue
                height = (bottom - top) * count / tallest
                y -= height
                parts.append(
                    f'<rect class="lc-node {KIND_CLASSES[kind]}" x="{_num(x)}" y="{_num(y)}" '
                    f'width="{_num(bar)}" height="{_num(height)}">'
                    f"{_title(f'cell {index + 1}: {count} {kind}')}</rect>"
                )
            parts.append(
                f'<text class="lc-ink" x="{_num(x + bar / 2)}" y="{bottom + 16}" '
                f'font-size="{FONT - 3}" text-anchor="middle">{index + 1}</text>'
            )
    legend_x = left
    for kind in (*STATEMENT_KINDS, "other"):
        parts.append(
            f'<rect class="lc-node {KIND_CLASSES[kind]}" x="{legend_x}" y="{HEIGHT - 14}" '
            'width="10" height="10"/>'
            f'<text class="lc-ink" x="{legend_x + 14}" y="{HEIGHT - 5}" '
            f'font-size="{FONT - 3}">{kind}</text>'
        )
        legend_x += 14 + len(kind) * (FONT - 3) * CHAR_W + 14
    return "".join(parts)
