"""An example whose claim stops being true must stop the build, and say where and why."""

import shutil

from sitebuild import ROOT, build_site, copy_sources

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


def project_with_one_example(tmp_path, name: str, source: str):
    project = copy_sources(tmp_path / "project")
    shutil.rmtree(project / "examples")
    section = project / "examples" / "myths"
    section.mkdir(parents=True)
    shutil.copy(ROOT / "examples" / "GALLERY_HEADER.rst", project / "examples")
    shutil.copy(ROOT / "examples" / "myths" / "GALLERY_HEADER.rst", section)
    (section / name).write_text(source)
    for page in (project / "docs").glob("*.md"):
        page.unlink()
    (project / "docs" / "index.md").write_text("# Test\n\n```{toctree}\nauto_examples/index\n```\n")
    return project


def test_a_failing_assert_fails_the_build_naming_file_line_and_claim(tmp_path):
    project = project_with_one_example(tmp_path, "broken_claim.py", BROKEN_EXAMPLE)
    result = build_site(project)
    assert result.returncode != 0
    assert "broken_claim.py" in result.output
    claim_line = BROKEN_EXAMPLE.splitlines().index('assert answer == 42, "SQLite answers 42"') + 1
    assert f'broken_claim.py", line {claim_line}' in result.output, result.output
    assert "AssertionError: SQLite answers 42" in result.output, result.output


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
