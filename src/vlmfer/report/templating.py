"""Jinja2 rendering for every page vlmfer writes: escaped by default, never by discipline.

Run data is untrusted: a model can answer ``<script>…</script>``, and a sample id
or a label name is whatever the dataset says. So nothing is escaped by hand.
``*.html.j2`` templates are rendered with autoescape on, so every ``{{ value }}``
is HTML-escaped unless Python marked it ``Markup`` (only package data, such as
the style sheet, is). ``*.md.j2`` templates are Markdown: every ``{{ value }}``
goes through :func:`md_escape`, so a pipe cannot split a table cell, a newline
cannot end a row and inline HTML stays text. Undefined names raise
(``StrictUndefined``), so a misspelt field fails a test instead of printing "".

The templates and the CSS are package data in ``vlmfer/report/templates``; the
per-sample viewer puts its own templates there too and calls :func:`render`.
jinja2 is imported on first use, so ``import vlmfer`` stays light.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache, wraps
from importlib import resources
from typing import TYPE_CHECKING, Any

from vlmfer.paths import cache_dir
from vlmfer.report.formatting import FILTERS

if TYPE_CHECKING:
    from jinja2 import BytecodeCache, Environment
    from markupsafe import Markup

#: The package whose ``templates`` folder holds every template and static file.
PACKAGE = "vlmfer.report"

# Markdown metacharacters that could start emphasis, code, a link, a table cell
# or inline HTML; a backslash escapes any of them in CommonMark and GFM.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|&~])")
_NEWLINES = re.compile(r"\s*[\r\n]+\s*")


def md_escape(value: Any) -> str:
    """Text for a Markdown table cell or line: one line, every metacharacter inert.

    ``a|b`` becomes ``a\\|b``, a newline a space, ``<i>`` becomes ``\\<i\\>``.
    """
    text = "" if value is None else str(value)
    return _MD_SPECIAL.sub(r"\\\1", _NEWLINES.sub(" ", text))


@cache
def environment(kind: str = "html") -> Environment:
    """The shared, cached Environment for ``kind`` "html" (autoescape) or "markdown"."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    if kind not in ("html", "markdown"):
        raise ValueError(f"unknown template kind {kind!r}; choose 'html' or 'markdown'")
    env = Environment(
        loader=PackageLoader(PACKAGE, "templates"),
        bytecode_cache=_bytecode_cache(kind),
        autoescape=kind == "html",
        finalize=md_escape if kind == "markdown" else None,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update({name: _strict(f) for name, f in FILTERS.items()})
    return env


def _bytecode_cache(kind: str) -> BytecodeCache | None:
    """Compiled templates kept in ``<cache>/jinja/``: compiling them costs a run ~0.1 s.

    Jinja2 keys each entry on the template's name and source checksum, and drops one
    written by another Python or Jinja2. It does not key on the Environment's settings,
    which are compiled into the code (autoescape, finalize): so each kind, and each
    vlmfer version, keeps its own files, and HTML is never served code compiled without
    escaping. None (compile every time) when the folder cannot be made.
    """
    from jinja2 import FileSystemBytecodeCache

    from vlmfer._version import __version__

    folder = cache_dir() / "jinja"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return FileSystemBytecodeCache(str(folder), f"__vlmfer_{__version__}_{kind}_%s.cache")


def _strict(f: Callable[..., str]) -> Callable[..., str]:
    # A filter would quietly print "—" for a misspelt field; fail as StrictUndefined does.
    from jinja2 import Undefined

    @wraps(f)
    def checked(value: Any, *args: Any) -> str:
        if isinstance(value, Undefined):
            value._fail_with_undefined_error()
        return f(value, *args)

    return checked


def render(template_name: str, **context: Any) -> str:
    """Render a template of the package by name, e.g. ``render("report.html.j2", page=...)``.

    A name ending in ``.md.j2`` is rendered as Markdown, anything else as HTML.
    """
    kind = "markdown" if template_name.endswith(".md.j2") else "html"
    return environment(kind).get_template(template_name).render(**context)


def static_text(name: str) -> Markup:
    """A static file of the templates folder (a style sheet), trusted, for inlining."""
    from markupsafe import Markup

    text = resources.files(PACKAGE).joinpath("templates").joinpath(name).read_text(encoding="utf-8")
    return Markup(text)  # package data, not run data
