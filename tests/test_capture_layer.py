"""The capture layer on its own: what it records, what it renders, and that it never disturbs."""

import asyncio
import concurrent.futures
import contextlib
import functools
import gc
import io
import json
import sqlite3
import subprocess
import sys
import weakref
from types import SimpleNamespace

import pytest
from docutils import nodes
from sqlalchemy import (
    ForeignKey,
    String,
    create_engine,
    event,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    MappedAsDataclass,
    Session,
    mapped_column,
    relationship,
)

from sitebuild import ROOT

sys.path.insert(0, str(ROOT / "sphinxext"))
from session_sync import build_hooks, dialects, recording, rendering, state  # noqa: E402


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    addresses: Mapped[list["Address"]] = relationship(back_populates="user")


class Address(Base):
    __tablename__ = "addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(50))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    user: Mapped[User] = relationship(back_populates="addresses")


def sql_records(output: str) -> list[dict]:
    """The SQL records among a cell's captured output."""
    return [
        json.loads(line[len(recording.SQL_MARKER) :])
        for line in output.splitlines()
        if line.startswith(recording.SQL_MARKER)
    ]


@pytest.fixture
def capturing(capsys):
    """The capture layer installed as for one example; yields a function reading its records."""
    build_hooks.reset({}, "example.py", "before")
    records = []

    def read():
        records.extend(sql_records(capsys.readouterr().out))
        return list(records)

    yield read
    build_hooks.reset({}, "example.py", "after")


@pytest.fixture
def engine():
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    return engine


def state_table():
    rst = build_hooks.scrape_cell(SimpleNamespace(lineno=1), {}, {})
    if not rst:
        return None
    return json.loads(rst.split("\n\n   ", 1)[1])


def test_every_statement_is_recorded_in_order_with_parameters(engine, capturing):
    with Session(engine) as session:
        session.add(User(name="spongebob"))
        session.commit()
        session.execute(update(User).where(User.name == "spongebob").values(name="patrick"))
        session.rollback()
    sql = [record["sql"] for record in capturing()]
    assert sql[0] == "BEGIN (implicit)"
    assert sql[1] == "INSERT INTO users (name) VALUES (?)"
    assert sql[2] == "COMMIT"
    assert sql[3] == "BEGIN (implicit)"
    assert sql[4].startswith("UPDATE users SET name=? WHERE users.name = ?")
    assert sql[5] == "ROLLBACK"
    assert capturing()[1]["parameters"] == "('spongebob',)"
    assert capturing()[4]["parameters"] == "('patrick', 'spongebob')"


def test_executemany_parameters_are_abbreviated(engine, capturing):
    with Session(engine) as session:
        session.execute(User.__table__.insert(), [{"name": f"user {i}"} for i in range(10)])
    insert = next(r for r in capturing() if r["sql"].startswith("INSERT"))
    assert (
        insert["parameters"]
        == "[('user 0',), ('user 1',), ('user 2',), ... 10 parameter sets in all]"
    )


def test_a_multi_row_insert_returning_shows_its_one_parameter_set(engine, capturing):
    # "insertmanyvalues": SQLAlchemy flags the batch executemany, with one flat set of values.
    with Session(engine) as session:
        rows = [{"id": 2, "name": "bob"}, {"id": 3, "name": "cy"}]
        session.scalars(insert(User).returning(User), rows).all()
    record = next(r for r in capturing() if r["sql"].startswith("INSERT"))
    assert "RETURNING" in record["sql"]
    assert record["parameters"] == "(2, 'bob', 3, 'cy')"


def test_an_object_the_example_drops_in_a_reference_cycle_is_gone_after_the_cell(engine, capturing):
    """What was alive before the example is frozen out of collections (build speed); what the
    example makes and drops, cycles included, is still collected before the state is read."""

    def cell():  # its own frame: the recorder reads the locals of the frames that send SQL
        with Session(engine) as session:
            user = User(name="in a cycle")
            session.add(user)
            session.commit()
        holder = {"user": user}
        holder["itself"] = holder
        gc.collect()  # the cycle is now old: only a full collection finds it once dropped
        return weakref.ref(user)

    alive = cell()
    build_hooks.scrape_cell(SimpleNamespace(lineno=1), {}, {})
    assert alive() is None, "the object the cell dropped is still alive when its state is read"
    assert gc.get_freeze_count() > 0, "what existed before the example was not set aside"


def test_listeners_are_removed_after_the_example(engine):
    build_hooks.reset({}, "example.py", "before")
    build_hooks.reset({}, "example.py", "after")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), engine.connect() as connection:
        connection.execute(select(1))
    assert stdout.getvalue() == ""
    assert not event.contains(
        Engine, "before_cursor_execute", recording.SqlTranscript.before_cursor_execute
    )


def test_state_table_follows_an_object_through_its_life(engine, capturing):
    session = Session(engine)
    user = User(name="spongebob")
    rows = state_table()["rows"]
    assert rows == [
        {
            "object": "User (no key yet)",
            "state": "transient",
            "expired": "",
            "changes": "name = 'spongebob'",
            "loaded": "name='spongebob'",
            "loaded_items": ["name='spongebob'"],
            "relationships": "addresses: not loaded",
            "changed": True,
        }
    ]
    session.add(user)
    assert state_table()["rows"][0]["state"] == "pending"
    session.commit()
    row = state_table()["rows"][0]
    assert (row["object"], row["state"], row["expired"]) == (
        "User(id=1)",
        "persistent",
        "id, name, addresses",
    )
    assert state_table() is None, "no table when nothing changed since the last cell"
    user.name = "squidward"
    assert state_table()["rows"][0]["changes"] == "name: (not loaded) \u2192 'squidward'"
    session.flush()
    assert user.name == "squidward"
    user.name = "sandy"
    assert state_table()["rows"][0]["changes"] == "name: 'squidward' \u2192 'sandy'"
    session.delete(user)
    session.flush()
    assert state_table()["rows"][0]["state"] == "deleted"
    session.commit()
    assert state_table()["rows"][0]["state"] == "detached"


def test_reading_state_emits_no_sql_and_changes_nothing(engine, capturing):
    with Session(engine) as session:
        user = User(name="spongebob", addresses=[Address(email="sb@example.org")])
        session.add(user)
        session.commit()
        assert user.name == "spongebob" and len(user.addresses) == 1  # reload everything
        session.expire(user, ["name"])
        session.add(Address(email="new@example.org", user_id=1))  # pending: autoflush would send it
        statements_before = len(capturing())
        before = {key: inspect(user).attrs[key].loaded_value for key in ("id", "name")}
        table = state_table()
        assert len(capturing()) == statements_before, "rendering state sent SQL"
        assert inspect(user).expired_attributes == {"name"}
        assert {key: inspect(user).attrs[key].loaded_value for key in ("id", "name")} == before
        assert len(session.new) == 1, "rendering state flushed the session"
        user_row = next(r for r in table["rows"] if r["object"] == "User(id=1)")
        assert user_row["expired"] == "name"


def test_a_state_reader_that_loads_would_fail_the_build(engine, capturing, monkeypatch):
    """The real scraper, with a careless describe_object that reads an expired attribute (the
    SELECT an innocent `getattr` sends): the cell must fail, not show a quietly loaded value."""
    real_describe = state.describe_object

    def careless_describe(obj):
        for key in inspect(obj).expired_attributes:
            getattr(obj, key)  # loads: SELECT ... FROM users
        return real_describe(obj)

    with Session(engine) as session:
        user = User(name="spongebob")
        session.add(user)
        session.commit()  # expires every attribute of user
        sent_before = len(capturing())
        monkeypatch.setattr(state, "describe_object", careless_describe)
        with pytest.raises(AssertionError, match="SQL was emitted while reading object state"):
            state_table()
        monkeypatch.setattr(state, "describe_object", real_describe)
        assert len(capturing()) == sent_before, "the SELECT was refused, not recorded"
        assert inspect(user).expired_attributes == {"id", "name", "addresses"}
        table = state_table()
        assert len(capturing()) == sent_before, "the real scraper sent no SQL"
        assert inspect(user).expired_attributes == {"id", "name", "addresses"}
    assert table["rows"][0]["expired"] == "id, name, addresses"


def test_related_objects_are_named_by_identity_never_by_repr(engine, capturing):
    class Exploding(Exception):
        pass

    with Session(engine) as session:
        session.add(User(name="spongebob", addresses=[Address(email="sb@example.org")]))
        session.commit()
        user = session.scalars(select(User)).one()
        user.addresses  # loads the collection
        original_repr = Address.__repr__
        Address.__repr__ = lambda self: (_ for _ in ()).throw(Exploding())
        try:
            table = state_table()
        finally:
            Address.__repr__ = original_repr
    user_row = next(r for r in table["rows"] if r["object"] == "User(id=1)")
    assert user_row["relationships"] == "addresses: [Address(id=1)]"


def literal(text: str) -> nodes.literal_block:
    return nodes.literal_block(text, text, classes=["sphx-glr-script-out"])


def marked(record: dict) -> str:
    return recording.SQL_MARKER + json.dumps(record)


def cell(*extras, lines):
    """A page section as Sphinx-Gallery leaves it: title, scraper output, then the cell output."""
    section = nodes.section()
    section += nodes.title(text="An example")
    section.extend(extras)
    section += literal("\n".join(lines))
    return section


QUERY_LINES = [
    "about to read",
    marked({"sql": "BEGIN (implicit)", "connection": "session"}),
    marked({"sql": "SELECT users.name FROM users", "connection": "session", "parameters": "(1,)"}),
    "spongebob",
]


def test_output_is_split_into_printed_text_and_sql_boxes_in_true_order():
    tabs = nodes.container(classes=["sql-dialects"])
    state_box = nodes.container(classes=["orm-state-box"])
    section = cell(tabs, state_box, lines=QUERY_LINES)
    rendering.render_captured_output(None, section, "page")
    kinds = [(type(n).__name__, n.get("classes"), n.astext()) for n in section.children[1:]]
    assert kinds[0] == ("literal_block", ["sphx-glr-script-out"], "about to read")
    assert kinds[1][1] == ["sql-box"]
    assert kinds[1][2] == "BEGIN (implicit)\nSELECT users.name FROM users\n-- parameters: (1,)"
    assert kinds[2] == ("literal_block", ["sphx-glr-script-out"], "spongebob")
    assert section.children[4:] == [tabs, state_box], "tabs and state go below the output"


def test_a_statement_sent_while_a_line_was_printed_keeps_the_line_whole():
    """print("a:", obj) where str(obj) loads: the SQL lands inside the printed line."""
    select = marked({"sql": "SELECT users.name FROM users", "connection": "session"})
    tabs = nodes.container(classes=["sql-dialects"])
    section = cell(tabs, lines=["before", "a: " + select, "spongebob", "after"])
    rendering.render_captured_output(None, section, "page")
    kinds = [(n.get("classes"), n.astext()) for n in section.children[1:4]]
    assert kinds[0] == (["sphx-glr-script-out"], "before")
    assert kinds[1] == (["sql-box"], "SELECT users.name FROM users")
    assert kinds[2] == (["sphx-glr-script-out"], "a: spongebob\nafter")
    assert not any(recording.SQL_MARKER in text for _, text in kinds)


def test_once_a_page_has_two_senders_every_box_names_its_sender():
    page = nodes.section()
    page += nodes.title(text="An example")
    page += literal(marked({"sql": "SELECT 1", "connection": "session"}))
    page += literal(marked({"sql": "SELECT 2", "connection": 'session "setup"'}))
    rendering.render_captured_output(None, page, "page")
    boxes = [n.astext() for n in page.findall(nodes.container) if "sql-box" in n["classes"]]
    assert boxes == ["-- on session\nSELECT 1", '-- on session "setup"\nSELECT 2']


def test_a_page_without_other_databases_says_where_they_are():
    section = cell(lines=QUERY_LINES)
    rendering.render_captured_output(None, section, "page")
    # A maintainer's note: it ends the page, it does not open it.
    assert "nox -s docs-full" in section.children[-1].astext()
    assert "sql-dialects-note" in section.children[-1]["classes"]
    assert "sql-dialects-note" not in section.children[1]["classes"]


def test_the_note_on_other_databases_follows_the_verified_releases_sentence():
    verified_on = nodes.paragraph(text="Verified on SQLAlchemy 2.1.9.", classes=["verified-on"])
    section = cell(lines=QUERY_LINES)
    section += verified_on
    section += nodes.container(classes=["sphx-glr-footer"])
    rendering.render_captured_output(None, section, "page")
    after = section.children[section.index(verified_on) + 1]
    assert "sql-dialects-note" in after["classes"]


def test_a_page_with_other_databases_has_no_such_note():
    section = cell(nodes.container(classes=["sql-dialects"]), lines=QUERY_LINES)
    rendering.render_captured_output(None, section, "page")
    assert not any("sql-dialects-note" in n.get("classes", []) for n in section.children)


def test_schema_setup_is_folded_and_work_is_not():
    records = [
        {"sql": "BEGIN (implicit)", "connection": "session"},
        {"sql": 'PRAGMA main.table_info("users")', "connection": "session"},
        {"sql": "CREATE TABLE users (id INTEGER)", "connection": "session"},
        {"sql": "COMMIT", "connection": "session"},
        {"sql": "BEGIN (implicit)", "connection": "session"},
        {"sql": "INSERT INTO users (id) VALUES (?)", "connection": "session", "parameters": "(1,)"},
    ]
    rendered = rendering.sql_box_nodes(records)
    assert (
        isinstance(rendered[0], nodes.raw)
        and "Schema setup SQL (4 statements)" in rendered[0].astext()
    )
    assert "CREATE TABLE" in rendered[1].astext()
    assert rendered[2].astext() == "</details>"
    assert rendered[3].astext().startswith("BEGIN (implicit)\nINSERT INTO users")


def test_statements_of_several_connections_are_labelled():
    text = rendering.sql_text(
        [
            {"sql": "SELECT 1", "connection": "session"},
            {"sql": "SELECT 2", "connection": "other connection"},
            {"sql": "SELECT 3", "connection": "other connection"},
        ]
    )
    assert text == "-- on session\nSELECT 1\n-- on other connection\nSELECT 2\nSELECT 3"


def test_connections_are_named_as_the_example_names_them(engine, capturing):
    with Session(engine) as setup:
        setup.add(User(name="spongebob"))
        setup.commit()
    session = Session(engine)
    session.get(User, 1)
    with engine.connect() as other:
        other.execute(select(User.name))
    session.close()
    labels = [(r["sql"].split()[0], r["connection"]) for r in capturing()]
    assert labels == [
        ("BEGIN", 'session "setup"'),  # BEGIN comes before the session says it began
        ("INSERT", 'session "setup"'),
        ("COMMIT", 'session "setup"'),
        ("BEGIN", "session"),
        ("SELECT", "session"),
        ("BEGIN", "other connection"),
        ("SELECT", "other connection"),
        ("ROLLBACK", "other connection"),
        ("ROLLBACK", "session"),
    ]


def test_a_helper_parameter_does_not_rename_the_session(engine, capturing):
    def run(action):
        with Session(engine) as session:
            action(session)

    run(lambda s: s.execute(select(User)))
    labels = {r["connection"] for r in capturing()}
    assert labels == {"session"}, "named as the frame that made it names it, not 's'"


def test_reads_from_outside_the_session_are_folded_and_labelled():
    records = [
        {"sql": "BEGIN (implicit)", "connection": "session"},
        {"sql": "UPDATE users SET name=?", "connection": "session", "parameters": "('x',)"},
        {"sql": "BEGIN (implicit)", "connection": "other connection"},
        {"sql": "SELECT users.name FROM users", "connection": "other connection"},
        {"sql": "ROLLBACK", "connection": "other connection"},
        {"sql": "COMMIT", "connection": "session"},
    ]
    rendered = [node.astext() for node in rendering.sql_box_nodes(records)]
    assert rendered[0] == "BEGIN (implicit)\nUPDATE users SET name=?\n-- parameters: ('x',)"
    assert "Checked on another connection, outside the session (3 statements)" in rendered[1]
    assert rendered[2].startswith("BEGIN (implicit)\nSELECT users.name")
    assert rendered[4] == "COMMIT", "the session's own work is never folded"


def test_a_write_from_another_connection_is_not_folded():
    records = [
        {"sql": "BEGIN (implicit)", "connection": "other connection"},
        {"sql": "UPDATE users SET name=?", "connection": "other connection"},
        {"sql": "COMMIT", "connection": "other connection"},
    ]
    (box,) = rendering.sql_box_nodes(records)
    assert "sql-box" in box["classes"], "a step of the lesson stays in plain sight"


def test_objects_a_closed_session_rolled_back_are_marked(engine, capturing):
    with Session(engine) as committed:
        kept = User(name="kept")
        committed.add(kept)
        committed.commit()
        kept.name  # loaded again after the commit
    with Session(engine) as rolled_back:
        ghost = User(name="ghost")
        rolled_back.add(ghost)
        rolled_back.flush()
    rows = {row["object"]: row for row in state_table()["rows"]}
    assert "note" not in rows["User(id=1)"], "committed values carry no mark"
    assert rows["User(id=2)"]["state"] == "detached"
    assert rows["User(id=2)"]["note"] == state.NEVER_COMMITTED_NOTE


def test_an_unhashable_object_is_tracked_through_a_rolled_back_flush(engine, capturing):
    class DataclassBase(MappedAsDataclass, DeclarativeBase):  # eq=True: no __hash__
        pass

    class Member(DataclassBase):
        __tablename__ = "members"
        id: Mapped[int] = mapped_column(primary_key=True)

    DataclassBase.metadata.create_all(engine)
    with Session(engine) as rolled_back:
        member = Member(id=1)
        rolled_back.add(member)
        rolled_back.flush()
    (row,) = state_table()["rows"]
    assert (row["state"], row["note"]) == ("detached", state.NEVER_COMMITTED_NOTE)


def test_a_deleted_object_is_marked_once_detached(engine, capturing):
    with Session(engine) as session:
        gone = User(name="gone")
        session.add(gone)
        session.commit()
        session.delete(gone)
        session.flush()
        assert "note" not in state_table()["rows"][0], "the deleted state says it already"
        session.commit()
    (row,) = state_table()["rows"]
    assert (row["state"], row["note"]) == ("detached", state.DELETED_NOTE)


def test_a_commit_after_letting_go_of_an_object_clears_the_mark(engine, capturing):
    session = Session(engine)
    user = User(name="spongebob")
    session.add(user)
    session.flush()
    session.expunge(user)
    assert state_table()["rows"][0]["note"] == state.NEVER_COMMITTED_NOTE
    session.commit()
    assert "note" not in state_table()["rows"][0], "the flushed row was committed after all"
    session.close()


def test_a_cell_sending_many_statements_is_cut_short_and_folded(engine, capturing):
    with Session(engine) as session:
        for number in range(recording.MAX_STATEMENTS_PER_CELL + 5):
            session.execute(select(number))
    records = capturing()
    # BEGIN, the cap + 5 SELECTs and ROLLBACK: the first MAX_STATEMENTS_PER_CELL are shown.
    assert sum(r.get("hidden", 0) for r in records) == 7
    rendered = rendering.sql_box_nodes(records)
    assert f"SQL sent: {recording.MAX_STATEMENTS_PER_CELL + 7} statements" in rendered[0].astext()
    assert rendered[1].astext().endswith("-- ... and 7 more statements, not shown")


def test_placeholders_casts_and_quoting_do_not_count_as_differences():
    sqlite = [{"sql": "UPDATE users SET name=? WHERE users.id = ?", "connection": "session"}]
    postgresql = [
        {
            "sql": "UPDATE users SET name=%(name)s::VARCHAR WHERE users.id = %(id_1)s::INTEGER",
            "connection": "session",
        }
    ]
    mariadb = [{"sql": "UPDATE users SET name=%s WHERE users.id = %s", "connection": "session"}]
    assert (
        dialects.comparable_statements(sqlite)
        == dialects.comparable_statements(postgresql)
        == dialects.comparable_statements(mariadb)
    )


def test_full_build_tabs_mark_the_databases_that_sent_other_statements(monkeypatch):
    fetch = [
        {
            "sql": "UPDATE users SET status=? WHERE users.status = ? RETURNING users.id",
            "connection": "session",
        }
    ]
    select_then_update = [
        {"sql": "SELECT users.id FROM users WHERE users.status = %s", "connection": "session"},
        {"sql": "UPDATE users SET status=%s WHERE users.status = %s", "connection": "session"},
    ]
    returning = [
        {
            "sql": "UPDATE users SET status=%(status)s::VARCHAR WHERE users.status = "
            "%(status_1)s::VARCHAR RETURNING users.id",
            "connection": "session",
        }
    ]
    databases = (
        {"database": "PostgreSQL 15.18", "examples": {"myths/a.py": {"7": returning}}},
        {"database": "MariaDB 10.11.19", "examples": {"myths/a.py": {"7": select_then_update}}},
    )
    monkeypatch.setattr(dialects, "other_databases", lambda: databases)
    rst = dialects.dialect_tabs_rst("/site/examples/myths/a.py", 7, fetch)
    assert ".. container:: sql-dialects sql-dialects-differ" in rst
    labels = [line.strip() for line in rst.splitlines() if ".. tab-item::" in line]
    assert labels == [
        f".. tab-item:: SQLite {sqlite3.sqlite_version}",
        ".. tab-item:: PostgreSQL 15.18",
        ".. tab-item:: MariaDB 10.11.19 (differs)",
    ]
    assert "            SELECT users.id FROM users WHERE users.status = %s" in rst
    assert dialects.dialect_tabs_rst("/site/examples/myths/b.py", 7, []) == ""


def test_a_recording_older_than_its_example_fails_the_build(monkeypatch):
    databases = ({"database": "PostgreSQL 15.18", "examples": {"myths/a.py": {"7": []}}},)
    monkeypatch.setattr(dialects, "other_databases", lambda: databases)
    with pytest.raises(RuntimeError, match="has no cell at line 9: the example changed since"):
        dialects.dialect_tabs_rst("/site/examples/myths/a.py", 9, [])


def test_recording_and_state_run_without_sphinx():
    """What issue 12 ships to the browser: recording and state need SQLAlchemy alone."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import session_sync.recording, session_sync.state;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sphinx', 'sphinx_gallery',"
        " 'docutils', 'session_sync_capture'}))"
    )
    run = subprocess.run(
        [sys.executable, "-I", "-c", code, str(ROOT / "sphinxext")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert run.stdout.strip() == "[]", run.stdout


# ---------------------------------------------------------------------------
# Relationships in the state table: loaded or not, by identity, never loaded for the table
# ---------------------------------------------------------------------------


def relationships_of(table: dict, label: str) -> list[str]:
    row = next(r for r in table["rows"] if r["object"] == label)
    return row["relationships"].split("\n")


def test_relationships_not_loaded_loaded_and_expired(engine, capturing):
    with Session(engine) as session:
        session.add(User(id=1, name="spongebob", addresses=[Address(id=1, email="a@b.c")]))
        session.commit()
        user = session.get(User, 1)
        sent_before = len(capturing())
        table = state_table()
        assert len(capturing()) == sent_before, "reading relationships sent no SQL"
        assert relationships_of(table, "User(id=1)") == ["addresses: not loaded"]
        assert "addresses" not in inspect(user).dict, "and loaded nothing"
        address = user.addresses[0]  # the lazy load
        table = state_table()
        assert relationships_of(table, "User(id=1)") == ["addresses: [Address(id=1)]"]
        assert relationships_of(table, "Address(id=1)") == ["user: not loaded"]
        assert address.user is user  # from the identity map: no SQL, now in the dict
        assert relationships_of(state_table(), "Address(id=1)") == ["user: User(id=1)"]
        session.expire(user)
        table = state_table()
        assert relationships_of(table, "User(id=1)") == ["addresses: not loaded (expired)"]
        row = next(r for r in table["rows"] if r["object"] == "User(id=1)")
        assert row["expired"] == "id, name, addresses"
        assert "addresses" not in row["loaded"], "column values only in Loaded values"


def test_pending_and_deleted_members_are_marked(engine, capturing):
    with Session(engine) as session:
        session.add(User(id=1, name="spongebob", addresses=[Address(id=1, email="a@b.c")]))
        session.commit()
        user = session.get(User, 1)
        user.addresses.append(Address(id=2, email="new@b.c"))
        table = state_table()
        assert relationships_of(table, "User(id=1)") == [
            "addresses: [Address(id=1), Address (pending)]"
        ]
        row = next(r for r in table["rows"] if r["object"] == "User(id=1)")
        assert row["changes"] == "addresses: +Address (pending)", "an append, not a new value"
        session.delete(user.addresses[0])
        session.flush()
        assert relationships_of(state_table(), "User(id=1)") == [
            "addresses: [Address(id=1) (deleted), Address(id=2)]"
        ]


def test_transient_members_and_an_empty_many_to_one():
    with_user = Address(email="a@b.c", user=User(name="spongebob"))
    row = state.describe_object(with_user.user)
    assert row["relationships"] == "addresses: [Address (transient)]"
    assert state.describe_object(Address(email="x")).get("relationships") == "user: not loaded"


def test_a_set_collection_is_shown_in_a_stable_order():
    members = {Address(id=number, email="x") for number in (3, 1, 2)}
    labels = [state.related_label(member) for member in state.collection_members(members)]
    assert labels == ["Address (transient)"] * 3
    assert state.collection_members({"b": 2, "a": 1}) == [2, 1], "a dict's values, in order"


def test_the_relationships_column_appears_only_for_objects_that_have_some():
    def rendered_titles(rows):
        table_rst = json.dumps({"rows": rows, "not_shown": 0})
        directive = rendering.OrmStateDirective(
            "orm-state", [], {}, [table_rst], 1, 0, "", None, SimpleNamespace(reporter=None)
        )
        (box,) = directive.run()
        return [entry.astext() for entry in box.findall(nodes.entry)][:6]

    plain = {"object": "A", "state": "transient", "expired": "", "changes": "", "loaded": ""}
    assert "Relationships" not in rendered_titles([dict(plain, changed=True)])
    with_relationships = dict(plain, changed=True, relationships="bs: not loaded")
    assert rendered_titles([with_relationships])[-1] == "Relationships"


# ---------------------------------------------------------------------------
# asyncio: AsyncEngine and AsyncSession work through the Engine and Session they wrap
# ---------------------------------------------------------------------------

ASYNC_EXAMPLE = ROOT / "tests" / "fixtures" / "async_cells.py"


def marked_lines(text: str) -> list:
    """Printed lines as they are, SQL lines as their statement."""
    return [
        json.loads(line[len(recording.SQL_MARKER) :])["sql"]
        if line.startswith(recording.SQL_MARKER)
        else line
        for line in text.splitlines()
    ]


def where_no_event_loop_runs(test):
    """Run the test in a thread of its own. A build runs examples where no event loop runs, but
    Playwright's sync API (the browser tests, earlier in the same pytest process) leaves one
    running in the main thread, and asyncio.Runner refuses to start inside it."""

    @functools.wraps(test)
    def in_a_thread(*args, **kwargs):
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(test, *args, **kwargs).result()

    return in_a_thread


@contextlib.contextmanager
def capturing_on_one_runner():
    """The capture layer installed as for one example, and the example's asyncio.Runner."""
    build_hooks.reset({}, "example.py", "before")
    runner = asyncio.Runner()
    try:
        yield runner
    finally:
        runner.close()
        build_hooks.reset({}, "example.py", "after")


async def close(engine, *sessions):
    for session in sessions:
        await session.close()
    await engine.dispose()


@where_no_event_loop_runs
def test_class_level_listeners_fire_for_async_engines_and_sessions(capsys):
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    with capturing_on_one_runner() as runner:
        engine = create_async_engine("sqlite+aiosqlite://")
        setup = AsyncSession(engine)
        session = AsyncSession(engine)

        async def step():
            async with engine.begin() as connection:
                await connection.run_sync(Base.metadata.create_all)
            setup.add(User(id=1, name="spongebob"))
            await setup.commit()
            print("between")
            user = await session.get(User, 1)
            print("got", user.name)
            await session.commit()  # expires user: reading user.name now would need a load
            return user

        user = runner.run(step())
        lines = marked_lines(capsys.readouterr().out)
        # Reading state after the commit: no MissingGreenlet, and no SQL (it would fail here).
        cell = recording.end_cell()
        table = cell.state_table
        assert inspect(user).expired_attributes == {"id", "name", "addresses"}
        runner.run(close(engine, setup, session))
    statements = [line for line in lines if line not in ("between", "got spongebob")]
    assert "INSERT INTO users (id, name) VALUES (?, ?)" in statements, "Engine events fired"
    assert [record["sql"] for record in cell.records] == statements, "the cell's records"
    first_select = next(i for i, line in enumerate(lines) if line.startswith("SELECT users"))
    assert lines.index("between") < first_select < lines.index("got spongebob")
    assert lines[-2:] == ["got spongebob", "COMMIT"], "prints and SQL in true order"
    row = next(r for r in table["rows"] if r["object"] == "User(id=1)")
    assert row["expired"] == "id, name, addresses"
    assert row["relationships"] == "addresses: not loaded (expired)"


@where_no_event_loop_runs
def test_an_async_session_is_named_by_its_variable(capsys):
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    with capturing_on_one_runner() as runner:
        engine = create_async_engine("sqlite+aiosqlite://")
        session, setup = AsyncSession(engine), AsyncSession(engine)

        async def step():
            await setup.execute(select(1))
            await session.execute(select(2))
            assert setup.sync_session is not session.sync_session

        runner.run(step())
        runner.run(close(engine, setup, session))
    labels = [(r["sql"].split()[0], r["connection"]) for r in sql_records(capsys.readouterr().out)]
    assert labels == [
        ("BEGIN", 'session "setup"'),
        ("SELECT", 'session "setup"'),
        ("BEGIN", "session"),
        ("SELECT", "session"),
        ("ROLLBACK", 'session "setup"'),
        ("ROLLBACK", "session"),
    ]


@where_no_event_loop_runs
def test_an_async_example_runs_its_cells_on_one_runner_through_the_scraper(capsys, tmp_path):
    """The fixture example run as Sphinx-Gallery runs it (one namespace, cell after cell, the
    scraper after each), with the event loop of its one asyncio.Runner spanning the cells."""
    from sphinx_gallery.py_source_parser import split_code_and_text_blocks

    _, blocks = split_code_and_text_blocks(str(ASYNC_EXAMPLE))
    namespace = {"__name__": "__main__"}
    build_hooks.reset({}, str(ASYNC_EXAMPLE), "before")
    tables = []
    try:
        for block in blocks:
            if block.type != "code":
                continue
            padded = "\n" * (block.lineno - 1) + block.content
            exec(compile(padded, str(ASYNC_EXAMPLE), "exec"), namespace)
            rst = build_hooks.scrape_cell(block, {"src_file": str(ASYNC_EXAMPLE)}, {})
            tables.append(json.loads(rst.split("\n\n   ", 1)[1]) if rst else None)
    finally:
        build_hooks.reset({}, str(ASYNC_EXAMPLE), "after")
    lines = marked_lines(capsys.readouterr().out)
    before, after = lines.index("before commit"), lines.index("after commit")
    assert lines[before + 1 : after] == [
        "BEGIN (implicit)",
        *lines[before + 2 : after - 1],
        "COMMIT",
    ]
    assert any(line.startswith("INSERT INTO users") for line in lines[before:after])
    pending, committed, loaded, appended = (
        {row["object"]: row for row in table["rows"]} for table in tables[1:5]
    )
    assert pending["User (no key yet)"]["relationships"] == "addresses: [Address (pending)]"
    assert committed["User(id=1)"]["relationships"] == "addresses: not loaded (expired)"
    assert loaded["User(id=1)"]["relationships"] == "addresses: [Address(id=1)]"
    assert appended["User(id=1)"]["relationships"] == (
        "addresses: [Address(id=1), Address (pending)]"
    )
    assert namespace["runner"]._loop is None, "the example closed its runner at the end"


# ---------------------------------------------------------------------------
# Verified claims: the hidden asserts that passed, recorded without tracing
# ---------------------------------------------------------------------------

CLAIMS_CELL = """\
x = 2
# sphinx_gallery_start_ignore
assert x == 2, f"x is {x}"
if x == 3:
    assert x == 3, "another database's claim"
for n in (1, 2):
    assert n > 0, f"{n} is positive"
    assert x, "x is set"
# sphinx_gallery_end_ignore
assert x > 1, "a visible claim, seen on the page"
"""


def run_instrumented(source: str, namespace: dict) -> None:
    import ast

    from session_sync import claims

    tree = claims.instrument(ast.parse(source), claims.hidden_lines(source))
    namespace[claims.RECORDER_NAME] = recording.record_claim
    namespace[claims.STARTER_NAME] = recording.assert_starts
    namespace[claims.BLOCK_NAME] = claims.HiddenBlock
    exec(compile(tree, "example.py", "exec"), namespace)


def test_only_hidden_asserts_that_ran_and_passed_are_claims(capturing):
    run_instrumented(CLAIMS_CELL, {})
    cell = recording.end_cell()
    assert cell.claims == [
        {"line": 3, "claim": "x is 2"},
        {"line": 7, "claim": "1 is positive"},
        {"line": 8, "claim": "x is set"},
        {"line": 7, "claim": "2 is positive"},
    ]
    assert recording.end_cell().claims == [], "each cell lists its own claims"


def test_a_failing_hidden_assert_still_fails_at_its_line(capturing):
    source = "# sphinx_gallery_start_ignore\nassert 1 == 2, 'one is two'\n"
    with pytest.raises(AssertionError, match="one is two") as failure:
        run_instrumented(source, {})
    assert failure.traceback[-1].lineno + 1 == 2
    assert recording.end_cell().claims == []


HIDDEN_ASSERT_SENDING_SQL = """\
from sqlalchemy import create_engine, text
engine = create_engine("sqlite://")
connection = engine.connect()
seen = connection.execute(text("SELECT 1")).scalar_one()
# sphinx_gallery_start_ignore
assert seen == 1, "the visible query saw 1"
assert connection.execute(text("SELECT 2")).scalar_one() == 2, "a hidden query sees 2"
# sphinx_gallery_end_ignore
"""


def test_a_hidden_assert_that_sends_sql_fails_at_its_line(capturing):
    with pytest.raises(AssertionError, match="hidden assert at line 7 sent 1 SQL") as failure:
        run_instrumented(HIDDEN_ASSERT_SENDING_SQL, {})
    assert "SELECT 2" in str(failure.value), "the message names the statement"
    assert failure.traceback[-2].lineno + 1 == 7, "the traceback points at the assert"
    cell = recording.end_cell()
    assert cell.claims == [{"line": 6, "claim": "the visible query saw 1"}]


def test_a_hidden_assert_reading_loaded_state_sends_nothing_and_passes(capturing):
    source = HIDDEN_ASSERT_SENDING_SQL.replace(
        'connection.execute(text("SELECT 2")).scalar_one() == 2', "seen + 1 == 2"
    )
    run_instrumented(source, {})
    assert [c["line"] for c in recording.end_cell().claims] == [6, 7]


def test_claims_are_listed_under_the_cell(capturing):
    run_instrumented(CLAIMS_CELL, {})
    rst = build_hooks.scrape_cell(SimpleNamespace(lineno=1), {}, {})
    assert ".. verified-claims::" in rst
    directive = rendering.VerifiedClaimsDirective(
        "verified-claims",
        [],
        {},
        rst.split("\n\n   ", 1)[1].splitlines(),
        1,
        0,
        "",
        None,
        SimpleNamespace(reporter=None),
    )
    (box,) = directive.run()
    assert box.astext().splitlines()[0] == rendering.CLAIMS_CAPTION
    assert [item.astext() for item in box.findall(nodes.list_item)][:2] == [
        "x is 2",
        "1 is positive",
    ]


# ---------------------------------------------------------------------------
# SQL notes: the statement that matters, from the statements and their order
# ---------------------------------------------------------------------------


def box_notes(records):
    text, marked, notes = rendering.highlighted_lines(records)
    lines = text.split("\n")
    return [lines[n - 1] for n in marked], notes


def test_fetch_without_returning_marks_the_select_with_the_updates_where():
    records = [
        {"sql": "BEGIN (implicit)", "connection": "session"},
        {"sql": "SELECT users.id FROM users WHERE users.status = %s", "connection": "session"},
        {
            "sql": "UPDATE users SET status=%s WHERE users.status = %s",
            "connection": "session",
            "origin": "fetch",
        },
        {"sql": "COMMIT", "connection": "session"},
    ]
    marked, notes = box_notes(records)
    assert marked == ["SELECT users.id FROM users WHERE users.status = %s"]
    assert notes == [
        "'fetch' asks which rows match first: this SELECT has the UPDATE's own WHERE clause "
        "(no UPDATE ... RETURNING used)."
    ]
    other_where = [records[1], {**records[2], "sql": "UPDATE users SET x=%s WHERE users.id = %s"}]
    assert box_notes(other_where) == ([], []), "a SELECT of other rows is not 'fetch'"
    flush = [records[1], {**records[2], "origin": None}]
    assert box_notes(flush) == ([], []), "nor is a load followed by a flush's UPDATE"


def test_fetch_on_a_database_without_update_returning_is_recorded_and_marked(capturing):
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    engine.dialect.update_returning = False  # as on MariaDB
    with Session(engine) as session:
        session.add(User(id=1, name="a"))
        session.flush()
        capturing()
        session.execute(
            update(User).where(User.name == "a").values(name="b"),
            execution_options={"synchronize_session": "fetch"},
        )
    records = [r for r in capturing() if r["sql"] not in ("COMMIT", "ROLLBACK")]
    marked, notes = box_notes(records)
    assert [line.split()[0] for line in marked] == ["SELECT", "FROM", "WHERE"]
    assert notes[0].startswith("'fetch' asks which rows match first")


def test_returning_marks_only_its_clause(engine, capturing):
    with Session(engine) as session:
        session.add(User(id=1, name="a"))
        session.flush()
        session.execute(
            update(User).where(User.name == "a").values(name="b"),
            execution_options={"synchronize_session": "fetch"},
        )
    records = capturing()
    marked, notes = box_notes(records)
    if engine.dialect.update_returning:
        assert len(marked) == 1 and "RETURNING" in marked[0] and marked[0].startswith("UPDATE")
        assert notes == [
            "RETURNING: the UPDATE sends back the matched rows' id in its own result: 'fetch' "
            "learns from it which rows matched."
        ]
    html_block = rendering.sql_box_nodes(records)[0][0]
    assert html_block["highlight_args"]["hl_lines"], "the box highlights the statement"


def test_loads_of_expired_attributes_and_lazy_loads_are_named(engine, capturing):
    with Session(engine) as session:
        session.add(User(id=1, name="a"))
        session.commit()
        user = session.get(User, 1)
        session.expire(user)
        capturing()
        user.name  # noqa: B018
        user.addresses  # noqa: B018
    records = [r for r in capturing() if r.get("origin")]
    assert [r["origin"] for r in records] == ["refresh", "lazy"]
    _, notes = box_notes(records)
    assert notes[0].startswith("The ORM loads attributes not in memory (expired;")
    assert notes[1].startswith("A relationship's rows, loaded on their own: a lazy load")


def test_full_build_tabs_carry_the_same_notes(monkeypatch):
    select_then_update = [
        {"sql": "SELECT users.id FROM users WHERE users.status = %s", "connection": "session"},
        {
            "sql": "UPDATE users SET status=%s WHERE users.status = %s",
            "connection": "session",
            "origin": "fetch",
        },
    ]
    databases = (
        {"database": "MariaDB 10.11.19", "examples": {"myths/a.py": {"7": select_then_update}}},
    )
    monkeypatch.setattr(dialects, "other_databases", lambda: databases)
    rst = dialects.dialect_tabs_rst("/site/examples/myths/a.py", 7, select_then_update[1:])
    assert "            :emphasize-lines: 1" in rst
    assert "         .. rst-class:: sql-note" in rst
    assert "'fetch' asks which rows match first" in rst


# ---------------------------------------------------------------------------
# State tables: only values that changed since the object's previous table are marked
# ---------------------------------------------------------------------------


def test_only_changed_values_are_marked_and_a_first_appearance_is_not(engine, capturing):
    with Session(engine) as session:
        user = User(id=1, name="a")
        session.add(user)
        first = state_table()
        assert "new" not in first["rows"][0], "a first appearance is not a change"
        session.flush()
        second = state_table()["rows"][0]
        # Pending became persistent, its unflushed changes went (the dash is marked); the
        # loaded name='a' stayed, unmarked.
        assert second["new"] == {"state": [0], "changes": [-1]}
        user.name = "b"
        third = state_table()["rows"][0]
        assert set(third["new"]) == {"changes", "loaded"}
        assert third["new"]["loaded"] == [third["loaded_items"].index("name='b'")]
        paragraph = rendering.state_cell(third, "loaded")
        marked = [n.astext() for n in paragraph.findall(nodes.inline)]
        assert marked == ["name='b'"]
        assert paragraph.astext() == third["loaded"]


def a_user_born_at(address: int) -> User:
    """A new User at the address (the ``id()``) of one that died, as the collector's reuse of
    memory makes one in some processes and not in others: CPython hands the last freed block
    of a size to the next object of that size."""
    fillers = []
    for _ in range(100_000):
        filler = User.__new__(User)  # no __init__: no ORM state, not tracked
        if id(filler) == address:
            break
        fillers.append(filler)
    del filler  # the block at `address` is now the first free one of its size
    user = User()  # no keyword arguments: their dict, of the same size, would take the block
    del fillers
    return user


@pytest.mark.parametrize("name", ["bob", "alice"])
def test_a_new_object_at_a_dead_objects_address_is_a_first_appearance(capturing, name):
    """Which object gets a dead object's id() depends on the process (the directory the site
    is built in, the examples run before, a parallel build's worker), not on the example: a new
    object there is still a first appearance, changed and unmarked, whatever its values."""
    first = User()
    first.name = "alice"
    assert state_table()["rows"][0]["loaded"] == "name='alice'"
    address, gone = id(first), weakref.ref(first)
    del first
    gc.collect()
    assert gone() is None
    second = a_user_born_at(address)
    assert id(second) == address, "setup: the new User did not get the dead one's address"
    second.name = name
    table = state_table()
    assert table is not None, "a new object is a change, even with the dead one's values"
    (row,) = table["rows"]
    assert (row["loaded"], row["changed"]) == (f"name={name!r}", True)
    assert "new" not in row, "a first appearance is not a change since another object's table"


# The fetch cell of synchronize_session/four_strategies.py as dialect_capture.py recorded it on
# MariaDB 10.11 (no UPDATE ... RETURNING there): the full build's MariaDB tab.
MARIADB_FETCH_CELL = [
    {"sql": "BEGIN (implicit)", "connection": "session"},
    {
        "sql": "SELECT users.id, users.name, users.status \nFROM users ORDER BY users.id",
        "connection": "session",
    },
    {
        "sql": "SELECT users.id \nFROM users \nWHERE users.status = %(status_1)s",
        "connection": "session",
        "parameters": "{'status_1': 'active'}",
        "origin": "fetch",
    },
    {
        "sql": "UPDATE users SET status=%(status)s WHERE users.status = %(status_1)s",
        "connection": "session",
        "parameters": "{'status': 'archived', 'status_1': 'active'}",
        "origin": "fetch",
    },
    {"sql": "ROLLBACK", "connection": "session"},
]


def test_a_recorded_mariadb_fetch_cell_marks_its_key_select_in_the_tab(monkeypatch):
    marked, notes = box_notes(MARIADB_FETCH_CELL)
    assert marked == ["SELECT users.id ", "FROM users ", "WHERE users.status = %(status_1)s"]
    assert len(notes) == 1 and notes[0].startswith("'fetch' asks which rows match first")
    databases = (
        {
            "database": "MariaDB 10.11.19",
            "examples": {"synchronize_session/four_strategies.py": {"104": MARIADB_FETCH_CELL}},
        },
    )
    monkeypatch.setattr(dialects, "other_databases", lambda: databases)
    rst = dialects.dialect_tabs_rst("/x/examples/synchronize_session/four_strategies.py", 104, [])
    mariadb_tab = rst.split(".. tab-item:: MariaDB")[1]
    assert ":emphasize-lines: 4,5,6" in mariadb_tab  # after BEGIN and a 2-line SELECT
    assert "'fetch' asks which rows match first" in mariadb_tab


@pytest.mark.parametrize(
    "conflict",
    [
        "ON CONFLICT (id) DO UPDATE SET name = excluded.name, visits = (users.visits + ?)",
        "ON DUPLICATE KEY UPDATE name = VALUES(name), visits = (users.visits + %s)",
    ],
)
def test_an_upserts_returning_is_not_said_to_send_back_new_rows(conflict):
    # A conflicting row is not new: RETURNING sends back the existing row as its UPDATE left
    # it (probe upsert_returning.py: one row in the table, returned as updated).
    sql = f"INSERT INTO users (id, name, visits) VALUES (?, ?, ?) {conflict} "
    sql += "RETURNING users.id, users.name, users.visits"
    _, notes = box_notes([{"sql": sql, "connection": "session"}])
    assert notes == [
        "RETURNING: the upsert sends back the users.id, users.name, users.visits of the rows it "
        "inserted or updated (a conflicting row as its UPDATE left it) in its own result."
    ]
    plain = "INSERT INTO users (id) VALUES (?) ON CONFLICT (id) DO NOTHING RETURNING users.id"
    _, notes = box_notes([{"sql": plain, "connection": "session"}])
    assert notes == ["RETURNING: the INSERT sends back the new rows' users.id in its own result."]


def test_only_objects_whose_rows_a_flush_wrote_are_marked_never_committed(engine, capturing):
    with Session(engine) as setup:
        setup.add_all([User(id=1, name="u1"), User(id=2, name="u2")])
        setup.add_all([Address(id=1, email="a", user_id=1), Address(id=2, email="b", user_id=1)])
        setup.commit()
    with Session(engine) as session:
        address, u1, u2 = session.get(Address, 1), session.get(User, 1), session.get(User, 2)
        u1.addresses, u2.addresses
        address.user = u2  # the flush writes the address's row; the users' stay as they are
        session.flush()
        expired = session.get(Address, 2)
        expired.user_id = 2
        session.expire(expired, ["user_id"])  # still in session.dirty, with nothing to write
        assert expired in session.dirty
        session.flush()
    notes = {row["object"]: row.get("note") for row in state_table()["rows"]}
    assert notes["Address(id=1)"] == state.NEVER_COMMITTED_NOTE
    assert notes["User(id=1)"] is None and notes["User(id=2)"] is None, "only collections changed"
    assert notes["Address(id=2)"] is None, "its change was expired away: the flush sent nothing"


class Employee(Base):
    __tablename__ = "employees"
    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(20))
    __mapper_args__ = {"polymorphic_on": "type", "polymorphic_identity": "employee"}


class Engineer(Employee):
    __tablename__ = "engineers"
    id: Mapped[int] = mapped_column(ForeignKey("employees.id"), primary_key=True)
    language: Mapped[str] = mapped_column(String(20))
    __mapper_args__ = {"polymorphic_identity": "engineer"}


def test_a_subclass_column_never_loaded_is_not_said_to_be_expired(capturing):
    # get() of the base class leaves the joined subclass's columns unloaded; reading one sends
    # a SELECT with the same "refresh" origin as a read after expiry (probe
    # joined_subclass_load.py), so the note must hold for both.
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(Engineer(id=1, language="py"))
        session.commit()
    with Session(engine) as session:
        employee = session.get(Employee, 1)
        capturing()
        employee.language  # noqa: B018
    records = [r for r in capturing() if r.get("origin")]
    assert [r["origin"] for r in records] == ["refresh"]
    assert "engineers.language" in records[0]["sql"]
    _, notes = box_notes(records)
    assert notes == [
        "The ORM loads attributes not in memory (expired; never loaded, as a subclass's or a "
        "deferred column; or named by refresh()): a SELECT by primary key."
    ]
