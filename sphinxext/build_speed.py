"""Work Sphinx does again for every code box and every page, done once (the pages unchanged).

The executed examples put some 1,500 code boxes (their SQL, mostly) on the site, and their
words in the search index; a profile of a clean build found two costs that grow with them:

- Pygments highlighting: Sphinx makes a new ``HtmlFormatter`` for each box, and each one builds
  its style sheet for every token type again (more than half of the highlighting time). A
  formatter holds its options only (formatting changes nothing in it), so one per set of
  options gives the same HTML.
- The search index: Sphinx stems each page's words with the pure-Python Snowball stemmer, page
  after page the same words (``session``, ``select``, ``where`` ...). A word's stem does not
  depend on the page: it is computed once per word.

And one that only a build running the examples pays, for every line they print (their SQL, a
line a statement, included): Sphinx-Gallery's tee of the examples' output logs each line as a
"verbose" message, made into a log record that every handler then drops unless the build runs
with ``-v``. Without ``-v`` the tee now only keeps the output, which is all the pages use.

The stems are cached by a search language registered through Sphinx's public
``app.add_search_language``: English, whose ``stem`` remembers each word's stem. The formatter
and the tee are replaced in place (Sphinx and Sphinx-Gallery have no hook for them), once
``private_internals`` has checked that they still have the shape these replacements rely on.
"""

import logging

import sphinx_gallery.gen_rst
from private_internals import replace
from sphinx.highlighting import PygmentsBridge
from sphinx.search.en import SearchEnglish
from sphinx.util.logging import NAMESPACE, VERBOSE


def formatter_per_options(self, **kwargs):
    key = repr(sorted(kwargs.items()))
    formatters = self.__dict__.setdefault("_formatters_by_options", {})
    formatter = formatters.get(key)
    if formatter is None:
        formatter = formatters[key] = _new_formatter(self, **kwargs)
    return formatter


class EnglishStemmedOnce(SearchEnglish):
    """Sphinx's English search language, each word's stem computed once per build."""

    def __init__(self, options: dict[str, str]) -> None:
        super().__init__(options)
        self._stems_by_word: dict[str, str] = {}

    def stem(self, word: str) -> str:
        stem = self._stems_by_word.get(word)
        if stem is None:
            stem = self._stems_by_word[word] = super().stem(word)
        return stem


def _verbose_messages_shown() -> bool:
    """Whether a handler of Sphinx's logger would write a verbose message (``-v``), or may: one
    that keeps records to hand on later (a parallel build's, whose level is none) counts."""
    return any(handler.level <= VERBOSE for handler in logging.getLogger(NAMESPACE).handlers)


def tee_logging_only_if_shown(self, data: str) -> None:
    if _verbose_messages_shown():
        _tee_write(self, data)
    else:
        self.output.write(data)


def setup(app):
    global _new_formatter, _tee_write
    _new_formatter = replace(
        "sphinx",
        PygmentsBridge,
        "get_formatter",
        formatter_per_options,
        signature="(self, **kwargs)",
        called_by=("highlight_block",),
    )
    # The tee's output, which the pages show, is its `output` buffer.
    _tee_write = replace(
        "sphinx-gallery",
        sphinx_gallery.gen_rst._LoggingTee,
        "write",
        tee_logging_only_if_shown,
        signature="(self, data)",
        mentions=("output",),
    )
    app.add_search_language(EnglishStemmedOnce)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
