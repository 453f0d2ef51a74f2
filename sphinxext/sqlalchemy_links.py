"""Link SQLAlchemy names written as inline code in prose to SQLAlchemy's own documentation.

Authors write ``Session.commit()``, ``expire_on_commit`` or ``StaleDataError`` as plain inline
code (MyST single backticks, reStructuredText double backticks in example prose); this turns
each one that names a documented SQLAlchemy object into a link, through the intersphinx
inventory (docs/_inventories/sqlalchemy-objects.inv), so no page has to spell out roles. A name
that the inventory does not hold stays plain code; an explicit role (``{py:meth}``) still wins.

What counts as a name, to keep ordinary words and SQL keywords plain:

* a dotted name (``Session.commit``, ``sqlalchemy.orm.Session``), with or without ``()``;
* a call (``refresh()``, ``update()``): also looked up as a method of ``Session``, ``Query``
  and ``MetaData``;
* a bare snake_case name (``bulk_save_objects``, ``do_orm_execute``): looked up only as a member
  of ``Session`` or of the session, mapper and connection event classes;
* a bare CamelCase name (``Session``, ``StaleDataError``), not an all-capitals one (``UPDATE``);
* a few option names that are not objects (``synchronize_session``, ``expire_on_commit``):
  ``TERMS`` says where each is documented; ``expire_on_commit=False`` links there too;
* a call with simple arguments (``update(User)``, ``session.refresh(obj)``) links its callee.

Code blocks are untouched: Sphinx-Gallery links the names in example code itself.
"""

from __future__ import annotations

import re

from docutils import nodes
from sphinx import addnodes

PROJECT = "sqlalchemy"
# Option names that are not importable objects, and the entry that documents each.
TERMS = {
    "synchronize_session": ("std:label", "orm_queryguide_update_delete_sync"),
    "expire_on_commit": ("py:parameter", "sqlalchemy.orm.Session.params.expire_on_commit"),
    "autoflush": ("py:parameter", "sqlalchemy.orm.Session.params.autoflush"),
    "populate_existing": ("std:label", "orm_queryguide_populate_existing"),
    "with_for_update": ("py:method", "sqlalchemy.sql.expression.Select.with_for_update"),
}
MODULES = ("sqlalchemy.", "sqlalchemy.orm.", "sqlalchemy.exc.", "sqlalchemy.orm.exc.", "")
METHOD_OWNERS = ("sqlalchemy.orm.Session.", "sqlalchemy.orm.Query.", "sqlalchemy.MetaData.")
# Where a bare snake_case name (``bulk_save_objects``, ``before_update``) is looked up.
MEMBER_OWNERS = (
    "sqlalchemy.orm.Session.",
    "sqlalchemy.orm.SessionEvents.",
    "sqlalchemy.orm.MapperEvents.",
    "sqlalchemy.events.ConnectionEvents.",
)
INSTANCE_NAMES = {"session.": "Session.", "query.": "Query."}
ROLES = ("py:class", "py:exception", "py:function", "py:method", "py:attribute", "py:data")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*(\(\))?")
# ``update(User)``, ``Session(engine, autoflush=False)``: a call with simple arguments names its
# callee; ``expire_on_commit=False`` names the option.
SIMPLE_CALL = re.compile(r"([A-Za-z_][\w.]*)\([^()]*\)")
OPTION_VALUE = re.compile(r"([a-z_]+)\s*=\s*[^=]+")
SKIP_INSIDE = (
    nodes.reference,
    nodes.title,
    nodes.literal_block,
    nodes.raw,
    addnodes.pending_xref,
    addnodes.desc_signature,
    addnodes.toctree,
)


def _uri(item) -> str:
    uri = getattr(item, "uri", None)
    return uri if uri is not None else item[2]


class Resolver:
    def __init__(self, inventory: dict):
        self.inventory = inventory
        self.cache: dict[str, tuple[str, str] | None] = {}

    def entry(self, role: str, name: str) -> tuple[str, str] | None:
        item = self.inventory.get(role, {}).get(name)
        return (name, _uri(item)) if item is not None else None

    def resolve(self, text: str) -> tuple[str, str] | None:
        if text not in self.cache:
            self.cache[text] = self._resolve(text)
        return self.cache[text]

    def _resolve(self, text: str) -> tuple[str, str] | None:
        text = text.strip()
        if not NAME.fullmatch(text):
            call = SIMPLE_CALL.fullmatch(text)
            if call:
                return self._resolve(call.group(1) + "()")
            option = OPTION_VALUE.fullmatch(text)
            if option and option.group(1) in TERMS:
                return self.entry(*TERMS[option.group(1)])
            return None
        call = text.endswith("()")
        name = text[:-2] if call else text
        if name in TERMS:
            return self.entry(*TERMS[name])
        dotted = "." in name
        for instance, owner in INSTANCE_NAMES.items():
            if name.startswith(instance):
                name = owner + name[len(instance) :]
        snake = "_" in name.strip("_") and name.islower() and not dotted
        if not (dotted or call or snake or (name[0].isupper() and not name.isupper())):
            return None
        prefixes = MODULES
        if call and not dotted:
            prefixes += METHOD_OWNERS
        if snake and not call:
            prefixes = MEMBER_OWNERS
        for prefix in prefixes:
            full = prefix + name
            if not full.startswith("sqlalchemy."):
                continue
            for role in ROLES:
                found = self.entry(role, full)
                if found:
                    return found
        return None


def _skipped(node: nodes.Node) -> bool:
    parent = node.parent
    while parent is not None:
        if isinstance(parent, SKIP_INSIDE):
            return True
        parent = parent.parent
    return False


def link_prose(app, doctree, docname) -> None:
    from sphinx.ext.intersphinx import InventoryAdapter

    inventory = InventoryAdapter(app.env).named_inventory.get(PROJECT)
    if not inventory:
        return
    resolver = Resolver(inventory)
    for literal in list(doctree.findall(nodes.literal)):
        if _skipped(literal):
            continue
        found = resolver.resolve(literal.astext())
        if not found:
            continue
        target, uri = found
        reference = nodes.reference(
            "",
            "",
            literal.deepcopy(),
            internal=False,
            refuri=uri,
            reftitle=f"{target} (SQLAlchemy documentation)",
            classes=["sqlalchemy-link"],
        )
        literal.replace_self(reference)


def setup(app):
    app.setup_extension("sphinx.ext.intersphinx")
    app.connect("doctree-resolved", link_prose)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
