"""Prompt templates: data files with a version and a content hash.

A template is a small TOML file::

    kind = "label"            # label | gate | describe | mapper (optional in user files)
    name = "my-prompt"        # optional; defaults to the file name
    version = "1"             # required: bump it when you change the text
    description = "..."       # optional
    system = "..."            # optional system text
    text = '''
    Which emotion does the person in the {media_word} show? Choose from: {labels}'''

Placeholders are ``{name}`` fields; write literal braces as ``{{`` and ``}}``.
Which placeholders a template may use depends on its kind (see ``PLACEHOLDERS``).
The content hash is the SHA-256 of the template text exactly as written, before
rendering: of ``text`` alone, or of ``system``, a NUL byte and ``text`` when the
template has a system text.
"""

from __future__ import annotations

import hashlib
import string
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import ValidationError

from vlmfer.errors import ConfigError
from vlmfer.types import Record, TemplateRef

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

TemplateKind = Literal["label", "gate", "describe", "mapper"]
TEMPLATE_KINDS: tuple[str, ...] = get_args(TemplateKind)

#: Per kind: (required placeholders, optional placeholders).
PLACEHOLDERS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    # Asks for one label from a list.
    "label": (frozenset({"labels"}), frozenset({"media_word", "examples"})),
    # Two-stage, stage 1: asks for one of the gate's answers (Neutral / Emotion).
    "gate": (frozenset({"labels"}), frozenset({"media_word", "examples"})),
    # Free description: no label list, on purpose.
    "describe": (frozenset(), frozenset({"media_word"})),
    # Text-only mapping of a description to a label (or "none").
    "mapper": (frozenset({"labels", "description"}), frozenset({"examples"})),
}

#: The built-in templates, by name (files in this package's templates/ folder).
BUILTIN_TEMPLATES: tuple[str, ...] = ("seed", "gate", "describe", "mapper")


class TemplateError(ConfigError):
    """A template file is missing, malformed or uses placeholders it may not."""


class TemplateFile(Record):
    """The schema of a template TOML file."""

    kind: TemplateKind | None = None
    name: str | None = None
    version: str
    description: str | None = None
    system: str | None = None
    text: str


@dataclass(frozen=True)
class Template:
    """A validated prompt template."""

    name: str
    version: str
    kind: str
    text: str
    system: str | None
    source: str
    description: str | None = None

    @property
    def sha256(self) -> str:
        """SHA-256 of the template text as written (see the module docstring)."""
        content = self.text if not self.system else f"{self.system}\x00{self.text}"
        return hashlib.sha256(content.encode("utf-8")).hexdigest()

    @property
    def ref(self) -> TemplateRef:
        return TemplateRef(name=self.name, version=self.version, sha256=self.sha256)

    @property
    def fields(self) -> frozenset[str]:
        found = _fields(self.text, self.source, "text")
        if self.system:
            found |= _fields(self.system, self.source, "system")
        return found

    def render(self, **values: str) -> tuple[str | None, str]:
        """Fill the placeholders; returns ``(system, text)``.

        Values for placeholders the template does not use are ignored, so
        callers pass everything they know.
        """
        missing = self.fields - values.keys()
        if missing:
            raise TemplateError(
                f"{self.source}: no value for placeholder(s) "
                f"{', '.join('{' + m + '}' for m in sorted(missing))}"
            )
        system = self.system.format_map(values) if self.system else self.system
        return system, self.text.format_map(values)

    def describe(self) -> dict[str, Any]:
        """Name, version, hash and source, for the run manifest."""
        return {**self.ref.model_dump(), "kind": self.kind, "source": self.source}


def _fields(text: str, source: str, where: str) -> frozenset[str]:
    brace_hint = "write literal braces as {{ and }}"
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as e:
        raise TemplateError(
            f"{source}: {where}: malformed placeholder ({e}); {brace_hint}"
        ) from None
    found: set[str] = set()
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if field == "" or field.isdigit():
            raise TemplateError(
                f"{source}: {where}: positional placeholder {{{field}}}; use a named placeholder "
                f"such as {{labels}}, or {brace_hint}"
            )
        if not field.isidentifier():
            raise TemplateError(
                f"{source}: {where}: placeholder {{{field}}} must be a plain name "
                f"(no attribute or index access); {brace_hint}"
            )
        if spec or conversion:
            raise TemplateError(
                f"{source}: {where}: placeholder {{{field}}} must not have a format spec or "
                f"conversion (found {'!' + conversion if conversion else ':' + (spec or '')})"
            )
        found.add(field)
    return frozenset(found)


def validate(template: Template, kind: str) -> Template:
    """Check that ``template`` can serve as a ``kind`` template; return it."""
    if kind not in PLACEHOLDERS:
        valid = ", ".join(TEMPLATE_KINDS)
        raise ValueError(f"unknown template kind {kind!r}; valid kinds: {valid}")
    if template.kind != kind:
        raise TemplateError(
            f"{template.source}: this is a {template.kind!r} template, but a {kind!r} template "
            f"is needed here. Set kind = {kind!r} in the file, or pass a {kind!r} template "
            f"(built-in ones: {', '.join(_builtin_names_of(kind))})"
        )
    required, optional = PLACEHOLDERS[kind]
    allowed = required | optional
    fields = template.fields
    shown = ", ".join("{" + f + "}" for f in sorted(allowed))
    unknown = fields - allowed
    if unknown:
        raise TemplateError(
            f"{template.source}: unknown placeholder(s) "
            f"{', '.join('{' + u + '}' for u in sorted(unknown))} for a {kind!r} template. "
            f"Allowed: {shown}; write literal braces as {{{{ and }}}}"
        )
    missing = required - fields
    if missing:
        raise TemplateError(
            f"{template.source}: a {kind!r} template must use "
            f"{', '.join('{' + m + '}' for m in sorted(missing))} "
            f"(allowed placeholders: {shown})"
        )
    return template


def _builtin_names_of(kind: str) -> list[str]:
    return [n for n in BUILTIN_TEMPLATES if _load_builtin(n).kind == kind]


def parse_template(text: str, *, source: str, default_name: str, kind: str | None) -> Template:
    """Build a template from TOML text (``source`` names it in errors)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise TemplateError(f"{source}: not valid TOML: {e}") from None
    try:
        spec = TemplateFile.model_validate(data)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "(file)"
            if err["type"] == "extra_forbidden":
                problems.append(f"unknown key {loc!r}")
            elif err["type"] == "missing":
                hint = ' (e.g. version = "1")' if loc == "version" else ""
                problems.append(f"missing key {loc!r}{hint}")
            else:
                problems.append(f"{loc}: {err['msg']}")
        keys = ", ".join(TemplateFile.model_fields)
        raise TemplateError(f"{source}: {'; '.join(problems)}. Valid keys: {keys}") from None
    if not spec.text.strip():
        raise TemplateError(f"{source}: 'text' is empty")
    resolved_kind = spec.kind or kind
    if resolved_kind is None:
        raise TemplateError(
            f"{source}: no 'kind'; set kind to one of {', '.join(TEMPLATE_KINDS)}"
        )
    return Template(
        name=spec.name or default_name,
        version=spec.version,
        kind=resolved_kind,
        text=spec.text,
        system=spec.system,
        source=source,
        description=spec.description,
    )


@cache
def _load_builtin(name: str) -> Template:
    res = resources.files("vlmfer.strategies") / "templates" / f"{name}.toml"
    return parse_template(
        res.read_text(encoding="utf-8"), source=f"builtin:{name}", default_name=name, kind=None
    )


def load_template(ref: str | Path, kind: str) -> Template:
    """Load a built-in template by name, or a template file by path, checked as ``kind``.

    >>> load_template("seed", "label").name
    'seed'
    """
    if isinstance(ref, str) and ref in BUILTIN_TEMPLATES:
        return validate(_load_builtin(ref), kind)
    path = Path(ref).expanduser()
    if not path.is_file():
        looks_like_path = path.suffix or "/" in str(ref) or "\\" in str(ref)
        what = "file not found" if looks_like_path else "not a built-in template or a file"
        raise TemplateError(
            f"template {str(ref)!r}: {what}. Pass the path of a .toml template file, or a "
            f"built-in template: {', '.join(_builtin_names_of(kind))}"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise TemplateError(f"template {path}: cannot read it ({e})") from None
    return validate(parse_template(text, source=str(path), default_name=path.stem, kind=kind), kind)


def render_values(
    *, order: list[str], canonical: tuple[str, ...], media_word: str | None = None,
    description: str | None = None,
) -> dict[str, str]:
    """The placeholder values for one prompt."""
    values: dict[str, str] = {
        "labels": ", ".join(order),
        "examples": ", ".join(f"'{x}'" for x in example_labels(canonical)),
    }
    if media_word is not None:
        values["media_word"] = media_word
    if description is not None:
        values["description"] = description
    return values


def example_labels(labels: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The two labels named in ``(e.g., ...)``: the seed's 'Happy', 'Sad' when both are
    in the set, else the first two labels in the set's own (unshuffled) order."""
    if "Happy" in labels and "Sad" in labels:
        return ("Happy", "Sad")
    return tuple(labels[:2])


def template_refs(templates: Mapping[str, Template]) -> dict[str, dict[str, Any]]:
    return {slot: t.describe() for slot, t in templates.items()}
