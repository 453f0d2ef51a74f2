"""The site on a 390 px phone, as the browser sweep of tests/test_browser.py saw each page
(`swept`, at 390 x 844, light): no page scrolls sideways, code in a title breaks between names,
the answer opens every example, printed prose wraps and few output boxes scroll.

A file of its own so that pytest-xdist's other worker can sweep the phone while the first
sweeps the desktop (`--dist loadfile` keeps a file's tests in one worker).
"""

from __future__ import annotations

import pytest
import test_browser
from test_browser import (
    HEADING_BREAK_AFTER,
    PHONE_PAGES,
    assert_answers_open_the_first_screen,
    titles_quoting_code,
)

from sitebuild import EXAMPLE_PAGES

# test_browser.py's fixtures: one Chromium, the site served, the sweep of each configuration.
browser = test_browser.browser
base_url = test_browser.base_url
axe_source = test_browser.axe_source
swept = test_browser.swept


@pytest.mark.parametrize("relative", PHONE_PAGES)
def test_a_390_pixel_wide_phone_never_scrolls_sideways(swept, relative):
    seen = swept(390, "light", relative)
    widths = seen["widths"]
    assert widths["scroll"] <= widths["client"], widths
    assert not seen["problems"], seen["problems"]


@pytest.mark.parametrize("relative", titles_quoting_code())
def test_on_a_phone_code_in_a_title_breaks_between_names_not_inside_one(swept, relative):
    seen = swept(390, "light", relative)
    for before, after in seen["heading_breaks"]:
        between = before[-1] in HEADING_BREAK_AFTER + " " or after.startswith(("=", " "))
        assert between, f"a line ends inside a name: {before}|{after}"
    assert not seen["problems"], seen["problems"]


def test_on_a_phone_every_example_opens_with_its_answer_in_the_first_screen(swept):
    assert_answers_open_the_first_screen(swept, "phone")


def test_on_a_phone_at_most_one_output_box_in_twenty_scrolls_sideways(swept):
    boxes, scrolling = 0, []
    for relative in EXAMPLE_PAGES:
        seen = swept(390, "light", relative)
        boxes += len(seen["output_boxes"])
        scrolling += [
            (relative, box["line"][:60]) for box in seen["output_boxes"] if box["scrolls"]
        ]
        assert not seen["problems"], f"{relative}: {seen['problems']}"
    assert boxes > 500, "the pages show their printed output and SQL"
    assert len(scrolling) <= boxes * 0.05, f"{len(scrolling)} of {boxes} scroll: {scrolling}"


def test_on_a_phone_printed_prose_wraps(swept):
    """Printed output with no columns at all (no two words apart by two spaces or a tab: a
    message, an error, a sentence) wraps on a phone; only a table may keep its lines."""
    unwrapped = [
        (relative, box["line"][:60])
        for relative in EXAMPLE_PAGES
        for box in swept(390, "light", relative)["output_boxes"]
        if box["printed"] and not box["columns"] and not box["wraps"]
    ]
    assert unwrapped == [], f"printed prose that does not wrap on a phone: {unwrapped}"
