"""The summaries are measured: the cheat sheet and decision guide quote the behaviour matrix.

`test_committed_measurement_matches_this_series` runs under `nox -s versions` (no Sphinx
there): the matrix measured on this SQLAlchemy series must equal the committed file the docs
build compares with. The other tests build the site.
"""

import json
import os
import re
import sys

from sitebuild import ROOT, build_site, copy_sources

sys.path.insert(0, str(ROOT / "sphinxext"))
import measured_summaries  # noqa: E402


def test_committed_measurement_matches_this_series():
    live = measured_summaries.measure_matrix()
    path = measured_summaries.MEASURED_DIR / f"behaviour-matrix-{live['series']}.json"
    text = json.dumps(live, indent=1, sort_keys=True) + "\n"
    if os.environ.get("SESSION_SYNC_WRITE_MEASURED"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    refresh = measured_summaries.REFRESH.format(series=live["series"])
    assert path.exists(), f"{path.name} is missing; write it with: {refresh}"
    committed = json.loads(path.read_text())
    changed = measured_summaries.differences(committed, live)
    assert committed == live, (
        f"SQLAlchemy {live['sqlalchemy']} measures the matrix differently from {path.name} "
        f"({committed['sqlalchemy']}): {changed or 'versions differ'}; "
        f"if that is the new truth, refresh it with: {refresh}"
    )


ROLE = re.compile(r"\{measured\}`(?P<claim>[^`<]*?)\s*<(?P<keys>[^>`]+)>`")
SUMMARIES = ["cheat-sheet", "decision-guide"]


def test_a_row_the_matrix_contradicts_fails_the_build_naming_it(tmp_path):
    project = copy_sources(tmp_path / "project")
    edits = {
        "cheat-sheet.md": ("`stale <core/fresh>`", "`synced <core/fresh>`"),
        "decision-guide.md": ("`wrong <fetch/relative>`", "`synced <fetch/relative>`"),
    }
    for page, (old, new) in edits.items():
        path = project / "docs" / page
        assert path.read_text().count(old) == 1, (page, old)
        path.write_text(path.read_text().replace(old, new))
    # The examples need not run for this: the extension measures the matrix itself.
    result = build_site(project, "-D", "plot_gallery=0")
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
    cells, labels = measured["cells"], measured["labels"]
    for page in SUMMARIES:
        claims = ROLE.findall((ROOT / "docs" / f"{page}.md").read_text())
        assert len(claims) >= 5, page
        html = BeautifulSoup(site.page(f"{page}.html"), "html.parser")
        shown = html.select("article em.measured > a")
        assert [a.get_text() for a in shown] == [claim for claim, _ in claims], page
        for (claim, keys), link in zip(claims, shown, strict=True):
            for key in keys.split():
                assert cells[key]["verdict"] == claim, (page, key)
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


def test_version_page_shows_the_measured_comparison(site):
    from bs4 import BeautifulSoup

    live = measured_summaries.measure_matrix()
    other = next(
        m for s, m in measured_summaries.committed_measurements().items() if s != live["series"]
    )
    page = BeautifulSoup(site.page("version-differences.html"), "html.parser")
    text = page.get_text(" ")
    # A long key is split into pieces at its break points (<wbr>): joined, as a reader reads it.
    joined = page.get_text("")
    rows = measured_summaries.differences(other, live)
    assert (
        f"{other['sqlalchemy']} (committed" in text and f"{live['sqlalchemy']} (this build)" in text
    )
    if rows:
        assert f"{len(rows)} of {len(live['cells'])} cells differ" in text
        for key, _, _ in rows:
            assert key in joined
    else:
        assert f"all {len(live['cells'])} cells agree" in text


VERSION_PAGE = ROOT / "docs" / "version-differences.md"


def test_version_page_names_exactly_the_cells_2_0_and_2_1_differ_in():
    """The page's opening says 2.0 and 2.1 differ in two behaviours only; its
    ``:differ-only-in:`` list (which the build checks against its own measurement) must
    match the committed 2.0 and 2.1 files too, and the opening must name both."""
    committed = measured_summaries.committed_measurements()
    keys = [key for key, _, _ in measured_summaries.differences(committed["2.0"], committed["2.1"])]
    text = VERSION_PAGE.read_text()
    option = re.search(r"^:differ-only-in:(.*)$", text, re.M)
    assert option, "the measured-version-differences directive lists the cells that differ"
    patterns = option.group(1).split()
    assert measured_summaries.unexpected_differences(keys, patterns) == "", keys
    assert patterns == ["autoflush/*", "async-commit/read", "async-lazy/read"], (
        "the opening names two differences: autoflush, and the MissingGreenlet form"
    )
    opening = " ".join(text.split("\n## ")[0].split())
    assert "behave alike in everything this site shows but two: the autoflush" in opening
    drivers = measured_summaries.missing_greenlet_form_changes()
    assert f"with {drivers}, 2.0 raises it bare and 2.1 wraps it in a `StatementError`" in (
        opening
    ), drivers
    pairs = measured_summaries._missing_greenlet_pairs(measured_summaries.MISSING_GREENLET_PAGE)
    for driver in drivers.replace(" and ", ", ").split(", "):
        assert ("2.0", driver) in pairs["BARE_WITH"], driver
        assert ("2.1", driver) in pairs["WRAPPED_WITH"], driver


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
        assert "on 2.1 with aiosqlite and the default pool" in row, page_name
        for key in ("async-commit/read", "async-lazy/read"):
            assert f"MissingGreenlet in a StatementError <{key}>" in row, (page_name, key)
