"""A hidden block (``# sphinx_gallery_start_ignore`` ... ``end_ignore``) must not change what
the page shows: the docs build fails when one prints, sends SQL other than schema set-up, or
changes the state table (claims.HiddenBlock). Fast: no site build, tiny SQLite cells run the way
the build runs them (claims.instrument, the capture layer recording)."""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "sphinxext"))

from session_sync import claims, recording, state  # noqa: E402

SETUP = """\
from sqlalchemy import String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


engine = create_engine("sqlite://")
# sphinx_gallery_start_ignore
Base.metadata.drop_all(engine)
# sphinx_gallery_end_ignore
Base.metadata.create_all(engine)
session = Session(engine)
session.add(User(id=1, name="alice"))
session.commit()
user = session.get(User, 1)
"""


@pytest.fixture
def run_cell():
    """Runs source as the docs build runs a cell: hidden asserts and blocks instrumented, the
    recording on; returns what the cell printed."""
    recording.start_recording(recording.SqlTranscript(), state.ObjectTracker())
    namespace = {"__name__": "__main__"}
    claims.install(namespace, recording.record_claim, recording.assert_starts)

    def run(source: str, capsys) -> str:
        tree = claims.instrument(ast.parse(source), claims.hidden_lines(source))
        exec(compile(tree, "example.py", "exec"), namespace)
        printed = capsys.readouterr().out
        return "".join(
            line + "\n" for line in printed.splitlines() if recording.SQL_MARKER not in line
        )

    yield run
    recording.stop_recording()


def hidden(*lines: str) -> str:
    return "\n".join(["# sphinx_gallery_start_ignore", *lines, "# sphinx_gallery_end_ignore", ""])


def test_hidden_checks_and_schema_setup_pass(run_cell, capsys):
    source = SETUP + "print(user.name)\n" + hidden('assert user.name == "alice", "loaded"')
    assert run_cell(source, capsys) == "alice\n"
    assert recording.end_cell().claims == [{"line": 26, "claim": "loaded"}]


def test_a_hidden_print_fails_the_block(run_cell, capsys):
    source = SETUP + hidden('print("from hidden code")', 'assert user.name == "alice"')
    with pytest.raises(AssertionError, match=r"hidden block at lines 25-26 printed") as error:
        run_cell(source, capsys)
    assert "'from hidden code\\n'" in str(error.value)
    assert sys.stdout is not None and "Watched" not in type(sys.stdout).__name__


def test_a_hidden_helper_that_prints_fails_the_block(run_cell, capsys):
    source = (
        SETUP
        + "def names():\n    found = [user.name]\n    print(found)\n    return found\n"
        + hidden('assert names() == ["alice"], "read"')
    )
    with pytest.raises(AssertionError, match=r"hidden block at lines 29-29 printed"):
        run_cell(source, capsys)


def test_a_hidden_close_fails_the_block(run_cell, capsys):
    """The reviewer's case: a hidden clean-up makes the last state table say "detached" and
    adds a ROLLBACK to the SQL box."""
    source = SETUP + "user.name\n" + hidden("session.close()", "engine.dispose()")
    with pytest.raises(AssertionError) as error:
        run_cell(source, capsys)
    message = str(error.value)
    assert "hidden block at lines 26-27" in message
    assert "ROLLBACK" in message
    assert "User(id=1): state 'persistent' -> 'detached'" in message


def test_a_visible_close_then_a_hidden_dispose_passes(run_cell, capsys):
    run_cell(SETUP + "session.close()\n" + hidden("engine.dispose()"), capsys)


def test_a_hidden_del_of_a_shown_object_fails_the_block(run_cell, capsys):
    source = SETUP + "session.close()\n" + hidden("del user")
    with pytest.raises(AssertionError, match=r"User\(id=1\) went away"):
        run_cell(source, capsys)


def test_a_hidden_change_without_sql_fails_the_block(run_cell, capsys):
    """No statement, yet the next state table would show an unflushed change no visible code
    made (so would a many-to-one loaded from the identity map by a hidden read)."""
    source = SETUP + "user.name\n" + hidden('user.name = "bob"')
    with pytest.raises(AssertionError, match=r"changed the state table: User\(id=1\)"):
        run_cell(source, capsys)


def test_an_error_inside_a_hidden_block_is_the_error_raised(run_cell, capsys):
    real = sys.stdout
    with pytest.raises(AssertionError, match="^one is two$"):
        run_cell(SETUP + hidden('print("partial")', "assert 1 == 2, 'one is two'"), capsys)
    assert sys.stdout is real, "stdout is given back"


def test_hidden_blocks_inside_functions_and_loops_are_guarded(run_cell, capsys):
    source = (
        SETUP
        + "for n in (1, 2):\n"
        + "    if n:\n"
        + "        # sphinx_gallery_start_ignore\n"
        + "        print(n)\n"
        + "        # sphinx_gallery_end_ignore\n"
        + "        pass\n"
    )
    with pytest.raises(AssertionError, match=r"hidden block at lines 27-27 printed '1\\n'"):
        run_cell(source, capsys)


def test_without_a_recording_a_hidden_block_does_nothing(capsys):
    namespace = {}
    claims.install(namespace, recording.record_claim, recording.assert_starts)
    source = hidden('print("standalone")')
    tree = claims.instrument(ast.parse(source), claims.hidden_lines(source))
    exec(compile(tree, "example.py", "exec"), namespace)
    assert capsys.readouterr().out == "standalone\n"
