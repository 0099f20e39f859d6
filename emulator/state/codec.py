"""Records to JSON and back, directed by their type hints: what snapshots and the state directory hold.

A record is a dataclass of the emulator's (a flow, an identity, a Prove Key, a project...). `encode`
writes one as a JSON object of its fields; `decode` reads it back against the same type hints, so a
snapshot file is checked field by field as it is read: a wrong type anywhere is a `CodecError` naming
the place (`flows[3].possession.status`), never a record that fails later in a request.

What is not state is not written: callbacks and clock timers (their owners set them again when the
record is restored). Personas are shared by many flows and identities: a record names its persona by
a digest, and the persona itself is written once, in the `Personas` table beside the records.
"""

from __future__ import annotations

import ast
import base64
import dataclasses
import enum
import functools
import hashlib
import importlib
import inspect
import json
import math
import sys
import types
import typing
from collections import OrderedDict, deque
from typing import Any, Callable

from emulator.clock import Timer
from emulator.scenarios.model import Persona

JSON_SCALARS = (str, int, float, bool, type(None))


class CodecError(ValueError):
    def __init__(self, where: str, rule: str) -> None:
        super().__init__(f"{where}: {rule}" if where else rule)
        self.where = where
        self.rule = rule


class Personas:
    """The personas the records name, by digest: written once however many records hold one."""

    def __init__(self, encoded: dict[str, Any] | None = None) -> None:
        self.encoded: dict[str, Any] = dict(encoded or {})
        self._digests: dict[int, tuple[Persona, str]] = {}  # id(persona) -> (the persona, kept alive; digest)
        self._decoded: dict[str, Persona] = {}
        self._decoding: set[str] = set()

    @property
    def remembered(self) -> int:
        """How many persona objects this table knows (each kept alive by it)."""
        return len(self._digests)

    def name(self, persona: Persona) -> str:
        known = self._digests.get(id(persona))
        if known is not None and known[0] is persona:
            return known[1]
        raw = _object_encoder(type(persona))(persona, self)
        digest = hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()[:20]
        self.encoded[digest] = raw
        self._digests[id(persona)] = (persona, digest)
        return digest

    def find(self, digest: Any, where: str) -> Persona:
        if not isinstance(digest, str) or digest not in self.encoded:
            raise CodecError(where, "must name a persona of the snapshot's personas")
        persona = self._decoded.get(digest)
        if persona is None:
            if digest in self._decoding:  # a sequence step naming its own persona: no persona is made so
                raise CodecError(where, "must not name a persona that contains it")
            self._decoding.add(digest)
            persona = self._decoded[digest] = _decode_object(Persona, self.encoded[digest], f"personas[{digest!r}]", self)
            self._decoding.discard(digest)
        return persona


# -- encoding --------------------------------------------------------------------------------------


def encode(value: Any, personas: Personas) -> Any:
    """A record (or any value made of records, lists, dicts, enums and scalars) as JSON."""
    return _encoder(type(value))(value, personas)


# An encoder writes one value of its type: (value, personas) -> JSON. One is chosen per type, once (a
# state directory writes a flow at every reply that touched it).
Encoder = Callable[[Any, Personas], Any]


@functools.cache
def _encoder(cls: type) -> Encoder:
    if cls in (str, int, bool, type(None)):
        return _as_is
    if cls is float:
        return _encode_float
    if issubclass(cls, Persona):
        return lambda value, personas: personas.name(value)
    if dataclasses.is_dataclass(cls):
        return _object_encoder(cls)
    if issubclass(cls, enum.Enum):
        return lambda value, personas: value.value
    if issubclass(cls, JSON_SCALARS):  # a subclass of str or int that is no enum
        return _encode_float if issubclass(cls, float) else _as_is
    if issubclass(cls, (bytes, bytearray)):
        return lambda value, personas: base64.b64encode(value).decode()
    if issubclass(cls, (frozenset, set)):
        return lambda value, personas: sorted((encode(item, personas) for item in value), key=_order)
    if issubclass(cls, (list, tuple, deque)):
        return lambda value, personas: [encode(item, personas) for item in value]
    if issubclass(cls, dict):
        return _encode_dict
    return _refuse


def _as_is(value: Any, personas: Personas) -> Any:
    return value


def _encode_float(value: float, personas: Personas) -> float:
    if not math.isfinite(value):
        raise CodecError("", f"{value} cannot be written as JSON")
    return value


def _encode_dict(value: dict[Any, Any], personas: Personas) -> Any:
    if all(isinstance(key, str) for key in value):
        return {key: encode(item, personas) for key, item in value.items()}
    return [[encode(key, personas), encode(item, personas)] for key, item in value.items()]


def _refuse(value: Any, personas: Personas) -> Any:
    raise CodecError("", f"a {type(value).__name__} cannot be written into a snapshot")


@functools.cache
def _object_encoder(cls: type) -> Encoder:
    tagged = cls is not _declared_base(cls)
    names = tuple((_camel(name), name) for name, _ in _fields(cls))

    def encode_object(value: Any, personas: Personas) -> dict[str, Any]:
        out: dict[str, Any] = {"$type": cls.__name__} if tagged else {}
        for key, name in names:
            item = getattr(value, name)
            out[key] = _encoder(type(item))(item, personas)
        return out

    return encode_object


def _order(item: Any) -> str:
    return json.dumps(item, sort_keys=True)


# -- decoding --------------------------------------------------------------------------------------

# A decoder reads one JSON value as a value of its type: (raw, where, personas) -> value. One is made
# per type hint, once (a snapshot of thousands of flows decodes each field by a ready function).
Decoder = Callable[[Any, str, Personas], Any]


def decode(raw: Any, hint: Any, where: str, personas: Personas) -> Any:
    """`raw` read as a value of type `hint`; CodecError naming `where` (and below) if it is not one."""
    return _decoder(hint)(raw, where, personas)


@functools.cache
def _decoder(hint: Any) -> Decoder:
    if hint is Any:
        return _any
    if hint is Persona:
        return lambda raw, where, personas: personas.find(raw, where)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return _union_decoder(typing.get_args(hint))
    if origin is typing.Literal:
        return _literal_decoder(typing.get_args(hint))
    if origin in (list, tuple, frozenset, set, deque) or hint in (list, tuple):
        return _sequence_decoder(hint, origin or hint)
    if origin in (dict, OrderedDict) or hint is dict:
        return _mapping_decoder(hint, origin or hint)
    if isinstance(hint, type):
        if issubclass(hint, enum.Enum):
            return _enum_decoder(hint)
        if dataclasses.is_dataclass(hint):
            return functools.partial(_decode_object, hint)
        if hint in _SCALARS:
            return _SCALARS[hint]
        if issubclass(hint, tuple) and hasattr(hint, "_fields"):  # a named tuple
            return _named_tuple_decoder(hint)
    raise TypeError(f"a field of type {hint} cannot be kept in a snapshot")


def _any(raw: Any, where: str, personas: Personas) -> Any:
    _check_json(raw, where)
    return raw


def _bool(raw: Any, where: str, personas: Personas) -> bool:
    if not isinstance(raw, bool):
        raise CodecError(where, "must be true or false")
    return raw


def _float(raw: Any, where: str, personas: Personas) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
        raise CodecError(where, "must be a finite number")
    return float(raw)


def _int(raw: Any, where: str, personas: Personas) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise CodecError(where, "must be a whole number")
    return raw


def _str(raw: Any, where: str, personas: Personas) -> str:
    if not isinstance(raw, str):
        raise CodecError(where, "must be a string")
    return raw


def _bytes(raw: Any, where: str, personas: Personas) -> bytes:
    try:
        return base64.b64decode(raw, validate=True)
    except (TypeError, ValueError):
        raise CodecError(where, "must be base64") from None


_SCALARS: dict[type, Decoder] = {bool: _bool, float: _float, int: _int, str: _str, bytes: _bytes}


def _union_decoder(options: tuple[Any, ...]) -> Decoder:
    nullable = type(None) in options
    decoders = [_decoder(option) for option in options if option is not type(None)]

    def decode_union(raw: Any, where: str, personas: Personas) -> Any:
        if raw is None and nullable:
            return None
        problems = []
        for decoder in decoders:
            try:
                return decoder(raw, where, personas)
            except CodecError as error:
                problems.append(error)
        raise problems[0] if len(problems) == 1 else CodecError(where, "is none of the types it may be")
    return decode_union


def _literal_decoder(values: tuple[Any, ...]) -> Decoder:
    def decode_literal(raw: Any, where: str, personas: Personas) -> Any:
        if raw not in values:
            raise CodecError(where, f"must be one of {', '.join(map(repr, values))}")
        return raw
    return decode_literal


def _enum_decoder(cls: type[enum.Enum]) -> Decoder:
    def decode_enum(raw: Any, where: str, personas: Personas) -> Any:
        try:
            return cls(raw)
        except ValueError:
            raise CodecError(where, f"must be one of {', '.join(repr(m.value) for m in cls)}") from None
    return decode_enum


def _sequence_decoder(hint: Any, origin: type) -> Decoder:
    args = typing.get_args(hint)
    if origin is tuple and args and args[-1] is not Ellipsis:  # a fixed tuple, e.g. tuple[str, str]
        decoders = [_decoder(arg) for arg in args]

        def decode_fixed(raw: Any, where: str, personas: Personas) -> Any:
            if not isinstance(raw, list) or len(raw) != len(decoders):
                raise CodecError(where, f"must be a list of {len(decoders)} items")
            return tuple(decoder(item, f"{where}[{i}]", personas) for i, (item, decoder) in enumerate(zip(raw, decoders)))
        return decode_fixed
    item = _decoder(args[0] if args else Any)

    def decode_sequence(raw: Any, where: str, personas: Personas) -> Any:
        if not isinstance(raw, list):
            raise CodecError(where, "must be a list")
        return origin([item(value, f"{where}[{i}]", personas) for i, value in enumerate(raw)])
    return decode_sequence


def _mapping_decoder(hint: Any, origin: type) -> Decoder:
    key_hint, value_hint = typing.get_args(hint) or (str, Any)
    key, value = _decoder(key_hint), _decoder(value_hint)
    if key_hint is str:
        def decode_object(raw: Any, where: str, personas: Personas) -> Any:
            if not isinstance(raw, dict):
                raise CodecError(where, "must be an object")
            return origin((name, value(item, f"{where}[{name!r}]", personas)) for name, item in raw.items())
        return decode_object

    def decode_pairs(raw: Any, where: str, personas: Personas) -> Any:
        if not isinstance(raw, list) or not all(isinstance(pair, list) and len(pair) == 2 for pair in raw):
            raise CodecError(where, "must be a list of [key, value] pairs")
        return origin((key(k, f"{where}[{i}][0]", personas), value(v, f"{where}[{i}][1]", personas))
                      for i, (k, v) in enumerate(raw))
    return decode_pairs


def _named_tuple_decoder(cls: type) -> Decoder:
    fields = cls._fields  # type: ignore[attr-defined]
    decoders = [_decoder(_hints(cls)[name]) for name in fields]  # each item by its type

    def decode_named(raw: Any, where: str, personas: Personas) -> Any:
        if not isinstance(raw, list) or len(raw) != len(fields):
            raise CodecError(where, f"must be a list of {len(fields)} items ({', '.join(fields)})")
        return cls(*(decoder(item, f"{where}[{i}]", personas) for i, (item, decoder) in enumerate(zip(raw, decoders))))
    return decode_named


# (field name, its JSON name, its decoder or None when it is no state, what it is without a value)
_Plan = tuple[tuple[str, str, "Decoder | None", Callable[[], Any] | None], ...]


@functools.cache
def _plan(cls: type) -> tuple[_Plan, frozenset[str]]:
    plan = []
    for field in dataclasses.fields(cls):
        hint = _hints(cls)[field.name]
        if field.default is not dataclasses.MISSING:
            default: Callable[[], Any] | None = functools.partial(lambda value: value, field.default)
        elif field.default_factory is not dataclasses.MISSING:
            default = field.default_factory
        else:
            default = None
        plan.append((field.name, _camel(field.name), _decoder(hint) if _is_state(hint) else None, default))
    known = frozenset(camel for _, camel, decoder, _ in plan if decoder is not None) | {"$type"}
    return tuple(plan), known


def _decode_object(hint: type, raw: Any, where: str, personas: Personas) -> Any:
    if not isinstance(raw, dict):
        raise CodecError(where, f"must be an object (a {hint.__name__})")
    cls = hint
    if "$type" in raw:
        cls = _subclasses(hint).get(raw["$type"])  # type: ignore[assignment]
        if cls is None:
            raise CodecError(f"{where}.$type", f"must name a kind of {hint.__name__}")
    plan, known = _plan(cls)
    if not known.issuperset(raw):
        raise CodecError(where, f"has unknown field(s): {', '.join(sorted(set(raw) - known))}")
    value = object.__new__(cls)
    for name, camel, decoder, default in plan:
        if decoder is not None and camel in raw:
            item = decoder(raw[camel], f"{where}.{camel}", personas)
        elif default is not None:
            item = default()
        else:
            raise CodecError(f"{where}.{camel}", "is required")
        object.__setattr__(value, name, item)  # frozen records too: this is their making
    return value


def _check_json(raw: Any, where: str) -> None:
    if isinstance(raw, float) and not math.isfinite(raw):
        raise CodecError(where, "must be a finite number")
    if isinstance(raw, list):
        for i, item in enumerate(raw):
            _check_json(item, f"{where}[{i}]")
    elif isinstance(raw, dict):
        for key, item in raw.items():
            _check_json(item, f"{where}[{key!r}]")
    elif not isinstance(raw, JSON_SCALARS):
        raise CodecError(where, "must be JSON")


# -- what a record's fields are ------------------------------------------------------------------


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """A record class's field types, its bases' too, each read in its own module."""
    hints: dict[str, Any] = {}
    for base in reversed(cls.__mro__):
        module = sys.modules.get(base.__module__)
        if module is None or "__annotations__" not in base.__dict__:
            continue
        scope = {**_type_checking_names(module), **vars(module)}
        for name, annotation in base.__dict__["__annotations__"].items():
            while isinstance(annotation, (str, typing.ForwardRef)):  # text under `from __future__ import annotations`
                text = annotation.__forward_arg__ if isinstance(annotation, typing.ForwardRef) else annotation
                annotation = eval(text, scope)  # noqa: S307 (the emulator's own source)
            hints[name] = annotation
    return hints


@functools.cache
def _type_checking_names(module: types.ModuleType) -> dict[str, Any]:
    """What a module imports only for type checkers (`if TYPE_CHECKING:`): its annotations name them."""
    source = inspect.getsource(module)
    names: dict[str, Any] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom) and statement.module:
                    imported = importlib.import_module(statement.module)
                    for alias in statement.names:
                        names[alias.asname or alias.name] = getattr(imported, alias.name)
    return names


@functools.cache
def _fields(cls: type) -> tuple[tuple[str, Any], ...]:
    """The fields that are state, with their types: not callbacks, not timers."""
    return tuple((f.name, _hints(cls)[f.name]) for f in dataclasses.fields(cls) if _is_state(_hints(cls)[f.name]))


def _is_state(hint: Any) -> bool:
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    return not any(option is Timer or typing.get_origin(option) is _CALLABLE or option is _CALLABLE
                   for option in options)


_CALLABLE = typing.get_origin(Callable[[], None])


def _declared_base(cls: type) -> type:
    """The class a record's field is declared as: the top dataclass of its line (Flow for a VerifyFlow)."""
    top = cls
    for base in cls.__mro__[1:]:
        if dataclasses.is_dataclass(base):
            top = base
    return top


def _subclasses(cls: type) -> dict[str, type]:
    found = {cls.__name__: cls}
    for sub in cls.__subclasses__():
        found.update(_subclasses(sub))
    return found


@functools.cache
def _camel(name: str) -> str:
    head, *rest = name.lstrip("_").split("_")
    return head + "".join(part.title() for part in rest)
