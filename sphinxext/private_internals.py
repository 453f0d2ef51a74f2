"""The private internals of Sphinx, Sphinx-Gallery and sphinx-llm that this site's extensions
replace or read, checked when each extension is set up.

A private name has no deprecation period: a release may rename it, change its parameters or stop
calling it, and a replacement would then fail deep in a build, or, worse, do nothing while the
build goes on. Each extension therefore states what it relies on (the internal exists, has these
parameters, still uses these names, is still called by this function), and ``replace`` or
``checked`` fail the build at once otherwise, naming the package, its installed version, the
internal and what changed. The pinned versions (``requirements/constraints.txt``) pass; ``nox -s
toolchain_watch`` builds the site with the newest releases and says what changed.
"""

from __future__ import annotations

import inspect
import types
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from sphinx.errors import ExtensionError

CONSTRAINTS = Path(__file__).resolve().parents[1] / "requirements" / "constraints.txt"

# (owner, name) -> (replacement, original) for each internal replaced in this process, so that a
# second set-up (a second Sphinx application in one process) checks the original again.
_replaced: dict[tuple[object, str], tuple[object, object]] = {}


def replace(
    package: str,
    owner,
    name: str,
    replacement,
    *,
    signature: str | None = None,
    mentions: tuple[str, ...] = (),
    called_by: tuple[str, ...] = (),
):
    """Put ``replacement`` in place of ``owner.name`` once it is checked (see ``checked``);
    return the original, which the replacement may call."""
    by = replacement.__module__
    original = _checked(package, owner, name, signature, mentions, called_by, by, "replaces")
    setattr(owner, name, replacement)
    _replaced[owner, name] = (replacement, original)
    return original


def checked(
    package: str,
    owner,
    name: str,
    *,
    signature: str | None = None,
    mentions: tuple[str, ...] = (),
    called_by: tuple[str, ...] = (),
    by: str,
):
    """``owner.name`` (``owner`` a module or a class of ``package``), if it has the shape that
    the extension ``by`` relies on, else an ``ExtensionError`` that says what changed:

    - it exists (a class defines it, not only inherits it), and is callable when a
      ``signature`` is given;
    - ``signature``: its parameters, written as ``inspect.signature`` prints them without
      annotations, e.g. ``"(self, docname, fragment=None)"``;
    - ``mentions``: names (attributes, globals) or string constants (dictionary keys) that its
      code must still use, because the extension uses them too: for a class, or a method of a
      class, anywhere in the class's code (its bases' included); for a function, in it;
    - ``called_by``: functions of ``owner`` whose code must still name it; a replaced function
      that is no longer called by that name would silently never run.
    """
    return _checked(package, owner, name, signature, mentions, called_by, by, "relies on")


def _checked(package, owner, name, signature, mentions, called_by, by, verb):
    if inspect.ismodule(owner):
        internal = f"{owner.__name__}.{name}"
    else:
        internal = f"{owner.__module__}.{owner.__qualname__}.{name}"
    target = getattr(owner, name, None)
    installed = _replaced.get((owner, name))
    if installed is not None and target is installed[0]:
        target = installed[1]  # replaced by this process's earlier set-up: check the original
    change = _what_changed(owner, name, target, signature, mentions, called_by)
    if change is None:
        return target
    try:
        installed_version = version(package)
    except PackageNotFoundError:
        installed_version = "(not installed)"
    module = "sphinxext/" + by.replace(".", "/") + ".py"
    pin = _pinned(package)
    pinned = f"{package}=={pin}" if pin else f"the {package} of requirements/constraints.txt"
    raise ExtensionError(
        f"{package} {installed_version}: {internal}, a private internal that {module} {verb}, "
        f"has changed: {change}. The site is built with {pinned} "
        "(requirements/constraints.txt; `nox -s docs` installs it). To build with "
        f"{package} {installed_version}, adapt {module} to the new internal (or drop what it "
        "replaces), then update the shape it checks."
    )


def _what_changed(owner, name, target, signature, mentions, called_by) -> str | None:
    if not hasattr(owner, name):
        return "it no longer exists"
    if inspect.isclass(owner) and name not in vars(owner):
        return f"{owner.__name__} no longer defines it (it only inherits it)"
    if signature is not None:
        if not callable(target):
            return f"it is no longer callable (it is a {type(target).__name__})"
        found = _plain_signature(target)
        if found != signature:
            return f"its signature is {found}, where {signature} was expected"
    if mentions:
        if inspect.isclass(target):
            code, scope = _names_in_class(target), "its code"
        elif inspect.isclass(owner):
            code, scope = _names_in_class(owner), f"the code of {owner.__name__}"
        else:
            code, scope = _names_in(target), "its code"
        missing = [mention for mention in mentions if mention not in code]
        if missing:
            return f"{scope} no longer uses {', '.join(missing)}"
    for caller in called_by:
        function = getattr(owner, caller, None)
        if function is None or name not in _names_in(function):
            return f"{caller}() no longer calls it by that name"
    return None


def _plain_signature(function) -> str:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return "(unknown)"
    empty = inspect.Parameter.empty
    parameters = [p.replace(annotation=empty) for p in signature.parameters.values()]
    return str(signature.replace(parameters=parameters, return_annotation=empty))


def _names_in(function) -> set[str]:
    """The names and string constants a function's code uses, nested functions included."""
    function = inspect.unwrap(getattr(function, "__func__", function))
    code = getattr(function, "__code__", None)
    names: set[str] = set()
    stack = [code] if code is not None else []
    while stack:
        code = stack.pop()
        names.update(code.co_names)
        for constant in code.co_consts:
            if isinstance(constant, types.CodeType):
                stack.append(constant)
            elif isinstance(constant, str):
                names.add(constant)
    return names


def _names_in_class(cls: type) -> set[str]:
    """The attribute names of a class and what the code of its methods (and its bases') uses;
    a method this process replaced counts as its original."""
    names = set(dir(cls))
    for klass in cls.__mro__[:-1]:
        for attribute, value in vars(klass).items():
            installed = _replaced.get((klass, attribute))
            if installed is not None and value is installed[0]:
                value = installed[1]
            if isinstance(value, (staticmethod, classmethod, property)):
                value = getattr(value, "__func__", None) or value.fget
            if inspect.isfunction(value):
                names |= _names_in(value)
    return names


def _pinned(package: str) -> str | None:
    try:
        lines = CONSTRAINTS.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    wanted = _normalised(package)
    for line in lines:
        pinned, _, pin = line.partition("==")
        if pin and _normalised(pinned) == wanted:
            return pin.strip()
    return None


def _normalised(package: str) -> str:
    return package.lower().replace("_", "-").replace(".", "-")
