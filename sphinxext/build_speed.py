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
"""

from sphinx.highlighting import PygmentsBridge
from sphinx.search.en import SearchEnglish

_new_formatter = PygmentsBridge.get_formatter
_stem = SearchEnglish.stem


def formatter_per_options(self, **kwargs):
    key = repr(sorted(kwargs.items()))
    formatters = self.__dict__.setdefault("_formatters_by_options", {})
    formatter = formatters.get(key)
    if formatter is None:
        formatter = formatters[key] = _new_formatter(self, **kwargs)
    return formatter


def stem_once_per_word(self, word: str) -> str:
    stems = self.__dict__.setdefault("_stems_by_word", {})
    stem = stems.get(word)
    if stem is None:
        stem = stems[word] = _stem(self, word)
    return stem


def setup(app):
    PygmentsBridge.get_formatter = formatter_per_options
    SearchEnglish.stem = stem_once_per_word
    return {"parallel_read_safe": True, "parallel_write_safe": True}
