"""One declaration per frame: a TypedDict that is at once the frame's static type, the
check the server runs on what a device sends, and the JSON Schema firmware authors read.

Declarations use plain typing — str, int, bool, float, Literal, list[...], `X | None`,
nested TypedDicts, NotRequired — and `Annotated[..., Rule, Doc]` for what a
JSON type cannot say (lengths, ranges, a pattern). `compile_frame` turns a declaration,
once at import, into a tree of small checkers: parsing sits on the scan hot path, so
checking a frame is a few exact type tests, with no reflection per frame.

Fields a declaration does not name are ignored: firmware a release ahead may send more
(rolling upgrades). A complaint names the field and what it must be, e.g.
`events[0].seq must be a whole number from 1 to 2^62 (missing)`.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NotRequired, Required, Union, get_args, get_origin, get_type_hints

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

# (path inside the frame, what the value there must be); None when the value is good.
Complaint = tuple[str, str]


@dataclass(frozen=True, slots=True, eq=False)  # compared by identity: typing hashes Annotated metadata
class Rule:
    """A constraint beyond the JSON type: its JSON Schema keywords, the server's test, and
    how a complaint about it reads ("must be <says>")."""

    says: str
    test: Callable[[Any], bool]
    schema: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Doc:
    """What a field means, for the published schema (its `description`)."""

    text: str


def text(shortest: int, longest: int) -> Rule:
    if shortest == 0:
        return Rule(f"a string of at most {longest} characters", lambda v: len(v) <= longest, {"maxLength": longest})
    return Rule(
        f"a string of {shortest} to {longest} characters",
        lambda v: shortest <= len(v) <= longest,
        {"minLength": shortest, "maxLength": longest},
    )


def whole(least: int, most: int | None = None, says: str | None = None) -> Rule:
    """A whole number from `least` (to `most`, both included)."""
    if most is None:
        return Rule(says or f"a whole number, {least} or more", lambda v: v >= least, {"minimum": least})
    return Rule(
        says or f"a whole number from {least} to {most}",
        lambda v: least <= v <= most,
        {"minimum": least, "maximum": most},
    )


def pattern(regex: str, says: str) -> Rule:
    """The whole string matches `regex` (Python and ECMA-262 read the patterns used here alike)."""
    whole_match = re.compile(regex).fullmatch
    return Rule(says, lambda v: whole_match(v) is not None, {"pattern": f"^{regex}$"})


def at_least_items(least: int, says: str) -> Rule:
    return Rule(says, lambda v: len(v) >= least, {"minItems": least})


def at_most_items(most: int, says: str) -> Rule:
    return Rule(says, lambda v: len(v) <= most, {"maxItems": most})


def _has_offset(value: str) -> bool:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None
    except ValueError:
        return False


MOMENT = Rule("an ISO 8601 time with an offset", _has_offset, {"format": "date-time"})


# -- shapes: the compiled form of a declaration -------------------------------------------


class Shape:
    """A compiled declaration: `check` a decoded JSON value, or describe it as JSON Schema."""

    __slots__ = ("types", "what")
    types: tuple[type, ...]  # the Python types of the JSON values this shape may take
    what: str  # what a value must be, for complaints ("a string", "one of IN, OUT")

    def check(self, value: Any) -> Complaint | None:
        raise NotImplementedError

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError


def _join(name: str, inner: str) -> str:
    return name if not inner else name + inner if inner[0] == "[" else f"{name}.{inner}"


class Scalar(Shape):
    __slots__ = ("json_type",)

    def __init__(self, py: type, json_type: str, what: str) -> None:
        # JSON numbers may come as int where a float is declared; exact types keep bools out of ints.
        self.types = (float, int) if py is float else (py,)
        self.json_type, self.what = json_type, what

    def check(self, value: Any) -> Complaint | None:
        return None if type(value) in self.types else ("", self.what)

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return {"type": self.json_type}


class OneOf(Shape):
    """A Literal: one of a few fixed values."""

    __slots__ = ("ordered", "values")

    def __init__(self, values: tuple[Any, ...]) -> None:
        self.ordered, self.values = values, frozenset(values)
        self.types = tuple({type(v) for v in values})
        self.what = "one of " + ", ".join(str(v) for v in values) if len(values) > 1 else str(values[0])

    def check(self, value: Any) -> Complaint | None:
        return None if type(value) in self.types and value in self.values else ("", self.what)

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return {"const": self.ordered[0]} if len(self.ordered) == 1 else {"enum": list(self.ordered)}


class Constrained(Shape):
    """`Annotated[base, Rule…, Doc]`: the base type first, then each rule."""

    __slots__ = ("base", "doc", "rules")

    def __init__(self, base: Shape, rules: tuple[Rule, ...], doc: str | None) -> None:
        self.base, self.rules, self.doc = base, rules, doc
        self.types = base.types
        self.what = ", ".join(r.says for r in rules) if rules else base.what

    def check(self, value: Any) -> Complaint | None:
        bad = self.base.check(value)
        if bad is not None:
            return bad if bad[0] else ("", self.what)
        for rule in self.rules:
            if not rule.test(value):
                return ("", rule.says)
        return None

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        out = dict(self.base.schema(defs))
        for rule in self.rules:
            if out.keys() & rule.schema.keys():
                raise TypeError(f"two rules both set {sorted(out.keys() & rule.schema.keys())}")
            out.update(rule.schema)
        if self.doc:
            out["description"] = self.doc
        return out


class AnyOf(Shape):
    """`X | Y`: the alternative whose JSON type the value has decides."""

    __slots__ = ("alternatives",)

    def __init__(self, alternatives: tuple[Shape, ...]) -> None:
        self.alternatives = alternatives
        self.types = tuple(t for a in alternatives for t in a.types)
        self.what = " or ".join(a.what for a in alternatives)

    def check(self, value: Any) -> Complaint | None:
        kind = type(value)
        for alternative in self.alternatives:
            if kind in alternative.types:
                bad = alternative.check(value)
                if bad is None:
                    return None
                if bad[0]:
                    return bad
        return ("", self.what)

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        parts = [a.schema(defs) for a in self.alternatives]
        if all(set(p) == {"type"} for p in parts):
            return {"type": [p["type"] for p in parts]}
        return {"anyOf": parts}


class ListOf(Shape):
    __slots__ = ("item",)

    def __init__(self, item: Shape) -> None:
        self.item = item
        self.types, self.what = (list,), "a list"

    def check(self, value: Any) -> Complaint | None:
        if type(value) is not list:
            return ("", self.what)
        check = self.item.check
        for i, element in enumerate(value):
            bad = check(element)
            if bad is not None:
                return (_join(f"[{i}]", bad[0]), bad[1])
        return None

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return {"type": "array", "items": self.item.schema(defs)}


class Object(Shape):
    """A TypedDict: its declared fields are checked in order; other fields are ignored."""

    __slots__ = ("checked", "doc", "fields", "name")

    def __init__(self, name: str, doc: str | None, fields: list[tuple[str, bool, Shape]] | None = None) -> None:
        self.name, self.doc = name, doc
        self.fields: list[tuple[str, bool, Shape]] = fields if fields is not None else []
        self.checked: tuple[tuple[str, bool, Shape], ...] = tuple(self.fields)
        self.types, self.what = (dict,), "an object"

    def check(self, value: Any) -> Complaint | None:
        if type(value) is not dict:
            return ("", self.what)
        for name, required, shape in self.checked:
            if name in value:
                bad = shape.check(value[name])
                if bad is not None:
                    return (_join(name, bad[0]), bad[1])
            elif required:
                return (name, f"{shape.what} (missing)")
        return None

    def inline(self, defs: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "object"}
        if self.doc:
            out["description"] = self.doc
        out["properties"] = {name: shape.schema(defs) for name, _, shape in self.fields}
        required = [name for name, needed, _ in self.fields if needed]
        if required:
            out["required"] = required
        return out

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        if self.name not in defs:
            defs[self.name] = {}  # claimed first: a shape that refers to itself stops here
            defs[self.name] = self.inline(defs)
        return {"$ref": f"#/$defs/{self.name}"}


# -- compiling declarations ---------------------------------------------------------------

_SCALARS: dict[Any, Shape] = {
    str: Scalar(str, "string", "a string"),
    int: Scalar(int, "integer", "a whole number"),
    bool: Scalar(bool, "boolean", "true or false"),
    float: Scalar(float, "number", "a number"),
    type(None): Scalar(type(None), "null", "null"),
}
_OBJECTS: dict[type, Object] = {}


def compile_shape(hint: Any) -> Shape:
    if hint in _SCALARS:
        return _SCALARS[hint]
    if typing.is_typeddict(hint):
        return _object(hint)
    origin, args = get_origin(hint), get_args(hint)
    if origin is typing.Annotated:
        extras = hint.__metadata__
        rules = tuple(x for x in extras if isinstance(x, Rule))
        docs = [x.text for x in extras if isinstance(x, Doc)]
        return Constrained(compile_shape(args[0]), rules, docs[-1] if docs else None)
    if origin is Literal:
        return OneOf(args)
    if origin is Union or origin is types.UnionType:
        return AnyOf(tuple(compile_shape(a) for a in args))
    if origin is list:
        return ListOf(compile_shape(args[0]))
    raise TypeError(f"a frame declaration cannot say {hint!r}")


def _object(declaration: type) -> Object:
    known = _OBJECTS.get(declaration)
    if known is not None:
        return known
    doc = _paragraphs(declaration.__doc__) if declaration.__doc__ else None
    shape = Object(declaration.__name__, doc)
    _OBJECTS[declaration] = shape
    total = getattr(declaration, "__total__", True)
    for name, hint in get_type_hints(declaration, include_extras=True).items():
        # Read NotRequired from the hint itself: with postponed annotations Python 3.11's
        # __required_keys__ cannot see it.
        required = total
        while get_origin(hint) in (NotRequired, Required):
            required = get_origin(hint) is Required
            hint = get_args(hint)[0]
        shape.fields.append((name, required, compile_shape(hint)))
    shape.checked = tuple(shape.fields)
    return shape


def _paragraphs(docstring: str) -> str:
    """A docstring as schema text: wrapped lines joined, blank lines kept between paragraphs."""
    return "\n\n".join(" ".join(p.split("\n")) for p in inspect.cleandoc(docstring).split("\n\n"))


@dataclass(frozen=True)
class FrameType:
    """One frame `type`: its declaration, compiled."""

    name: str
    declaration: type
    shape: Object
    direction: str  # "device → server" or "server → device"

    def check(self, frame: dict[str, Any]) -> str | None:
        """None when the frame has its declared shape, else what is wrong with it."""
        bad = self.shape.check(frame)
        return None if bad is None else f"{self.name} frame: {bad[0]} must be {bad[1]}"

    def json_schema(self) -> dict[str, Any]:
        defs: dict[str, Any] = {}
        body = self.shape.inline(defs)
        out: dict[str, Any] = {
            "$schema": JSON_SCHEMA_DIALECT,
            "title": f"{self.name} ({self.direction})",
            **body,
        }
        if defs:
            out["$defs"] = dict(sorted(defs.items()))
        return out


def compile_frames(direction: str, *declarations: type) -> dict[str, FrameType]:
    """The frame types of one direction, by their `type` (declared as `type: Literal["…"]`)."""
    out: dict[str, FrameType] = {}
    for declaration in declarations:
        shape = _object(declaration)
        kind = dict((n, s) for n, _, s in shape.fields).get("type")
        if not isinstance(kind, OneOf) or len(kind.values) != 1:
            raise TypeError(f"{declaration.__name__} needs `type: Literal[...]` with one value")
        (name,) = kind.values
        if name in out:
            raise TypeError(f"frame type {name!r} is declared twice")
        # The type field picked this declaration already: the frame's check skips it.
        frame = Object(shape.name, shape.doc, shape.fields)
        frame.checked = tuple(f for f in shape.fields if f[0] != "type")
        out[name] = FrameType(name, declaration, frame, direction)
    return out
