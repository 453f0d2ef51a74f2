"""Builds must fail loudly when an example stops being true, and never serve stale output."""

from sitebuild import build_site, project_with_one_example

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


def test_a_failing_assert_fails_the_build_naming_file_line_and_claim(tmp_path):
    project = project_with_one_example(tmp_path, "broken_claim.py", BROKEN_EXAMPLE)
    result = build_site(project)
    assert result.returncode != 0
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


def test_a_hidden_assert_that_sends_sql_fails_the_build_naming_file_line_and_sql(tmp_path):
    project = project_with_one_example(tmp_path, "hidden_sql.py", HIDDEN_SQL_EXAMPLE)
    result = build_site(project)
    assert result.returncode != 0
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


def test_a_link_to_a_missing_example_fails_the_build(tmp_path):
    project = project_with_one_example(tmp_path, "true_claim.py", PASSING_EXAMPLE)
    index = project / "docs" / "index.md"
    index.write_text(index.read_text() + "\nSee {ref}`sphx_glr_auto_examples_myths_gone.py`.\n")
    result = build_site(project)
    assert result.returncode != 0
    assert "sphx_glr_auto_examples_myths_gone.py" in result.output, result.output


def test_an_unexpected_exception_fails_the_build(tmp_path):
    source = PASSING_EXAMPLE + '\nraise LookupError("no user named squidward")\n'
    project = project_with_one_example(tmp_path, "unexpected_error.py", source)
    result = build_site(project)
    assert result.returncode != 0
    assert "unexpected_error.py" in result.output
    assert "LookupError: no user named squidward" in result.output, result.output


COUNTING_EXAMPLE = '''"""
An example that counts its runs
===============================

Used by the tests only.
"""

from pathlib import Path

with Path("runs.txt").open("a") as runs:
    runs.write("ran\\n")
'''


def test_changing_the_capture_layer_runs_the_examples_again(tmp_path):
    project = project_with_one_example(tmp_path, "counting.py", COUNTING_EXAMPLE)
    runs = project / "examples" / "myths" / "runs.txt"
    assert build_site(project).returncode == 0
    assert build_site(project).returncode == 0
    assert runs.read_text().count("ran") == 1, "an unchanged example is not run again"
    capture = project / "sphinxext" / "session_sync" / "rendering.py"
    capture.write_text(capture.read_text() + "\n# A change to the capture layer.\n")
    assert build_site(project).returncode == 0
    assert runs.read_text().count("ran") == 2, "its output was made by the old capture layer"
