"""Every claim an example makes is an `assert` that can fail and says what it claims.

An AST lint over examples/: no assert without a message, no message that is not a sentence
(a string literal or an f-string with words in it), and no condition that holds whatever the
example did (a constant, `... or True`, a value compared with itself, a non-empty literal).

What the lint cannot see, because it depends on the values, is caught as the examples run
(tests/record_example.py, in the `recordings` every page is compared with): a hidden assert's
comparison that holds or fails whatever the example did, such as a word looked for in a list
of whole SQL strings (`"UPDATE" not in statements`).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import record_example

from sitebuild import EXAMPLES, ROOT

EXAMPLE_FILES = sorted((ROOT / "examples").rglob("*.py"))
# A value compared with itself by one of these holds (NaN aside, which no example relies on).
SELF_COMPARISONS = (ast.Eq, ast.Is, ast.GtE, ast.LtE)


def message_problem(message: ast.expr | None) -> str | None:
    if message is None:
        return "has no message"
    if isinstance(message, ast.Constant) and isinstance(message.value, str):
        text = message.value
    elif isinstance(message, ast.JoinedStr):
        text = "".join(part.value for part in message.values if isinstance(part, ast.Constant))
    else:
        return f"has a message that is not a string literal or f-string: {ast.unparse(message)}"
    if not any(word.isalpha() and len(word) > 1 for word in text.split()):
        return f"has a message that states no claim: {ast.unparse(message)}"
    return None


def always_true(condition: ast.expr) -> bool:
    """True when the condition holds whatever the example did before it."""
    if isinstance(condition, ast.Constant):
        return True
    if isinstance(condition, (ast.Tuple, ast.List, ast.Set, ast.Dict)):
        elements = condition.keys if isinstance(condition, ast.Dict) else condition.elts
        return bool(elements)  # a non-empty literal is truthy; an empty one never passes
    if isinstance(condition, ast.JoinedStr):
        return any(isinstance(p, ast.Constant) and p.value for p in condition.values)
    if isinstance(condition, ast.BoolOp):
        if isinstance(condition.op, ast.Or):
            return any(always_true(value) for value in condition.values)
        return all(always_true(value) for value in condition.values)
    if isinstance(condition, ast.Compare):
        left = ast.dump(condition.left)
        for op, right in zip(condition.ops, condition.comparators, strict=True):
            if isinstance(op, SELF_COMPARISONS) and ast.dump(right) == left:
                return True
            left = ast.dump(right)
    return False


def assert_problems(path: Path) -> list[str]:
    problems = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if not isinstance(node, ast.Assert):
            continue
        where = f"{path.name}:{node.lineno}"
        problem = message_problem(node.msg)
        if problem:
            problems.append(f"{where}: the assert {problem}")
        if always_true(node.test):
            problems.append(f"{where}: the assert cannot fail: {ast.unparse(node.test)}")
    return problems


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_assert_states_its_claim_and_can_fail(path):
    assert not assert_problems(path), "\n".join(assert_problems(path))


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_example_asserts_something(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert any(isinstance(node, ast.Assert) for node in ast.walk(tree)), "an example with no claim"


@pytest.mark.parametrize(
    "source",
    [
        "assert x == 1",
        "assert x == 1, ''",
        "assert x == 1, '  '",
        "assert x == 1, 42",
        "assert x == 1, message",
        "assert x == 1, f'{x}'",
        "assert True, 'always'",
        "assert 1, 'always'",
        "assert 'text', 'always'",
        "assert x == 1 or True, 'always'",
        "assert (x == 1) or (True and 1), 'always'",
        "assert x == x, 'always'",
        "assert user.name is user.name, 'always'",
        "assert 0 < x == x, 'always'",
        "assert (x, 'why'), 'a tuple is always true'",
        "assert [x], 'a non-empty list is always true'",
    ],
)
def test_the_lint_refuses_a_vacuous_or_silent_assert(tmp_path, source):
    (tmp_path / "example.py").write_text(f"x = y = user = message = None\n{source}\n")
    problems = assert_problems(tmp_path / "example.py")
    assert problems, f"the lint let `{source}` through"


@pytest.mark.parametrize(
    "source",
    [
        "assert x == 1, 'x is one'",
        "assert x == 1, f'x is {x}, not one'",
        "assert x == y, 'x equals y'",
        "assert not x, 'x is empty'",
        "assert x is None or x == 1, 'x is unset or one'",
    ],
)
def test_the_lint_accepts_an_honest_assert(tmp_path, source):
    (tmp_path / "example.py").write_text(f"x = y = None\n{source}\n")
    assert not assert_problems(tmp_path / "example.py"), source


def _hide_asserts():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "hide_asserts", ROOT / "tools" / "hide_asserts.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_assert_is_hidden_from_the_page(path):
    """The page lists what the asserts proved under each cell; the code shows the lesson.
    ``python tools/hide_asserts.py FILE`` wraps what is left in ignore blocks."""
    source = path.read_text(encoding="utf-8")
    assert _hide_asserts().transform(source) == source, "an assert (or clean-up) is shown"


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_session_close_is_hidden(path):
    """Closing a session changes what the state tables show (it detaches the objects it
    holds), so the reader sees the call: a ``session.close()`` is never inside an ignore
    block; the clean-up that closes the session at the end is a visible last cell."""
    import re

    hidden, inside = [], False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip() == "# sphinx_gallery_start_ignore":
            inside = True
        elif line.strip() == "# sphinx_gallery_end_ignore":
            inside = False
        elif inside and re.search(r"\bsession\w*\.close\(\)", line):
            hidden.append(number)
    assert not hidden, f"session.close() hidden on line(s) {hidden}"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_hidden_assert_compares_what_cannot_differ(recordings, example):  # noqa: F811
    """A hidden assert's `in` / `==` that holds whatever the example did is listed as verified
    on the page all the same: the run names each (file, line, the operands as they were)."""
    found = recordings[example]["vacuous_comparisons"]
    assert not found, "\n".join(
        f"{Path(note['file']).relative_to(ROOT).as_posix()}:{note['line']}: "
        f"{note['comparison']}: {note['problem']}"
        for note in found
    )


def watched(source: str) -> list[dict]:
    """Run `source` whole as hidden checks, as the recorder runs an example's hidden asserts."""
    text = f"# sphinx_gallery_start_ignore\n{source}\n# sphinx_gallery_end_ignore\n"
    tree = ast.parse(text)
    record_example.watch_hidden_comparisons(tree, record_example.lines_in_ignore_blocks(text), text)
    found: list[dict] = []
    namespace = {
        record_example.COMPARED: record_example.ComparisonWatch("example.py", found),
        "statements": ["UPDATE users SET name=? WHERE users.id = ?", "SELECT 1"],
        "state": "persistent",
        "ids": [1, 2],
        "names": {"alice": 1, "bob": 2},
    }
    exec(compile(tree, "example.py", "exec"), namespace)
    return found


@pytest.mark.parametrize(
    "source",
    [
        "assert 'UPDATE' not in statements, 'no UPDATE was sent'",
        "assert not ('UPDATE' in statements), 'no UPDATE was sent'",
        "assert 'users' not in tuple(statements), 'the users table was not touched'",
        "assert 'UPDATE' not in set(statements), 'no UPDATE was sent'",
        "assert 'RETURNING' not in statements, 'nothing was fetched'",
        "assert 'users.name' not in statements, 'the name was not read'",
        "assert 'ali' not in names, 'no user is called ali'",
        "assert 'ali' not in names.keys(), 'no user is called ali'",
        "assert state in ('persistent'), 'the object is persistent'",
        "assert '' in state, 'the state is known'",
        "assert 1 not in ['1', '2'], 'the first id is gone'",
        "assert '1' not in ids, 'the first id is gone'",
        "assert state != ['detached'], 'the object is not detached'",
        "assert statements[0] != ['SELECT 1'], 'the first statement is no SELECT'",
        "assert [state] != state, 'a list was meant on the right'",
        "assert all('UPDATE' not in s for s in [statements]), 'in a generator, too'",
    ],
)
def test_the_run_names_a_comparison_that_cannot_differ(source):
    found = watched(source)
    assert [note["line"] for note in found] == [2], f"`{source}` went unnoticed: {found}"
    assert found[0]["problem"] and found[0]["comparison"]


@pytest.mark.parametrize(
    "source",
    [
        "assert any('UPDATE' in s for s in statements), 'an UPDATE was sent'",
        "assert 'SELECT 1' in statements, 'the SELECT was sent'",
        "assert 'DELETE' not in statements[0], 'the first statement deletes nothing'",
        "assert state in ('persistent', 'pending'), 'the object is in the session'",
        "assert state in 'persistent pending', 'a substring test, written as one'",
        "assert 3 not in ids, 'no third row'",
        "assert 'carol' not in names, 'no user is called carol'",
        "assert state == 'persistent', 'the object is persistent'",
        "assert statements != ['SELECT 1'], 'more than a SELECT was sent'",
        "assert None not in statements, 'every statement has its text'",
        "assert (ids[0] == 'expired') == False, 'a value or a sentinel string'",
        "assert statements != 'SELECT 1', 'a list or a sentinel string'",
        "assert 'SELECT 1' in statements, 'several words, equal to an element'",
        "assert 'persistent' in [state, 'the deleted one'], 'one word among words'",
    ],
)
def test_the_run_lets_an_honest_comparison_through(source):
    assert watched(source) == [], source


def test_a_watched_comparison_gives_the_same_result():
    assert watched("assert 'SELECT 1' in statements, 'the SELECT was sent'") == []
    with pytest.raises(AssertionError, match="an UPDATE"):
        watched("assert 'UPDATE' in statements, 'an UPDATE was sent as a whole statement'")
    with pytest.raises(TypeError):
        watched("assert 1 in state, 'a number in a str'")
