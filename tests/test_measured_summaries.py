"""The summaries are measured: the cheat sheet and decision guide quote the behaviour matrix.

`test_committed_measurement_matches_this_series` runs under `nox -s versions` (no Sphinx
there): the matrix measured on this SQLAlchemy series must equal the committed file the docs
build compares with. The other tests build the site.
"""

import re
import sys

from sitebuild import ROOT, build_site, small_project, unlinked

sys.path.insert(0, str(ROOT / "sphinxext"))
sys.path.insert(0, str(ROOT / "tools"))
import measured_summaries  # noqa: E402


def test_committed_sweep_matches_this_release():
    """Under ``nox -s versions``, on each verified release: the measuring examples pass (no
    claim fails, none stops), and measure exactly what the committed sweep says for this
    release, which the pages show as this release's outcomes."""
    import release_sweep

    live = measured_summaries.measure_release()
    release = live["sqlalchemy"]
    sweep = measured_summaries.committed_sweep()
    assert release in sweep["releases"][measured_summaries.series_of(release)], (
        f"SQLAlchemy {release} is not in the committed sweep: run {measured_summaries.SWEEP}"
    )
    for example, ran in live["examples"].items():
        assert not ran["failed_claims"] and not ran["stopped"], (example, ran)
    changed = release_sweep.changes(sweep, live)
    assert not changed, release_sweep.report(release, changed)


ROLE = re.compile(r"\{measured\}`(?P<claim>[^`<]*?)\s*<(?P<keys>[^>`]+)>`")
SUMMARIES = ["cheat-sheet", "decision-guide"]


def test_a_row_the_matrix_contradicts_fails_the_build_naming_it(tmp_path):
    """The two summaries, each with one claim edited, on a small site of the measuring
    examples (the build measures them itself: they need not run as pages)."""
    edits = {
        "cheat-sheet.md": ("`stale <core/fresh>`", "`synced <core/fresh>`"),
        "decision-guide.md": ("`wrong <fetch/relative>`", "`synced <fetch/relative>`"),
    }
    pages = {}
    for page, (old, new) in edits.items():
        text = (ROOT / "docs" / page).read_text()
        assert text.count(old) == 1, (page, old)
        pages[page] = unlinked(text.replace(old, new))
    examples = {
        example.relative_to(ROOT / "examples").as_posix(): example.read_text()
        for example in measured_summaries.EXAMPLES
    }
    result = build_site(small_project(tmp_path, examples, pages), "-D", "plot_gallery=0")
    assert result.returncode != 0, result.output
    assert (
        "row 'Core `update(table)` on a connection' claims 'synced' for core/fresh, "
        "but the behaviour matrix measured 'stale: 5, database 9'"
    ) in result.output, result.output
    assert (
        "row 'Another process may have changed the rows since you loaded them' claims 'synced' "
        "for fetch/relative, but the behaviour matrix measured 'wrong: 6, database 11'"
    ) in result.output, result.output
    assert "cheat-sheet.md:" in result.output and "decision-guide.md:" in result.output


def test_summary_pages_show_the_measured_verdicts_linked_to_their_cells(site):
    from bs4 import BeautifulSoup

    measured = measured_summaries.measure_matrix()
    sweep = measured_summaries.committed_sweep()
    cells, labels = measured["cells"], measured["labels"]
    for page in SUMMARIES:
        claims = ROLE.findall((ROOT / "docs" / f"{page}.md").read_text())
        assert len(claims) >= 5, page
        html = BeautifulSoup(site.page(f"{page}.html"), "html.parser")
        shown = html.select("article em.measured > a")
        assert len(shown) == len(claims), page
        for (claim, keys), link in zip(claims, shown, strict=True):
            for key in keys.split():
                assert cells[key]["verdict"] == claim, (page, key)
            # Where releases measured other verdicts, the reader sees each with its releases.
            by_release = measured_summaries.verdicts_by_release(sweep, keys.split()[0])
            if not by_release:
                assert link.get_text() == claim, (page, keys)
            else:
                text = link.get_text()
                for verdict, spans in by_release:
                    assert f"{verdict} on {' and '.join(spans)}" in text, (page, keys, text)
                series = measured_summaries.series_of(measured["sqlalchemy"])
                assert any(
                    verdict == claim and any(span.startswith(series) for span in spans)
                    for verdict, spans in by_release
                ), (page, keys, text)
            label = labels[keys.split()[0]]
            example = measured_summaries.measuring_example(label)
            page_part, _, anchor = link["href"].partition("#")
            assert page_part.endswith(f"{example.stem}.html"), link
            assert anchor == label.replace("_", "-"), link
            target = BeautifulSoup(
                site.page(f"auto_examples/{example.parent.name}/{example.stem}.html"),
                "html.parser",
            )
            assert target.find(id=anchor), anchor


# Table rows that give advice and state no outcome of their own, each with its reason.
ADVICE_ROWS = {
    ("decision-guide", "Joined-table inheritance"): "points to the page to read first",
}


def table_rows(page):
    """(first cell, whole line) of every body row of every table on the page."""
    lines = (ROOT / "docs" / f"{page}.md").read_text().splitlines()
    rows = []
    for number, line in enumerate(lines):
        if not line.startswith("|") or re.fullmatch(r"[|\s:-]+", line):
            continue
        if number + 1 < len(lines) and re.fullmatch(r"[|\s:-]+", lines[number + 1]):
            continue  # a header row
        first_cell = line.strip("|").split("|")[0].strip()
        # Without the row's anchor ({row}`label`), which names no outcome.
        rows.append((re.sub(r"^\{row\}`[^`]*`\s*", "", first_cell), line))
    return rows


def test_every_table_row_states_its_outcome_through_a_measured_role():
    """Every row of the summary tables says what happens; what happens must be measured.

    A row counts as stating an outcome unless ADVICE_ROWS lists it with a reason: it must then
    carry at least one checked {measured} role (a claim and the key of the cell that ran it).
    """
    unmeasured = []
    for page in SUMMARIES:
        rows = table_rows(page)
        assert len(rows) >= 15, (page, len(rows))
        for first, line in rows:
            if (page, first) in ADVICE_ROWS:
                continue
            if not ROLE.search(line):
                unmeasured.append(f"{page}: {first}")
    assert not unmeasured, f"rows stating an outcome no run checks: {unmeasured}"
    listed = {(page, first) for page in SUMMARIES for first, _ in table_rows(page)}
    assert set(ADVICE_ROWS) <= listed, f"stale ADVICE_ROWS entries: {set(ADVICE_ROWS) - listed}"


def generated_table(page, first_head: str) -> list[list]:
    """The rows of the page's table whose first column is headed ``first_head``."""
    for table in page.select("article table"):
        heads = [th.get_text(" ", strip=True) for th in table.select("thead th")]
        if heads and heads[0] == first_head:
            for label in table.select("td .cell-label"):  # the phone layout's column names
                label.decompose()
            return [row.find_all("td") for row in table.select("tbody tr")]
    raise AssertionError(f"no table headed {first_head!r}")


def test_version_page_lists_each_changed_outcome_with_its_first_release(site):
    """The measured changelog: every outcome that changed from one release of a series to the
    next, with the first release that measured the new one, old and new, linked to the cell
    of the example that shows it; and the newest 2.0 against the newest 2.1."""
    from bs4 import BeautifulSoup

    sweep = measured_summaries.committed_sweep()
    page = BeautifulSoup(site.page("version-differences.html"), "html.parser")
    changes = [c for c in measured_summaries.release_changes(sweep) if c["kind"] == "changed"]
    assert changes, "2.0.59 changed what objects see: the sweep must show it"
    rows = generated_table(page, "first release")
    shown = [(cells[0].get_text(strip=True), cells[1].get_text("", strip=True)) for cells in rows]
    assert shown == [(c["release"], c["key"]) for c in changes]
    for change, cells in zip(changes, rows, strict=True):
        before, after = measured_summaries.outcome_words(change["before"], change["after"])
        assert cells[2].get_text("", strip=True) == before, (change, cells[2])
        assert cells[3].get_text("", strip=True) == after, (change, cells[3])
        link = cells[1].find("a")
        target, _, anchor = link["href"].partition("#")
        example = BeautifulSoup(site.page(target.removeprefix("../")), "html.parser")
        assert example.find(id=anchor), link["href"]

    newest = measured_summaries.newest_of_each_series(sweep)
    keys = measured_summaries.series_differences(sweep, newest["2.0"], newest["2.1"])
    rows = generated_table(page, "outcome")
    assert [cells[0].get_text("", strip=True) for cells in rows] == keys
    text = page.get_text(" ")
    assert f"{newest['2.0']} and {newest['2.1']}: {len(keys)} of {len(sweep['cells'])}" in text


VERSION_PAGE = ROOT / "docs" / "version-differences.md"


def test_version_page_names_exactly_the_outcomes_the_newest_releases_differ_in():
    """The page's opening names three groups of differences; its ``:newest-differ-only-in:``
    list (which the build checks too) must match the committed sweep's newest 2.0 and 2.1,
    and the release the opening says changed the evaluator must be the one the sweep found."""
    sweep = measured_summaries.committed_sweep()
    newest = measured_summaries.newest_of_each_series(sweep)
    keys = measured_summaries.series_differences(sweep, newest["2.0"], newest["2.1"])
    text = VERSION_PAGE.read_text()
    option = re.search(r"^:newest-differ-only-in:(.*)$", text, re.M)
    assert option, "the measured-release-changes directive lists the outcomes that differ"
    patterns = option.group(1).split()
    assert measured_summaries.unexpected_differences(keys, patterns) == "", keys
    opening = " ".join(text.split("\n## ")[0].split())
    assert "**The autoflush before Core statements and `text()`**" in opening
    drivers = measured_summaries.missing_greenlet_form_changes()
    assert f"with {drivers} it arrives bare on 2.0 and wrapped in a `StatementError` on 2.1" in (
        opening
    ), drivers
    pairs = measured_summaries._missing_greenlet_pairs(measured_summaries.MISSING_GREENLET_PAGE)
    for driver in drivers.replace(" and ", ", ").split(", "):
        assert ("2.0", driver) in pairs["BARE_WITH"], driver
        assert ("2.1", driver) in pairs["WRAPPED_WITH"], driver
    # "aiomysql wraps it on both, asyncpg on neither", as the page's runs found.
    assert "aiomysql wraps it on both, asyncpg on neither" in opening
    assert {("2.0", "aiomysql"), ("2.1", "aiomysql")} <= pairs["WRAPPED_WITH"]
    assert {("2.0", "asyncpg"), ("2.1", "asyncpg")} <= pairs["BARE_WITH"]
    evaluator = {
        c["release"]
        for c in measured_summaries.release_changes(sweep)
        if c["kind"] == "changed" and c["key"].endswith(("/partial", "/load-only", "/modulo"))
    }
    assert len(evaluator) == 1, evaluator
    assert f"changed within 2.0 at {evaluator.pop()}" in opening


def test_a_wrong_list_of_differing_cells_is_named():
    keys = ["autoflush/text", "async-lazy/read"]
    assert measured_summaries.unexpected_differences(keys, ["autoflush/*", "async-*"]) == ""
    assert measured_summaries.unexpected_differences(keys, ["autoflush/*", "fetch/x"]) == (
        "cells differ that the page does not name: async-lazy/read; "
        "the page names cells that agree: fetch/x"
    )


MISSING_GREENLET_ROWS = {
    "decision-guide": "decide-missing-greenlet",
    "cheat-sheet": "cheat-sheet-missing-greenlet",
}


def test_missing_greenlet_rows_say_each_form_as_the_asyncio_page_asserts_it():
    """The form (bare, or inside a StatementError) depends on release, driver and pool:
    missing_greenlet.py asserts it on every run, with the default pool and with the pools
    under which a read after commit raises it bare, and catches both forms in one ``except``.
    Both summary rows must quote the measured form of both reads, name those pools and that
    ``except`` as the page's code has them, and the server-values page must find the same
    forms per release and driver."""
    advice = measured_summaries.missing_greenlet_advice()
    assert "(`NullPool` or `pool_pre_ping=True`)" in advice, advice
    assert "`except (MissingGreenlet, StatementError)`" in advice, advice
    page = measured_summaries.MISSING_GREENLET_PAGE
    server_values = ROOT / "examples" / "asyncio" / "server_values.py"
    pairs = measured_summaries._missing_greenlet_pairs
    assert pairs(server_values) == pairs(page), "the two asyncio pages agree"
    for page_name, anchor in MISSING_GREENLET_ROWS.items():
        lines = (ROOT / "docs" / f"{page_name}.md").read_text().splitlines()
        row = next(line for line in lines if f"{{row}}`{anchor}`" in line)
        assert advice in row, (page_name, advice)
        # The releases come from the sweep ({measured} shows each form with its releases).
        assert "with aiosqlite and the default pool" in row, page_name
        assert "on 2.1 with aiosqlite" not in row, (page_name, "the role names the releases")
        for key in ("async-commit/read", "async-lazy/read"):
            assert f"MissingGreenlet in a StatementError <{key}>" in row, (page_name, key)
