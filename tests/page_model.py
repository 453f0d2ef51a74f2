"""A built example page, read back as a reader sees it: its cells, in order.

Each cell is the code of one Sphinx-Gallery code block, then, in page order, what the page
shows under it before the next code block:

* ``Printed``: a box of printed output (``div.sphx-glr-script-out``);
* ``Statement``: one SQL statement of a SQL box (``div.sql-box``, folded ones included), with
  its parameter line if it has one; ``BEGIN (implicit)``, ``COMMIT``, ``ROLLBACK`` and the
  savepoint statements are statements too;
* ``Hidden``: a SQL box's "... and N more statements, not shown";
* ``StateTable``: the table of ORM object states (``div.orm-state-box``), with, when the
  objects have relationships, what each relationship holds.

Comment lines of a SQL box that say which connection sent what (any ``-- on ...`` line) are
labels, not statements: they are dropped.  The parser knows nothing of how the capture layer
writes pages beyond what the HTML shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bs4 import BeautifulSoup, Tag

CODE_CLASS = "highlight-Python"  # Sphinx-Gallery's code cells (prose code is lowercase)
PRINTED_CLASS = "sphx-glr-script-out"
SQL_CLASS = "sql-box"
STATE_CLASS = "orm-state-box"
CLAIMS_CLASS = "verified-claims"  # the list of claims the hidden asserts proved
EMPTY_CELL = "\u2014"  # an em dash stands for an empty table cell

# A line that starts a statement.  SQLAlchemy writes a statement's later clauses (FROM, WHERE,
# ORDER BY, RETURNING, a CREATE TABLE's columns) on lines of their own, none of which starts
# with one of these words.
STATEMENT_START = re.compile(
    r"^(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|PRAGMA|BEGIN|COMMIT|ROLLBACK|SAVEPOINT"
    r"|RELEASE|WITH|SET|SHOW|DESCRIBE|EXPLAIN|LOCK|TRUNCATE)\b"
)
SINGLE_LINE = re.compile(r"^(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b")
PARAMETERS = "-- parameters: "
HIDDEN = re.compile(r"^-- \.\.\. and (\d+) more statements?, not shown$")
CONNECTION_LABEL = "-- on "
CURLY_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def normalise_lines(text: str) -> list[str]:
    """Whitespace made alike within each line; blank lines dropped."""
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


@dataclass
class Printed:
    text: str


@dataclass
class Statement:
    lines: list[str]  # whitespace-normalised
    parameters: str | None = None

    @property
    def text(self) -> str:
        return " / ".join(self.lines)


@dataclass
class Hidden:
    count: int


@dataclass
class StateRow:
    object: str
    state: str  # the lifecycle state: the first word of the State cell
    expired: list[str]
    changes: list[str]  # names of the attributes with unflushed changes
    loaded: list[str]  # names of the attributes with a loaded value
    changed: bool  # the row is marked as changed by this cell
    # Per relationship: what the Relationships column says, a collection as its members' labels.
    relationships: dict[str, str | list[str]] = field(default_factory=dict)


@dataclass
class StateTable:
    rows: list[StateRow]
    not_shown: int = 0


@dataclass
class Cell:
    code: str
    items: list = field(default_factory=list)
    # "Verified when this page was built": the claims listed under the cell, in order.
    claims: list[str] = field(default_factory=list)

    @property
    def statements(self) -> list[Statement]:
        return [item for item in self.items if isinstance(item, Statement)]

    @property
    def state_tables(self) -> list[StateTable]:
        return [item for item in self.items if isinstance(item, StateTable)]


def _pre_text(element: Tag) -> str:
    pre = element.find("pre")
    return (pre if pre is not None else element).get_text()


def code_text(text: str) -> str:
    """Code as a reader copies it: trailing spaces and blank lines at both ends dropped."""
    return "\n".join(line.rstrip() for line in text.splitlines()).strip("\n")


def printed_text(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.expandtabs().splitlines()).strip("\n")


def parse_sql_box(text: str) -> list[Statement | Hidden]:
    items: list[Statement | Hidden] = []
    current: Statement | None = None
    for raw in text.splitlines():
        line = " ".join(raw.split())
        if not line:
            continue
        if line.startswith(CONNECTION_LABEL):
            current = None
            continue
        if line.startswith(PARAMETERS):
            if current is None or current.parameters is not None:
                raise ValueError(f"a parameter line that follows no statement: {line!r}")
            current.parameters = line[len(PARAMETERS) :]
            current = None
            continue
        hidden = HIDDEN.match(line)
        if hidden:
            items.append(Hidden(int(hidden.group(1))))
            current = None
            continue
        if current is None or STATEMENT_START.match(line):
            current = Statement([line])
            items.append(current)
        else:
            current.lines.append(line)
        if SINGLE_LINE.match(line):
            current = None
    return items


def _words(text: str) -> list[str]:
    text = text.strip()
    return [] if text in ("", EMPTY_CELL) else [part.strip() for part in text.split(",")]


def change_names(text: str) -> list[str]:
    """``name: 'a' → 'b'; email = 'x'`` → ``['name', 'email']`` (values may hold "; ")."""
    text = text.strip()
    if text in ("", EMPTY_CELL):
        return []
    return re.findall(r"(?:^|; )(\w+)(?=: | = )", text)


def loaded_names(text: str) -> list[str]:
    text = text.strip()
    if text in ("", EMPTY_CELL):
        return []
    return re.findall(r"(?:^|, )(\w+)(?==)", text)


def split_members(text: str) -> list[str]:
    """``A(id=1), B(a=1, b=2) (pending)`` → the two labels: commas inside brackets stay."""
    members, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            members.append(current.strip())
            current = ""
        else:
            current += char
    return [*members, current.strip()] if current.strip() else members


def relationship_views(text: str) -> dict[str, str | list[str]]:
    """``addresses: [Address(id=1)]`` / ``user: not loaded``, one relationship a line."""
    views: dict[str, str | list[str]] = {}
    for line in text.splitlines():
        if not line.strip() or line.strip() == EMPTY_CELL:
            continue
        key, _, value = line.strip().partition(": ")
        is_list = value.startswith("[") and value.endswith("]")
        views[key] = split_members(value[1:-1]) if is_list else value
    return views


def parse_state_box(box: Tag) -> StateTable:
    rows = []
    for tr in box.select("tbody tr"):

        def cell(key: str, tr=tr) -> str:
            found = tr.select_one(f"p.orm-{key}")
            if found is None:
                raise ValueError(f"a state row without p.orm-{key}: {tr}")
            return found.get_text().translate(CURLY_QUOTES)

        state_words = cell("state").split()
        rows.append(
            StateRow(
                object=cell("object").strip(),
                state=state_words[0] if state_words else "",
                expired=_words(cell("expired")),
                changes=change_names(cell("changes")),
                loaded=loaded_names(cell("loaded")),
                changed="changed" in (tr.get("class") or []),
                relationships=relationship_views(
                    tr.select_one("p.orm-relationships").get_text().translate(CURLY_QUOTES)
                    if tr.select_one("p.orm-relationships")
                    else ""
                ),
            )
        )
    note = box.select_one(".orm-state-note")
    not_shown = int(re.match(r"\d+", note.get_text().strip()).group()) if note else 0
    return StateTable(rows, not_shown)


def parse_page(html: str) -> list[Cell]:
    """The cells of a built example page, in page order."""
    soup = BeautifulSoup(html, "html.parser")
    body = soup.select_one("article") or soup
    cells: list[Cell] = []
    for element in body.find_all("div"):
        classes = element.get("class") or []
        kind = next(
            (c for c in (CODE_CLASS, PRINTED_CLASS, SQL_CLASS, STATE_CLASS) if c in classes), None
        )
        if kind is None:
            if CLAIMS_CLASS in classes and cells:
                cells[-1].claims.extend(
                    " ".join(item.get_text().split()) for item in element.find_all("li")
                )
            continue
        if kind == CODE_CLASS:
            cells.append(Cell(code_text(_pre_text(element))))
            continue
        if not cells:
            raise ValueError(f"a {kind} box before the first code cell")
        if kind == PRINTED_CLASS:
            cells[-1].items.append(Printed(printed_text(_pre_text(element))))
        elif kind == SQL_CLASS:
            cells[-1].items.extend(parse_sql_box(_pre_text(element)))
        else:
            cells[-1].items.append(parse_state_box(element))
    return cells
