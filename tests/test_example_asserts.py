"""Every claim an example makes is an `assert` that can fail and says what it claims.

An AST lint over examples/: no assert without a message, no message that is not a sentence
(a string literal or an f-string with words in it), and no condition that holds whatever the
example did (a constant, `... or True`, a value compared with itself, a non-empty literal).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from sitebuild import ROOT

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
