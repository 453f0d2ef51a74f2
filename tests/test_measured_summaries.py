"""The summaries are measured: the cheat sheet and decision guide quote the behaviour matrix.

`test_committed_measurement_matches_this_series` runs under `nox -s versions` (no Sphinx
there): the matrix measured on this SQLAlchemy series must equal the committed file the docs
build compares with. The other tests build the site.
"""

import copy
import itertools
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


def verdicts_as_swept(sweep: dict, key: str) -> dict[str, list[str]]:
    """Each verdict the 2.x releases measured for a cell, with the spans of releases that
    measured it, read from the committed sweep here (not by the role's own function)."""
    found: dict[str, list[str]] = {}
    for series, runs in sweep["cells"].get(key, {}).items():
        for run in runs if not series.startswith("1.") else ():
            if "verdict" in run["outcome"]:
                span = (
                    run["from"] if run["from"] == run["to"] else f"{run['from']}\u2013{run['to']}"
                )
                found.setdefault(run["outcome"]["verdict"], []).append(span)
    return found


def test_summary_pages_show_the_measured_verdicts_linked_to_their_cells(site):
    # What this release measured, as committed: test_committed_sweep_matches_this_release
    # measures it live and compares (and so does every build).
    import sqlalchemy

    sweep = measured_summaries.committed_sweep()
    release = sqlalchemy.__version__
    cells = {key: measured_summaries.swept_outcome(sweep, key, release) for key in sweep["cells"]}
    labels = sweep["labels"]
    measured = {"sqlalchemy": release}
    for page in SUMMARIES:
        claims = ROLE.findall((ROOT / "docs" / f"{page}.md").read_text())
        assert len(claims) >= 5, page
        html = site.soup(f"{page}.html")
        shown = html.select("article em.measured > a")
        assert len(shown) == len(claims), page
        for (claim, keys), link in zip(claims, shown, strict=True):
            for key in keys.split():
                assert cells[key]["verdict"] == claim, (page, key)
            # Where releases measured other verdicts, the reader sees each with its releases.
            by_release = verdicts_as_swept(sweep, keys.split()[0])
            if len(by_release) == 1:
                assert link.get_text() == claim, (page, keys)
            else:
                text = link.get_text()
                parts = {part.split(" on ")[0]: part for part in text.split("; ")}
                for verdict, spans in by_release.items():
                    assert verdict in parts, (page, keys, verdict, text)
                    for span in spans:
                        assert span in parts[verdict], (page, keys, verdict, span, text)
                series = measured_summaries.series_of(measured["sqlalchemy"])
                assert any(span.startswith(series) for span in by_release[claim]), (page, text)
            label = labels[keys.split()[0]]
            example = measured_summaries.measuring_example(label)
            page_part, _, anchor = link["href"].partition("#")
            assert page_part.endswith(f"{example.stem}.html"), link
            assert anchor == label.replace("_", "-"), link
            target = site.soup(f"auto_examples/{example.parent.name}/{example.stem}.html")
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
            table = copy.copy(table)  # the page is shared (site.soup): its copy is changed
            for label in table.select("td .cell-label"):  # the phone layout's column names
                label.decompose()
            return [row.find_all("td") for row in table.select("tbody tr")]
    raise AssertionError(f"no table headed {first_head!r}")


def test_version_page_lists_each_changed_outcome_with_its_first_release(site):
    """The measured changelog: every outcome that changed from one release of a series to the
    next, with the first release that measured the new one, old and new, linked to the cell
    of the example that shows it; and the newest 2.0 against the newest 2.1."""

    sweep = measured_summaries.committed_sweep()
    page = site.soup("version-differences.html")
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
        example = site.soup(target.removeprefix("../"))
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


# The version-differences page, checked against the committed sweep as this test reads it: no
# function of measured_summaries decides here which outcomes differ, or how they print.


def swept_releases() -> tuple[dict, dict]:
    """The committed sweep, and the verified release of each series."""
    import json
    import tomllib

    sweep = json.loads((ROOT / "docs" / "_measured" / "releases.json").read_text())
    pins = tomllib.loads((ROOT / "requirements" / "sqlalchemy.toml").read_text())["series"]
    return sweep, {series: pin["verified"] for series, pin in pins.items()}


def outcome_on(sweep: dict, key: str, release: str) -> dict | None:
    """The outcome the sweep recorded for a cell on one release (None: not swept there)."""
    number = [int(part) for part in re.findall(r"\d+", release)]
    series = ".".join(release.split(".")[:2])
    found = [
        run["outcome"]
        for run in sweep["cells"][key].get(series, [])
        if [int(p) for p in re.findall(r"\d+", run["from"])]
        <= number
        <= [int(p) for p in re.findall(r"\d+", run["to"])]
    ]
    assert len(found) <= 1, (key, release, found)
    return found[0] if found else None


def measurable(outcome: dict | None) -> bool:
    return outcome is not None and "unmeasured" not in outcome


def differing(sweep: dict, older: str, newer: str) -> dict[str, tuple[dict, dict]]:
    """The cells measured on both releases whose whole outcomes (every value, not only the
    verdict) differ, each with both outcomes."""
    found = {}
    for key in sweep["cells"]:
        before, after = outcome_on(sweep, key, older), outcome_on(sweep, key, newer)
        if measurable(before) and measurable(after) and before != after:
            found[key] = (before, after)
    return found


def first_changes(sweep: dict) -> dict[tuple[str, str], tuple[dict, dict]]:
    """(release, cell) for each release whose outcome differs from the previous release of its
    series, which measured it, with both outcomes."""
    found = {}
    for releases in sweep["releases"].values():
        for previous, release in itertools.pairwise(releases):
            for key in sweep["cells"]:
                before, after = outcome_on(sweep, key, previous), outcome_on(sweep, key, release)
                if measurable(before) and before != after:
                    found[(release, key)] = (before, after)
    return found


def printed(outcome: dict) -> set[str]:
    """How a table may print an outcome: in a few words, or in full (as JSON)."""
    import json

    forms = {json.dumps(outcome, sort_keys=True)}
    if "unmeasured" in outcome:
        return forms | {f"not measurable: {outcome['unmeasured']}"}
    if "memory" in outcome and outcome["verdict"] in ("wrong", "stale"):
        forms.add(f"{outcome['verdict']}: {outcome['memory']}, database {outcome['database']}")
    else:
        forms.add(outcome["verdict"])
    return forms


def version_page_problems(page_html: str, sweep: dict, verified: dict) -> list[str]:
    """What the version-differences page's three tables get wrong about the sweep: a cell
    missing or extra, an outcome printed as something else than the sweep's, or two different
    outcomes printed alike."""
    from bs4 import BeautifulSoup

    page = BeautifulSoup(page_html, "html.parser")
    first_2_0 = sweep["releases"]["2.0"][0]
    expected = {
        "1.4 to 2.0": ((verified["1.4"], first_2_0), differing(sweep, verified["1.4"], first_2_0)),
        "outcome": ((verified["2.0"], verified["2.1"]),
                    differing(sweep, verified["2.0"], verified["2.1"])),
        "first release": (None, first_changes(sweep)),
    }  # fmt: skip
    problems = []
    for head, (releases, want) in expected.items():
        try:
            rows = generated_table(page, head)
        except AssertionError:
            rows = []
            if want:
                problems.append(f"no table headed {head!r}, and {len(want)} outcomes differ")
                continue
        text = [[cell.get_text("", strip=True) for cell in row] for row in rows]
        if releases is not None:
            table = next(
                t for t in page.select("article table")
                if t.select("thead th") and t.select("thead th")[0].get_text(strip=True) == head
            )  # fmt: skip
            heads = [th.get_text(" ", strip=True) for th in table.select("thead th")][1:]
            if rows and heads != list(releases):
                problems.append(f"table {head!r} compares {heads}, not {list(releases)}")
            shown = {row[0]: row[1:] for row in text}
        else:
            shown = {(row[0], row[1]): row[2:] for row in text}
        if len(shown) != len(text):
            problems.append(f"table {head!r} lists an outcome twice")
        extra = sorted(set(shown) - set(want))
        for key in sorted(set(want) - set(shown)):
            before, after = want[key]
            # The first-release table: the change listed, at another release.
            elsewhere = [k for k in extra if releases is None and k[1] == key[1]]
            if elsewhere:
                extra.remove(elsewhere[0])
                problems.append(
                    f"table {head!r} gives {key[1]} a new outcome at {elsewhere[0][0]}, but the "
                    f"sweep first measured it at {key[0]}: {before} -> {after}"
                )
            else:
                problems.append(
                    f"table {head!r} leaves out {key}, whose outcome differs: {before} -> {after}"
                )
        for key in extra:
            problems.append(f"table {head!r} lists {key}, whose outcome does not differ")
        for key in sorted(set(shown) & set(want)):
            for value, outcome in zip(shown[key], want[key], strict=True):
                if value not in printed(outcome):
                    problems.append(f"table {head!r}, {key}: printed {value!r} for {outcome}")
            if len(set(shown[key])) < 2:
                problems.append(
                    f"table {head!r}, {key}: two different outcomes printed alike, "
                    f"{shown[key]} for {want[key]}"
                )
    return problems


def test_version_page_tables_list_each_outcome_that_differs_with_both_values(site):
    """The three tables of the version-differences page (1.4 against the first 2.0, the
    verified 2.0 against the verified 2.1, each first release within a series that measured
    another outcome) list exactly the cells whose whole outcome differs in the committed sweep,
    each with both outcomes, printed so that they differ as the outcomes do."""
    sweep, verified = swept_releases()
    assert differing(sweep, verified["2.0"], verified["2.1"]), "2.0 and 2.1 differ: the sweep"
    page = site.page("version-differences.html")
    problems = version_page_problems(page, sweep, verified)
    assert not problems, "version-differences.html:\n" + "\n".join(problems)


# What a reader of the built pages reads as a measured verdict, each checked to be the
# {measured} role's output (which names its cells: data-measured-keys) saying what the committed
# sweep measured for its cells on this build's release. The summary pages say that their words
# in italics are measured verdicts, and define the four of these words below.
VERDICT_WORDS = re.compile(r"\b(synced|stale|wrong|expired)\b", re.I)
# Those words written by hand in a summary table's verdict column, each phrase with its reason.
HAND_WRITTEN_PHRASES = {
    r"on stale memory": "the state a statement starts from, not an outcome",
    r"expired ones?\b": "which objects the row is about, not what happens to them",
    r"column expired by": "which objects the row is about",
    r"alice's name expired\)": "which objects the row is about",
    r"the attribute was expired,": "the cause the row explains (after commit: measured there)",
    r"until (they are )?expired": "what the reader may do next",
    r"stale, not even expired": "beside the measured stale, which says it",
    # Links to the section that asserts it on another database (the build runs SQLite).
    r"\bwrong there\b": "a link to a section that asserts it on MariaDB",
    r"\bstale on MariaDB\b": "a link to a section that asserts it on MariaDB",
    r"\bwrong on PostgreSQL and MariaDB\b": "a link to a section that asserts it on those",
}
# Italics in a summary table's verdict column that are no verdict, each with its reason.
PLAIN_ITALICS = {
    "other": "stress: *other* pending objects",
    "in-memory": "stress: matched by their *in-memory* values",
}


def role_output(element) -> bool:
    return element.name == "em" and element.has_attr("data-measured-keys")


def inside_role_output(element) -> bool:
    return role_output(element) or any(role_output(parent) for parent in element.parents)


def expected_verdict_text(sweep: dict, release: str, keys: list[str]) -> tuple[str, str]:
    """What the role must show for its cells: the verdict measured on this release, or each
    verdict with its releases where 2.x releases measured different ones; and a problem."""
    outcomes = {key: measured_summaries.swept_outcome(sweep, key, release) for key in keys}
    missing = [key for key, outcome in outcomes.items() if not outcome or "verdict" not in outcome]
    if missing:
        return "", f"no verdict measured on {release} for {', '.join(missing)}"
    verdicts = {outcome["verdict"] for outcome in outcomes.values()}
    if len(verdicts) > 1:
        return "", f"its cells measured different verdicts on {release}: {outcomes}"
    verdict = verdicts.pop()
    by_release = {key: measured_summaries.verdicts_by_release(sweep, key) for key in keys}
    shown = by_release[keys[0]]
    if any(value != shown for value in by_release.values()):
        return "", f"its cells differ by release in different ways: {by_release}"
    if not shown:
        return verdict, ""
    if not any(v == verdict and any(release_in(release, s) for s in spans) for v, spans in shown):
        return "", f"the sweep's verdicts by release {shown} do not give {release} {verdict!r}"
    return "; ".join(f"{v} on {' and '.join(spans)}" for v, spans in shown), ""


def release_in(release: str, span: str) -> bool:
    """Whether a span of releases ('2.1', '2.0.0-2.0.58', '2.0.59') holds the release."""
    first, _, last = span.partition("\u2013")
    if not last and first.count(".") == 1:
        return measured_summaries.series_of(release) == first
    key = measured_summaries.release_key
    return key(first) <= key(release) <= key(last or first)


def hand_written_verdicts(cell, vocabulary: set[str], used: set[str]) -> list[str]:
    """What reads as a measured verdict in a verdict column's cell and no role made: italics,
    a link whose words are a verdict, one of VERDICT_WORDS outside code (unless a phrase of
    HAND_WRITTEN_PHRASES holds it). Adds the PLAIN_ITALICS and phrases it needed to ``used``."""
    found = []
    for em in cell.find_all("em"):
        text = em.get_text("", strip=True)
        if inside_role_output(em):
            continue
        if text in PLAIN_ITALICS:
            used.add(text)
        else:
            found.append(f"{text!r} in italics, which the page says are measured verdicts")
    for link in cell.find_all("a"):
        if link.find("code") or inside_role_output(link):
            continue  # code names an API, not an outcome
        if (text := link.get_text("", strip=True)) in vocabulary:
            found.append(f"a link reading {text!r}, a verdict the sweep measures")
    text, written = "", []
    for string in cell.find_all(string=True):
        if "cell-label" in (string.parent.get("class") or []):
            continue  # the column's name, shown on a phone
        if not (string.find_parent("code") or inside_role_output(string.parent)):
            written.append((len(text), len(text) + len(string)))
        text += string
    for hit in VERDICT_WORDS.finditer(text):
        if not any(start <= hit.start() < end for start, end in written):
            continue
        allowed = {
            phrase
            for phrase in HAND_WRITTEN_PHRASES
            for match in re.finditer(phrase, text)
            if match.start() <= hit.start() and hit.end() <= match.end()
        }
        used |= allowed
        if not allowed:
            context = " ".join(text[max(0, hit.start() - 40) : hit.end() + 40].split())
            found.append(f"{hit.group()!r} written in plain text: '...{context}...'")
    return found


def verdict_problems(read_page, pages: list[str], release: str) -> tuple[list[str], set[str]]:
    """Every verdict the pages show a reader as measured that is not the role's output, or
    that says something else than the committed sweep measured for its cells on the release;
    and the entries of PLAIN_ITALICS and HAND_WRITTEN_PHRASES the pages needed."""
    from bs4 import BeautifulSoup

    sweep = measured_summaries.committed_sweep()
    vocabulary = {
        run["outcome"]["verdict"]
        for by_series in sweep["cells"].values()
        for runs in by_series.values()
        for run in runs
        if "verdict" in run["outcome"]
    }
    problems, used = [], set()
    for name in pages:
        article = BeautifulSoup(read_page(name), "html.parser").select_one("article")
        if article is None:
            continue

        def where(element, name=name):
            row = element.find_parent("tr")
            return f"{name}, row {row.get('id', '?')}" if row else name

        for em in article.find_all(role_output):
            keys = em["data-measured-keys"].split()
            expected, problem = expected_verdict_text(sweep, release, keys)
            shown = em.get_text("", strip=True)
            if problem:
                problems.append(f"{where(em)}: {shown!r} for {' '.join(keys)}: {problem}")
            elif shown != expected:
                problems.append(
                    f"{where(em)}: shows {shown!r} for {' '.join(keys)}, but the sweep measured "
                    f"{expected!r} (SQLAlchemy {release})"
                )
        for element in article.find_all(class_=True):
            styled = [c for c in element["class"] if c == "measured" or c.startswith("measured-")]
            if styled and not role_output(element):
                problems.append(
                    f"{where(element)}: {element.get_text('', strip=True)!r} is styled as a "
                    f"measured verdict ({' '.join(styled)}), but no {{measured}} role made it"
                )
        for table in article.select("table"):
            if not table.find(role_output):
                continue  # not a summary table
            rows = [row.find_all("td", recursive=False) for row in table.select("tbody tr")]
            # A verdict column: one where some row shows a measured verdict.
            columns = {
                n for cells in rows for n, cell in enumerate(cells) if cell.find(role_output)
            }
            for cells in rows:
                first = cells[0].find_all("p")[-1].get_text(" ", strip=True)
                measured = any(cell.find(role_output) for cell in cells)
                if not measured and (name.removesuffix(".html"), first) not in ADVICE_ROWS:
                    problems.append(f"{where(cells[0])}: states no measured verdict")
                for number, cell in enumerate(cells):
                    if number in columns:
                        problems += [
                            f"{where(cell)}: {found}, and no {{measured}} role made it"
                            for found in hand_written_verdicts(cell, vocabulary, used)
                        ]
    return problems, used


def test_every_verdict_read_as_measured_is_the_roles_output_saying_what_this_release_measured(
    site,
):
    """On every narrative page as built: each verdict a reader takes as measured (the role's
    output, anything styled like it, italics and links in the verdict columns of the summary
    tables, and the words synced, stale, wrong and expired written there) must be the
    {measured} role's output, naming its cells, and say what the committed sweep measured
    for them on this build's SQLAlchemy (which the build checked against its own run)."""
    import sqlalchemy

    pages = sorted(path.with_suffix(".html").name for path in (ROOT / "docs").glob("*.md"))
    problems, used = verdict_problems(site.page, pages, sqlalchemy.__version__)
    assert not problems, "verdicts that read as measured, and are not:\n" + "\n".join(problems)
    unused = (set(HAND_WRITTEN_PHRASES) | set(PLAIN_ITALICS)) - used
    assert not unused, f"stale entries (nothing on the pages needs them): {sorted(unused)}"
