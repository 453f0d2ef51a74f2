"""Builds must fail loudly when an example stops being true, naming what failed.

One small site holds every kind of failure at once (a false claim, a hidden assert that sends
SQL, an unexpected exception, a link to a page that is gone): one build shows each is reported,
by file, line and message, and that none hides another. Stale output after a change is
tests/test_site.py's (test_incremental_rebuilds_keep_sql_and_state).
"""

import re

import pytest

from sitebuild import build_site, small_project

BROKEN_EXAMPLE = '''"""
A claim that is not true
========================

Used by the tests only, on a temporary copy of the project.
"""

from sqlalchemy import create_engine, text

engine = create_engine("sqlite://")
with engine.connect() as connection:
    answer = connection.execute(text("SELECT 41")).scalar_one()

# %%
# The claim

assert answer == 42, "SQLite answers 42"
'''


def test_a_failing_assert_fails_the_build_naming_file_line_and_claim(failing):
    result = failing
    assert result.returncode != 0
    assert failed_examples(result) >= {"broken_claim.py"}, result.output
    assert "broken_claim.py" in result.output
    claim_line = BROKEN_EXAMPLE.splitlines().index('assert answer == 42, "SQLite answers 42"') + 1
    assert f'broken_claim.py", line {claim_line}' in result.output, result.output
    assert "AssertionError: SQLite answers 42" in result.output, result.output


HIDDEN_SQL_EXAMPLE = '''"""
A hidden assert that sends SQL
==============================

Used by the tests only: the page would show a statement under code that does not send it.
"""

from sqlalchemy import create_engine, text

engine = create_engine("sqlite://")
connection = engine.connect()

# %%
# The claim

# sphinx_gallery_start_ignore
assert connection.execute(text("SELECT 42")).scalar_one() == 42, "SQLite answers 42"
# sphinx_gallery_end_ignore
'''


def test_a_hidden_assert_that_sends_sql_fails_the_build_naming_file_line_and_sql(failing):
    result = failing
    assert result.returncode != 0
    assert failed_examples(result) >= {"hidden_sql.py"}, result.output
    line = (
        HIDDEN_SQL_EXAMPLE.splitlines().index(
            'assert connection.execute(text("SELECT 42")).scalar_one() == 42, "SQLite answers 42"'
        )
        + 1
    )
    assert f'hidden_sql.py", line {line}' in result.output, result.output
    assert f"hidden assert at line {line} sent 2 SQL" in result.output, result.output
    assert "Statements: BEGIN (implicit); SELECT 42" in result.output, result.output


PASSING_EXAMPLE = '''"""
A true claim
============

Used by the tests only.
"""

assert 1 + 1 == 2, "arithmetic holds"
'''


UNEXPECTED_ERROR = PASSING_EXAMPLE + '\nraise LookupError("no user named squidward")\n'
MISSING_LINK = "See {ref}`sphx_glr_auto_examples_myths_gone.py`.\n"


@pytest.fixture(scope="module")
def failing(tmp_path_factory):
    """One build of a small site with every kind of failure, and one example that passes."""
    examples = {
        "myths/broken_claim.py": BROKEN_EXAMPLE,
        "myths/hidden_sql.py": HIDDEN_SQL_EXAMPLE,
        "myths/unexpected_error.py": UNEXPECTED_ERROR,
        "myths/true_claim.py": PASSING_EXAMPLE,
    }
    pages = {"links.md": "# Links\n\n" + MISSING_LINK}
    return build_site(small_project(tmp_path_factory.mktemp("failing"), examples, pages))


def failed_examples(result) -> set[str]:
    """The examples Sphinx-Gallery's closing summary lists as failed (file names)."""
    summary = result.output.split("Unexpected failing examples", 1)
    assert len(summary) == 2, f"no summary of failing examples:\n{result.output}"
    return set(re.findall(r"(\w+\.py) failed leaving traceback", summary[1]))


def test_only_the_failing_examples_are_reported_as_failed(failing):
    assert failed_examples(failing) == {"broken_claim.py", "hidden_sql.py", "unexpected_error.py"}


def test_a_link_to_a_missing_example_fails_the_build(failing):
    result = failing
    assert result.returncode != 0
    warnings = [line for line in result.output.splitlines() if "links.md" in line]
    assert any("sphx_glr_auto_examples_myths_gone.py" in line for line in warnings), result.output


def test_an_unexpected_exception_fails_the_build(failing):
    result = failing
    assert result.returncode != 0
    assert failed_examples(result) >= {"unexpected_error.py"}, result.output
    assert "LookupError: no user named squidward" in result.output, result.output
