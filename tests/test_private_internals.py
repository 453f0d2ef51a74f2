"""The private internals of Sphinx, Sphinx-Gallery and sphinx-llm that the extensions replace or
read are checked when each extension is set up (sphinxext/private_internals.py): on the pinned
versions the set-up passes; an internal that is gone or changed fails it, with a message that
names the package, its installed version, the internal and what changed. No site is built."""

import sys
from importlib.metadata import version
from unittest import mock

import pytest
import sphinx.events
import sphinx.search
import sphinx.search.en
import sphinx_gallery.gen_gallery
import sphinx_gallery.gen_rst
from sphinx.errors import ExtensionError
from sphinx.highlighting import PygmentsBridge
from sphinx_llm.markdown_builder import SphinxLlmMarkdownBuilder
from sphinx_llm.txt import MarkdownGenerator

from sitebuild import ROOT

sys.path.insert(0, str(ROOT / "sphinxext"))
import build_speed  # noqa: E402
import llms_text  # noqa: E402
import matplotlib_on_demand  # noqa: E402
import search_topics  # noqa: E402

from session_sync import build_hooks  # noqa: E402


def set_up_build_hooks(app):
    build_hooks.install_cell_runner()  # what importing the module does, before setup()
    build_hooks.setup(app)


# extension set-up, package, owner, name: every internal an extension replaces or relies on.
GUARDED = [
    (set_up_build_hooks, "sphinx-gallery", sphinx_gallery.gen_rst, "_exec_and_get_memory"),
    (build_speed.setup, "sphinx", PygmentsBridge, "get_formatter"),
    (build_speed.setup, "sphinx-gallery", sphinx_gallery.gen_rst._LoggingTee, "write"),
    (
        matplotlib_on_demand.setup,
        "sphinx-gallery",
        sphinx_gallery.gen_gallery,
        "_import_matplotlib",
    ),
    (llms_text.setup, "sphinx", sphinx.events, "EventManager"),
    (llms_text.setup, "sphinx", sphinx.events, "EventListener"),
    (llms_text.setup, "sphinx-llm", MarkdownGenerator, "build_llms_txt"),
    (llms_text.setup, "sphinx-llm", MarkdownGenerator, "_target_paths_for_docname"),
    (llms_text.setup, "sphinx-llm", MarkdownGenerator, "get_page_description"),
    (llms_text.setup, "sphinx-llm", MarkdownGenerator, "build_markdown_files"),
    (llms_text.setup, "sphinx-llm", MarkdownGenerator, "combine_builds"),
    (llms_text.setup, "sphinx-llm", SphinxLlmMarkdownBuilder, "link_token"),
    (llms_text.setup, "sphinx-llm", SphinxLlmMarkdownBuilder, "finish"),
    (search_topics.setup, "sphinx", sphinx.search, "IndexBuilder"),
]
SET_UPS = {
    "build_hooks": set_up_build_hooks,
    "build_speed": build_speed.setup,
    "matplotlib_on_demand": matplotlib_on_demand.setup,
    "llms_text": llms_text.setup,
    "search_topics": search_topics.setup,
}


def label(guarded) -> str:
    _, _, owner, name = guarded
    return f"{getattr(owner, '__qualname__', owner.__name__)}.{name}"


@pytest.fixture(autouse=True)
def restored(monkeypatch):
    """Whatever a set-up replaces is put back after each test, as are the patches below."""
    for _, _, owner, name in GUARDED:
        monkeypatch.setattr(owner, name, getattr(owner, name))
    monkeypatch.setenv("MPLBACKEND", "agg")  # matplotlib_on_demand.setup sets it


def other_shape(*args, renamed, **kwargs):
    """A stand-in whose parameters match no internal's."""


def assert_fails(set_up, package: str, owner, name: str, change: str) -> None:
    with pytest.raises(ExtensionError) as failure:
        set_up(mock.MagicMock())
    message = str(failure.value)
    assert f"{package} {version(package)}" in message, message
    assert f".{name}," in message, message
    assert change in message, message
    assert "requirements/constraints.txt" in message, message


@pytest.mark.parametrize("set_up", SET_UPS.values(), ids=SET_UPS)
def test_set_up_passes_with_the_installed_pins(set_up):
    set_up(mock.MagicMock())
    set_up(mock.MagicMock())  # a second application in the same process: its originals, checked


@pytest.mark.parametrize("guarded", GUARDED, ids=map(label, GUARDED))
def test_set_up_fails_when_the_internal_is_gone(guarded, monkeypatch):
    set_up, package, owner, name = guarded
    monkeypatch.delattr(owner, name)
    change = "no longer defines it" if hasattr(owner, name) else "it no longer exists"
    assert_fails(set_up, package, owner, name, change)


@pytest.mark.parametrize("guarded", GUARDED, ids=map(label, GUARDED))
def test_set_up_fails_when_the_internal_has_another_shape(guarded, monkeypatch):
    set_up, package, owner, name = guarded
    if isinstance(getattr(owner, name), type):
        monkeypatch.setattr(owner, name, type(name, (), {}))  # a class that uses nothing
        change = "its code no longer uses"
    else:
        monkeypatch.setattr(owner, name, other_shape)
        change = "its signature is (*args, renamed, **kwargs), where ("
    assert_fails(set_up, package, owner, name, change)


def test_a_replaced_function_must_still_be_called_by_that_name(monkeypatch):
    def execute_code_block(compiler, block, example_globals, script_vars, gallery_conf, file_conf):
        """Runs cells some other way."""

    monkeypatch.setattr(sphinx_gallery.gen_rst, "execute_code_block", execute_code_block)
    change = "execute_code_block() no longer calls it by that name"
    assert_fails(
        set_up_build_hooks, "sphinx-gallery", sphinx_gallery.gen_rst, "_exec_and_get_memory", change
    )


def test_a_replaced_function_must_still_read_what_the_replacement_reads(monkeypatch):
    def runner(compiler, *, code_ast, gallery_conf, script_vars):
        """Runs the cell in another namespace than script_vars["fake_main"]."""
        return script_vars["src_file"]

    monkeypatch.setattr(sphinx_gallery.gen_rst, "_exec_and_get_memory", runner)
    change = "its code no longer uses fake_main"
    assert_fails(
        set_up_build_hooks, "sphinx-gallery", sphinx_gallery.gen_rst, "_exec_and_get_memory", change
    )


def test_a_class_must_still_use_the_attributes_the_replacement_reads(monkeypatch):
    class Tee:
        def write(self, data):
            """Keeps what it is given somewhere else than self.output."""

    monkeypatch.setattr(sphinx_gallery.gen_rst, "_LoggingTee", Tee)
    change = "the code of Tee no longer uses output"
    with pytest.raises(ExtensionError, match=change):
        build_speed.setup(mock.MagicMock())


def test_the_message_says_what_to_do(monkeypatch):
    monkeypatch.delattr(PygmentsBridge, "get_formatter")
    with pytest.raises(ExtensionError) as failure:
        build_speed.setup(mock.MagicMock())
    pin = next(
        line.split("==")[1]
        for line in (ROOT / "requirements" / "constraints.txt").read_text().splitlines()
        if line.startswith("Sphinx==")
    )
    assert str(failure.value) == (
        f"sphinx {version('sphinx')}: sphinx.highlighting.PygmentsBridge.get_formatter, a "
        "private internal that sphinxext/build_speed.py replaces, has changed: it no longer "
        f"exists. The site is built with sphinx=={pin} (requirements/constraints.txt; `nox -s "
        f"docs` installs it). To build with sphinx {version('sphinx')}, adapt "
        "sphinxext/build_speed.py to the new internal (or drop what it replaces), then update "
        "the shape it checks."
    )


def test_the_stems_are_cached_through_the_public_search_language_hook():
    app = mock.MagicMock()
    build_speed.setup(app)
    app.add_search_language.assert_called_once_with(build_speed.EnglishStemmedOnce)
    english = build_speed.EnglishStemmedOnce({})
    assert english.lang == "en"
    assert english.stem("Sessions") == sphinx.search.en.SearchEnglish({}).stem("Sessions")
