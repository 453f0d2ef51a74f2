"""The links in the text of the 404 page, absolute from the site's root.

A host serves 404.html for a missing address at any depth (/session-sync/no/such/page.html), so
a relative link in it (``index.html``) would point under the missing address. sphinx-notfound-page
makes the theme's links, stylesheets, scripts and images absolute (``notfound_urls_prefix``, the
base URL's path, conf.py) but not the references in the page's own text: this does, with the same
prefix; and the page's content root (``data-content_root``, which Sphinx's scripts resolve
their files against) is that prefix too, not ``./``.
"""

from __future__ import annotations

import re

from docutils import nodes

ABSOLUTE = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|/|#)", re.IGNORECASE)


def absolute_links(app, doctree: nodes.document, docname: str) -> None:
    if docname != app.config.notfound_pagename:
        return
    prefix = app.config.notfound_urls_prefix or "/"
    for reference in doctree.findall(nodes.reference):
        uri = reference.get("refuri")
        if uri and not ABSOLUTE.match(uri):
            reference["refuri"] = prefix + uri


def absolute_content_root(app, pagename, templatename, context, doctree) -> None:
    if pagename == app.config.notfound_pagename and "content_root" in context:
        context["content_root"] = app.config.notfound_urls_prefix or "/"


def setup(app):
    app.setup_extension("notfound.extension")
    app.connect("doctree-resolved", absolute_links)
    app.connect("html-page-context", absolute_content_root)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
