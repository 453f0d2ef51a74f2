"""The page as the reader sees it: printed output and SQL boxes in true order, state tables.

Turns what ``recording`` and ``state`` produced (marked lines among a cell's output, plain
dicts) into docutils nodes, at ``doctree-resolved`` and in the ``orm-state`` directive.
"""

from __future__ import annotations

import json
import re
import sqlite3

from docutils import nodes
from docutils.parsers.rst import Directive

from .recording import SQL_MARKER, split_marked_output
from .state import VALUE_SEPARATORS, column_values

FOLD_STATEMENTS_OVER = 15

STATE_COLUMNS = (
    ("object", "Object"),
    ("state", "State"),
    ("expired", "Expired attributes"),
    ("changes", "Unflushed changes"),
    ("loaded", "Loaded values"),
)
# Shown only when an object in the table has relationships: other tables keep five columns.
RELATIONSHIPS_COLUMN = ("relationships", "Relationships")


class OrmStateDirective(Directive):
    has_content = True

    def run(self):
        return self.nodes_of(json.loads("\n".join(self.content)))

    @staticmethod
    def nodes_of(table_data: dict) -> list[nodes.Node]:
        """The box of one recorded state table (``state``), as the directive makes it."""
        columns = STATE_COLUMNS
        if any("relationships" in row for row in table_data["rows"]):
            columns += (RELATIONSHIPS_COLUMN,)
        table = nodes.table(classes=["orm-state"])
        group = nodes.tgroup(cols=len(columns))
        table += group
        group.extend(nodes.colspec(colwidth=1) for _ in columns)
        head_row = nodes.row()
        for _, title in columns:
            head_row += nodes.entry("", nodes.paragraph(text=title))
        group += nodes.thead("", head_row)
        body = nodes.tbody()
        for data in table_data["rows"]:
            row = nodes.row(classes=["changed"] if data["changed"] else [])
            for key, _ in columns:
                entry = nodes.entry("", state_cell(data, key))
                if key == "state" and data.get("note"):
                    entry += nodes.paragraph(text=data["note"], classes=["orm-never-committed"])
                if key == "object" and data.get("other_object"):
                    entry += nodes.paragraph(text=OTHER_OBJECT, classes=["orm-other-object"])
                row += entry
            body += row
        group += body
        container = nodes.container(classes=["orm-state-box"])
        if table_data.get("repeat"):
            # The same table as the one above it on the page: folded, to be opened on demand.
            container["classes"].append("orm-state-repeat")
            container += nodes.raw(
                "",
                f'<details class="orm-state-folded"><summary>{REPEAT_SUMMARY}</summary>',
                format="html",
            )
        container += nodes.paragraph(
            text="ORM object state after this cell", classes=["orm-state-caption"]
        )
        container += table
        container += state_legend(
            other_objects=any(row.get("other_object") for row in table_data["rows"])
        )
        if table_data["not_shown"]:
            container += nodes.paragraph(
                text=f"{table_data['not_shown']} more objects in the example are not shown.",
                classes=["orm-state-note"],
            )
        if table_data.get("repeat"):
            container += nodes.raw("", "</details>", format="html")
        return [container]


OTHER_OBJECT = "a new object: not the one of this name in the tables above"
REPEAT_SUMMARY = "ORM object state after this cell: unchanged since the table above"


def shown_rows(table_data: dict) -> list[dict]:
    """A table's rows as the reader sees them, without what marks them against earlier ones."""
    hidden = ("changed", "new", "other_object")
    return [{k: v for k, v in row.items() if k not in hidden} for row in table_data["rows"]]


def mark_repeated_tables(tables: list[dict]) -> None:
    """A state table that shows the same rows as the table before it on the page (new objects
    that look the same, say) is marked ``repeat``: it is folded."""
    previous = None
    for table_data in tables:
        rows = shown_rows(table_data)
        if rows == previous and not table_data.get("not_shown"):
            table_data["repeat"] = True
        previous = rows


CLAIMS_CAPTION = "Verified when this page was built"


class VerifiedClaimsDirective(Directive):
    """The claims the cell's hidden asserts proved on this build (``claims``), as a list."""

    has_content = True

    def run(self):
        return self.nodes_of(json.loads("\n".join(self.content)))

    @staticmethod
    def nodes_of(claims: list[dict]) -> list[nodes.Node]:
        """The list of one cell's recorded claims, as the directive makes it."""
        container = nodes.container(classes=["verified-claims"])
        container += nodes.paragraph(text=CLAIMS_CAPTION, classes=["verified-claims-caption"])
        items = nodes.bullet_list(classes=["verified-claims-list"])
        for claim in claims:
            item = nodes.list_item(classes=["verified-claim"])
            item += nodes.paragraph(text=claim["claim"])
            items += item
        container += items
        return [container]


CHANGED_VALUE_CLASS = "orm-changed-value"


def state_cell(row: dict, key: str) -> nodes.paragraph:
    """A column's text; each value that differs from this object's previous state table on the
    page (``row["new"]``, from ``state``) is marked, a first appearance is not."""
    paragraph = nodes.paragraph(classes=[f"orm-{key}"])
    positions = row.get("new", {}).get(key, [])
    values = column_values(row, key) if key in VALUE_SEPARATORS else []
    if not values:
        text = row.get(key) or "\u2014"
        if positions == [-1]:
            paragraph += nodes.inline(text, text, classes=[CHANGED_VALUE_CLASS])
        else:
            paragraph += nodes.Text(text)
        return paragraph
    separator = VALUE_SEPARATORS[key] or ""
    for index, value in enumerate(values):
        if index:
            paragraph += nodes.Text(separator)
        if index in positions:
            paragraph += nodes.inline(value, value, classes=[CHANGED_VALUE_CLASS])
        else:
            paragraph += nodes.Text(value)
    return paragraph


def state_legend(other_objects: bool = False) -> nodes.paragraph:
    legend = nodes.paragraph(classes=["orm-state-legend"])
    legend += nodes.inline("Highlighted", "Highlighted", classes=[CHANGED_VALUE_CLASS])
    legend += nodes.Text(": changed since this object's previous table on the page. \u2014: none.")
    if other_objects:
        legend += nodes.Text(
            " A row marked \u201c" + OTHER_OBJECT.split(":")[0] + "\u201d is another object than"
            " the one of that name above (the row loaded again, by a new session or after the"
            " old object was let go): its first table, with nothing to compare."
        )
    return legend


TRANSACTION_END = {"COMMIT", "ROLLBACK"}
TRANSACTION_CONTROL = TRANSACTION_END | {"BEGIN (implicit)"}
SCHEMA_STATEMENT = re.compile(r"^\s*(CREATE|DROP|ALTER|PRAGMA)\b", re.IGNORECASE)
CATALOG_QUERY = re.compile(r"pg_catalog|information_schema|^\s*(DESCRIBE|SHOW)\b", re.I)


def _is_schema_chunk(records: list[dict]) -> bool:
    """A transaction that only inspects or changes the schema (``create_all()`` and friends)."""
    work = [r["sql"] for r in records if "sql" in r and r["sql"] not in TRANSACTION_CONTROL]
    return bool(work) and all(SCHEMA_STATEMENT.match(s) or CATALOG_QUERY.search(s) for s in work)


def _transaction_chunks(records: list[dict]) -> list[list[dict]]:
    """Runs of statements of one transaction on one connection."""
    chunks: list[list[dict]] = [[]]
    for record in records:
        starts = record.get("sql") == "BEGIN (implicit)" or (
            chunks[-1]
            and "connection" in record
            and record["connection"] != chunks[-1][-1].get("connection", record["connection"])
        )
        if starts and chunks[-1]:
            chunks.append([])
        chunks[-1].append(record)
        if record.get("sql") in TRANSACTION_END:
            chunks.append([])
    return [chunk for chunk in chunks if chunk]


READ_QUERY = re.compile(r"^\s*SELECT\b", re.IGNORECASE)


def _is_outside_read(records: list[dict]) -> bool:
    """Only SELECTs, on a connection no session uses: the example looking at the database from
    outside (a check of what the lesson did), not a step of the lesson itself."""
    labels = {r.get("connection", "") for r in records if "sql" in r}
    work = [r["sql"] for r in records if "sql" in r and r["sql"] not in TRANSACTION_CONTROL]
    return (
        len(labels) == 1
        and not next(iter(labels)).startswith("session")
        and bool(work)
        and all(READ_QUERY.match(sql) for sql in work)
    )


def _setup_helper(records: list[dict]) -> str | None:
    """The example's set-up function (``start()``, ``reset()``) that sent every statement of
    the transaction, if one did (``recording.setup_helper_sending``)."""
    helpers = {r.get("setup") for r in records if "sql" in r}
    return helpers.pop() if len(helpers) == 1 and None not in helpers else None


def _chunk_kind(records: list[dict], setup_cell: bool = False) -> str:
    if _is_schema_chunk(records):
        return "schema"
    if setup_cell:
        return "setup"
    if _setup_helper(records):
        return "setup-helper"
    return "outside-read" if _is_outside_read(records) else "work"


def sql_text(records: list[dict], label_connections: bool | None = None) -> str:
    """The statements as the reader sees them; who sent them is said where it changes, when
    ``label_connections`` (by default: when more than one sent these)."""
    return "\n".join(sql_lines(records, label_connections)[0])


def sql_lines(
    records: list[dict], label_connections: bool | None = None
) -> tuple[list[str], dict[int, range]]:
    """The box's lines, and for each record shown the range of its statement's lines (0-based)."""
    if label_connections is None:
        label_connections = len(connection_labels(records)) > 1
    lines, previous_connection, where = [], None, {}
    for index, record in enumerate(records):
        if "hidden" in record:
            continue
        if label_connections and record["connection"] != previous_connection:
            lines.append(f"-- on {record['connection']}")
            previous_connection = record["connection"]
        statement = record["sql"].expandtabs(4).split("\n")
        where[index] = range(len(lines), len(lines) + len(statement))
        lines.extend(statement)
        if "parameters" in record:
            lines.append(f"-- parameters: {record['parameters']}")
    hidden = sum(r.get("hidden", 0) for r in records)
    if hidden:
        lines.append(f"-- ... and {hidden} more statements, not shown")
    return lines, where


# ---------------------------------------------------------------------------
# The statement that matters, and a note saying what it is: rules over what ran
# ---------------------------------------------------------------------------

RETURNING = re.compile(r"\bRETURNING\b(.*)$", re.IGNORECASE | re.DOTALL)
WHERE = re.compile(r"\bWHERE\b(.*?)(?:\bRETURNING\b|$)", re.IGNORECASE | re.DOTALL)


def _verb(sql: str) -> str:
    return sql.split(None, 1)[0].upper() if sql.strip() else ""


def _where(sql: str) -> str | None:
    match = WHERE.search(sql)
    return " ".join(PLACEHOLDERS.sub("?", match.group(1)).split()) if match else None


PLACEHOLDERS = re.compile(r"%\(\w+\)s|%s|\?|(?<!:):\w+")
# An upsert: a conflicting row is updated, not inserted (SQLite, PostgreSQL; MySQL, MariaDB).
UPSERT = re.compile(
    r"\bON\s+CONFLICT\b.*?\bDO\s+UPDATE\b|\bON\s+DUPLICATE\s+KEY\s+UPDATE\b",
    re.IGNORECASE | re.DOTALL,
)


def statement_notes(records: list[dict]) -> list[tuple[int, bool, str]]:
    """``(record index, only the RETURNING lines, note)`` for each statement worth pointing at:
    a SELECT the ORM sent to load attributes not in memory (expired, never loaded as a joined
    subclass's or a deferred column, or named by ``refresh()``), or a relationship's lazy
    loader (never loaded, expired, or named by ``refresh()``): the statement's load options,
    recorded as its ``origin``; a SELECT with the WHERE clause of the bulk UPDATE or
    DELETE that 'fetch' sent right after it on the same connection, without RETURNING (the
    database has none); an UPDATE/DELETE/INSERT with RETURNING (an upsert's returns the rows
    it inserted or updated: a conflicting row comes back as DO UPDATE changed it)."""
    work = [
        (index, record)
        for index, record in enumerate(records)
        if "sql" in record and record["sql"] not in TRANSACTION_CONTROL
    ]
    notes = []
    for position, (index, record) in enumerate(work):
        sql, verb = record["sql"], _verb(record["sql"])
        returning = RETURNING.search(sql)
        following = work[position + 1][1] if position + 1 < len(work) else None
        if verb == "SELECT" and record.get("origin") == "refresh":
            notes.append(
                (
                    index,
                    False,
                    "The ORM loads attributes not in memory (expired; never loaded, as a "
                    "subclass's or a deferred column; or named by refresh()): a SELECT by "
                    "primary key.",
                )
            )
        elif verb == "SELECT" and record.get("origin") == "lazy":
            notes.append(
                (
                    index,
                    False,
                    "A relationship's rows, loaded on their own: a lazy load, for a "
                    "relationship read while not loaded (never loaded yet, or expired by "
                    "expire() or a commit), or for a refresh() that names it.",
                )
            )
        elif (
            verb == "SELECT"
            and following is not None
            and following.get("origin") == "fetch"
            and not RETURNING.search(following["sql"])
            and following.get("connection") == record.get("connection")
            and _where(sql) is not None
            and _where(sql) == _where(following["sql"])
        ):
            following_verb = _verb(following["sql"])
            notes.append(
                (
                    index,
                    False,
                    f"'fetch' asks which rows match first: this SELECT has the {following_verb}'s "
                    f"own WHERE clause (no {following_verb} ... RETURNING used).",
                )
            )
        elif verb in ("UPDATE", "DELETE") and returning:
            columns = " ".join(returning.group(1).split())
            fetch = record.get("origin") == "fetch"
            notes.append(
                (
                    index,
                    True,
                    f"RETURNING: the {verb} sends back the matched rows' {columns} in its own "
                    "result" + (": 'fetch' learns from it which rows matched." if fetch else "."),
                )
            )
        elif verb == "INSERT" and returning:
            columns = " ".join(returning.group(1).split())
            if UPSERT.search(sql):
                note = (
                    f"RETURNING: the upsert sends back the {columns} of the rows it inserted or "
                    "updated (a conflicting row as its UPDATE left it) in its own result."
                )
            else:
                note = f"RETURNING: the INSERT sends back the new rows' {columns} in its own result"
                note += "."
            notes.append((index, True, note))
    return notes


def highlighted_lines(
    records: list[dict], label_connections: bool | None = None
) -> tuple[str, list[int], list[str]]:
    """The box's text, the lines to highlight (1-based) and the notes (each once, in order)."""
    lines, where = sql_lines(records, label_connections)
    marked, notes = [], []
    for index, returning_only, note in statement_notes(records):
        if index not in where:
            continue
        span = list(where[index])
        if returning_only:
            first = next((n for n in span if "RETURNING" in lines[n].upper()), span[0])
            span = [n for n in span if n >= first]
        marked.extend(n + 1 for n in span)
        if note not in notes:
            notes.append(note)
    return "\n".join(lines), sorted(set(marked)), notes


def note_nodes(notes: list[str]) -> list[nodes.Node]:
    return [nodes.paragraph(text=note, classes=["sql-note"]) for note in notes]


def connection_labels(records: list[dict]) -> set[str]:
    return {r["connection"] for r in records if "connection" in r}


def sql_box_nodes(
    records: list[dict], label_connections: bool | None = None, setup_cell: bool = False
) -> list[nodes.Node]:
    """SQL boxes; schema set-up, the set-up of the page's first cell and of the example's set-up
    functions, reads from outside the session and very long runs are folded, to be opened on
    demand: the lesson's statements stay in sight."""
    result: list[nodes.Node] = []
    for chunk in group_chunks(records, setup_cell):
        text, marked, notes = highlighted_lines(chunk["records"], label_connections)
        block = nodes.literal_block(text, text, language="sql")
        if marked:
            block["highlight_args"] = {"hl_lines": marked}
        box = nodes.container("", block, *note_nodes(notes), classes=["sql-box"])
        count = sum(1 for r in chunk["records"] if "sql" in r)
        count += sum(r.get("hidden", 0) for r in chunk["records"])
        if chunk["kind"] == "schema":
            summary = f"Schema setup SQL ({count} statements)"
        elif chunk["kind"] == "setup":
            summary = f"Set-up SQL of the first cell ({count} statements)"
        elif chunk["kind"] == "setup-helper":
            summary = f"Set-up SQL sent by {chunk['helper']}() ({count} statements)"
        elif chunk["kind"] == "outside-read":
            summary = f"Checked on another connection, outside the session ({count} statements)"
        elif count > FOLD_STATEMENTS_OVER:
            summary = f"SQL sent: {count} statements"
        else:
            result.append(box)
            continue
        result.append(
            nodes.raw(
                "", f'<details class="sql-folded"><summary>{summary}</summary>', format="html"
            )
        )
        result.append(box)
        result.append(nodes.raw("", "</details>", format="html"))
    return result


def group_chunks(records: list[dict], setup_cell: bool = False) -> list[dict]:
    """Neighbouring transactions of the same kind (schema set-up, set-up, reads from outside
    the session on one connection, the lesson's work), each kind boxed on its own."""
    groups: list[dict] = []
    for chunk in _transaction_chunks(records):
        kind = _chunk_kind(chunk, setup_cell)
        label = chunk[0].get("connection")
        helper = _setup_helper(chunk) if kind == "setup-helper" else None
        if (
            groups
            and groups[-1]["kind"] == kind
            and (kind != "outside-read" or groups[-1]["label"] == label)
            and groups[-1].get("helper") == helper
        ):
            groups[-1]["records"].extend(chunk)
        else:
            groups.append({"kind": kind, "label": label, "records": list(chunk)})
            if helper:
                groups[-1]["helper"] = helper
    return groups


def output_segments(block: nodes.literal_block) -> list[tuple[bool, list]]:
    """The block's printed lines and SQL records, in runs of one kind, in true order."""
    return split_marked_output(block.astext())


def split_output_block(
    block: nodes.literal_block, label_connections: bool | None = None, setup_cell: bool = False
) -> list[nodes.Node]:
    """Printed output and SQL records, in the order they happened, as separate nodes."""
    result: list[nodes.Node] = []
    for is_sql, lines in output_segments(block):
        if is_sql:
            result.extend(sql_box_nodes(lines, label_connections, setup_cell))
        else:
            text = "\n".join(lines).strip("\n")
            if text.strip():
                new_block = nodes.literal_block(text, text, language="none")
                new_block["classes"] = list(block["classes"])
                result.append(new_block)
    return result


# ---------------------------------------------------------------------------
# Printed output on a phone: prose wraps (CSS), an aligned table keeps its columns
# ---------------------------------------------------------------------------

COLUMN_GAP = re.compile(r"(?<=\S)  +(?=\S)")
TABLE_WIDTHS = range(40, 75, 5)  # the widths site.css scales a table's font to, in characters


def is_aligned_table(text: str) -> bool:
    """Lines whose columns line up: in at least two lines, a value starts at the same column
    after a gap of two spaces or more (prose has none, or not at the same place)."""
    starts: dict[int, int] = {}
    for line in text.splitlines():
        for column in {m.end() for m in COLUMN_GAP.finditer(line)}:
            starts[column] = starts.get(column, 0) + 1
    return any(count >= 2 for count in starts.values())


def printed_classes(text: str) -> list[str]:
    """``printed-table`` for an aligned table, with the width its font is scaled to on a
    phone (``printed-cols-N``, when it has at most the widest of TABLE_WIDTHS characters)."""
    if not is_aligned_table(text):
        return []
    widest = max(len(line) for line in text.expandtabs().splitlines())
    fitting = next((width for width in TABLE_WIDTHS if widest <= width), None)
    return ["printed-table"] + ([f"printed-cols-{fitting}"] if fitting else [])


def mark_printed_tables(result: list[nodes.Node]) -> None:
    for node in result:
        if is_cell_output(node):
            for name in printed_classes(node.astext()):
                if name not in node["classes"]:
                    node["classes"].append(name)


def is_cell_output(node: nodes.Node) -> bool:
    return isinstance(node, nodes.literal_block) and "sphx-glr-script-out" in node["classes"]


def is_code_cell(node: nodes.Node) -> bool:
    """A code cell of the example (Sphinx-Gallery's ``.. code-block:: Python``)."""
    return isinstance(node, nodes.literal_block) and node.get("language") == "Python"


def _code_cell_of(block: nodes.literal_block) -> nodes.Node | None:
    """The code cell an output block follows: the nearest code block before it."""
    parent = block.parent
    for node in reversed(parent.children[: parent.index(block)]):
        if is_code_cell(node):
            return node
        if not (is_cell_output(node) or _is_cell_extra(node)):
            return None
    return None


CELL_EXTRAS = ("orm-state-box", "sql-dialects", "verified-claims")


def _is_cell_extra(node) -> bool:
    return isinstance(node, nodes.container) and any(c in node["classes"] for c in CELL_EXTRAS)


def render_captured_output(app, doctree, docname) -> None:
    """Split SQL out of every cell output, then put the cell's SQL tabs and state table (which
    Sphinx-Gallery places above the output) below both.  When the page's SQL came from more
    than one session or connection, every box says who sent it."""
    blocks = list(doctree.findall(is_cell_output))
    page_labels = {
        label
        for block in blocks
        if SQL_MARKER in block.astext()
        for is_sql, records in output_segments(block)
        if is_sql
        for label in connection_labels(records)
    }
    first_code = next(doctree.findall(is_code_cell), None)
    for block in blocks:
        parent = block.parent
        index = parent.index(block)
        extras = []
        while index - len(extras) > 0 and _is_cell_extra(parent[index - len(extras) - 1]):
            extras.insert(0, parent[index - len(extras) - 1])
        setup_cell = first_code is not None and _code_cell_of(block) is first_code
        new_nodes = (
            split_output_block(block, label_connections=len(page_labels) > 1, setup_cell=setup_cell)
            if SQL_MARKER in block.astext()
            else [block]
        )
        mark_printed_tables(new_nodes)
        for extra in extras:
            parent.remove(extra)
        parent.replace(block, new_nodes + extras)
    _say_where_the_other_databases_are(doctree)


def _say_where_the_other_databases_are(doctree) -> None:
    has_sql = any("sql-box" in node["classes"] for node in doctree.findall(nodes.container))
    has_tabs = any("sql-dialects" in node["classes"] for node in doctree.findall(nodes.container))
    section = next(iter(doctree.findall(nodes.section)), None)
    if not has_sql or has_tabs or section is None:
        return
    note = nodes.paragraph(classes=["sql-dialects-note"])
    note += nodes.Text(
        f"The SQL on this page was sent to SQLite {sqlite3.sqlite_version}. "
        "The full build of this site ("
    )
    note += nodes.literal(text="nox -s docs-full")
    note += nodes.Text(
        ") adds, under every cell, tabs with the SQL the same code sends to PostgreSQL and MariaDB."
    )
    # A maintainer's note, not the lesson: it ends the page's own content, after the sentence
    # saying which releases verified it (verified_releases.py), or closes the section.
    verified_on = next((p for p in section.children if "verified-on" in p.get("classes", ())), None)
    if verified_on is not None:
        section.insert(section.index(verified_on) + 1, note)
    else:
        section.append(note)
