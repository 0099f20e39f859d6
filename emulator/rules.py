"""Request field rules: one declaration drives both validation and the OpenAPI request schemas.

A request body is declared as an `Obj` of fields, or as a `Choice` of several `Obj` shapes told
apart by which discriminating field the body carries (the two generations of /v3/verify). `validate` checks a parsed JSON value against it
and raises a Prove 8001 error whose message names the field (with its path for nested values) and
the rule it broke. `json_schema` turns the same declaration into JSON Schema for /openapi.json, so
the published spec and the enforced rules cannot drift apart: a body the schema accepts passes every
field rule, and a body it refuses is refused (tests/test_hardening_inputs.py checks this on samples).

Where the two languages differ, the schema spells out what the validator does:
- an optional field sent as null or "" reads as not sent (several SDKs serialise unset strings as
  ""), so each optional property is `anyOf` its rules or `{"enum": [null, ""]}`; a required text
  has `minLength: 1`;
- a `Check` (a rule across fields, such as "phoneNumber unless proveId") is published as prose in
  the object's description: it is enforced by the validator only;
- a per-item array (a batch) publishes its items' rules, but a bad item is answered in its result.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, Callable, Union

from emulator.errors import malformed


@dataclass(frozen=True)
class Pattern:
    """A format a text must match in full, and the rule as a reader should see it."""

    regex: str
    rule: str  # completes "field 'x' ...", e.g. "must be a date YYYY-MM-DD"

    def matches(self, text: str) -> bool:
        return re.fullmatch(self.regex, text) is not None


@dataclass(frozen=True)
class Text:
    name: str
    required: bool = False
    # (other field, the value or values of it that make this one required)
    required_when: tuple[str, str | tuple[str, ...]] | None = None
    max_length: int | None = None
    enum: tuple[str, ...] = ()
    ignore_case: bool = False  # the enum matches in any case; the value is kept as the enum spells it
    pattern: Pattern | None = None
    description: str = ""


@dataclass(frozen=True)
class Flag:
    name: str
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class Int:
    name: str
    required: bool = False
    minimum: int | None = None
    maximum: int | None = None
    description: str = ""


@dataclass(frozen=True)
class Check:
    """A rule across fields: `test` returns an error message, or None when the value is fine."""

    description: str
    test: Callable[[dict[str, Any]], str | None]


@dataclass(frozen=True)
class Obj:
    name: str
    fields: tuple["Field", ...]
    required: bool = False
    checks: tuple[Check, ...] = ()
    description: str = ""
    # Unknown fields are refused, not ignored: the control plane's bodies, where a typo must not pass
    # silently (Prove's API ignores fields it does not know, so its bodies stay open).
    closed: bool = False


@dataclass(frozen=True)
class Array:
    name: str
    item: Union[Obj, Text]
    required: bool = False
    max_items: int | None = None
    description: str = ""
    # The handler checks each item itself and answers per item (a batch): `validate` keeps the
    # items as sent, and one bad item never refuses the whole request.
    per_item: bool = False


@dataclass(frozen=True)
class Choice:
    """A body of one of several shapes, each chosen by the presence of its own discriminating field."""

    options: tuple[tuple[str, str, Obj], ...]  # (discriminating field, what that shape is, its rules)
    description: str = ""

    def chosen(self, value: dict[str, Any]) -> tuple[str, str, Obj]:
        present = [option for option in self.options if _present(value.get(option[0]))]
        if len(present) == 1:
            return present[0]
        if present:
            names = " and ".join(f"field '{field}' ({label})" for field, label, _ in present)
            raise malformed(f"{names} are both given: exactly one of them is allowed")
        names = " or ".join(f"field '{field}' is required ({label})" for field, label, _ in self.options)
        raise malformed(f"{names}: exactly one of them")


Field = Union[Text, Flag, Int, Obj, Array]


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _present(value: Any) -> bool:
    # An optional text sent empty counts as not sent: several SDKs serialise unset strings as "".
    return value is not None and value != ""


def validate(spec: Obj | Choice, value: Any, path: str = "") -> dict[str, Any]:
    """Check `value` against `spec`; return the known, present fields. Raises ProveError 8001."""
    where = f"field '{path}'" if path else "the request body"
    if not isinstance(value, dict):
        raise malformed(f"{where} must be a JSON object")
    if isinstance(spec, Choice):
        return validate(spec.chosen(value)[2], value, path)
    if spec.closed:
        unknown = sorted(set(value) - {item.name for item in spec.fields})
        if unknown:
            raise malformed(f"{where} has unknown field(s): {', '.join(map(repr, unknown))[:200]}; known: "
                            + ", ".join(item.name for item in spec.fields))
    cleaned: dict[str, Any] = {}
    for item in spec.fields:  # every request walks this loop: _present and _is_required inlined
        raw = value.get(item.name)
        if raw is None or raw == "":
            if item.required or _is_required(item, value, spec):
                raise malformed(_missing_message(item, _child(path, item.name), raw))
            continue
        cleaned[item.name] = _validate_field(item, raw, _child(path, item.name))
    for check in spec.checks:
        problem = check.test(cleaned)
        if problem:
            raise malformed(f"{where}: {problem}" if path else problem)
    return cleaned


def _is_required(item: Field, siblings: dict[str, Any], spec: Obj) -> bool:
    if item.required:
        return True
    if isinstance(item, Text) and item.required_when:
        other, trigger = item.required_when
        return _as_spelled(spec, other, siblings.get(other)) in _triggers(trigger)
    return False


def _sibling_text(spec: Obj, name: str) -> Text | None:
    return next((item for item in spec.fields if isinstance(item, Text) and item.name == name), None)


def _as_spelled(spec: Obj, name: str, raw: Any) -> Any:
    """A sibling's value as its enum spells it (an enum in any case: VERIFIEDUSER is verifiedUser)."""
    sibling = _sibling_text(spec, name)
    if sibling is None or not sibling.ignore_case or not isinstance(raw, str):
        return raw
    return next((value for value in sibling.enum if _fold(value) == _fold(raw)), raw)


def _fold(text: str) -> str | None:
    """`text` in lower case, for enums "in any case": ASCII letters only, as the published pattern
    ([Vv][Ee]...) reads it (str.casefold would also take the Kelvin sign for k and long s for s)."""
    return text.lower() if text.isascii() else None


def _triggers(trigger: str | tuple[str, ...]) -> tuple[str, ...]:
    return (trigger,) if isinstance(trigger, str) else trigger


def _missing_message(item: Field, field_path: str, raw: Any) -> str:
    rule = "is required"
    if isinstance(item, Text) and item.required_when and not item.required:
        other, trigger = item.required_when
        rule = f"is required when {other} is {' or '.join(_triggers(trigger))}"
    if raw == "":
        return f"field '{field_path}' must not be empty: it {rule}"
    return f"field '{field_path}' {rule}"


def _validate_field(item: Field, raw: Any, field_path: str) -> Any:
    if isinstance(item, Text):
        return _validate_text(item, raw, field_path)
    if isinstance(item, Flag):
        if not isinstance(raw, bool):
            raise malformed(f"field '{field_path}' must be a boolean (true or false)")
        return raw
    if isinstance(item, Int):
        return _validate_int(item, raw, field_path)
    if isinstance(item, Obj):
        return validate(item, raw, field_path)
    if not isinstance(raw, list):
        raise malformed(f"field '{field_path}' must be an array")
    if item.max_items is not None and len(raw) > item.max_items:
        raise malformed(f"field '{field_path}' must have at most {item.max_items} items")
    if item.per_item:
        return raw
    return [_validate_field(item.item, element, f"{field_path}[{index}]") for index, element in enumerate(raw)]


def _validate_int(item: Int, raw: Any, field_path: str) -> int:
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)  # JSON has one number type: 2.0 is the integer 2, as JSON Schema reads it
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise malformed(f"field '{field_path}' must be a whole number")
    low = item.minimum if item.minimum is not None else "any"
    high = item.maximum if item.maximum is not None else "any"
    if (item.minimum is not None and raw < item.minimum) or (item.maximum is not None and raw > item.maximum):
        raise malformed(f"field '{field_path}' must be from {low} to {high} (got {raw})")
    return raw


@functools.cache  # enums are few and fixed (the declarations)
def _spellings(enum: tuple[str, ...], ignore_case: bool) -> dict[str | None, str]:
    return {_fold(value): value for value in enum} if ignore_case else {value: value for value in enum}


def _validate_text(item: Text, raw: Any, field_path: str) -> str:
    if not isinstance(raw, str):
        raise malformed(f"field '{field_path}' must be a string")
    if item.enum:
        spelled = _spellings(item.enum, item.ignore_case)
        key = _fold(raw) if item.ignore_case else raw
        if key not in spelled:
            case = " (in any case)" if item.ignore_case else ""
            raise malformed(f"field '{field_path}' must be one of{case}: {', '.join(item.enum)}")
        raw = spelled[key]
    if item.max_length is not None and len(raw) > item.max_length:
        raise malformed(
            f"field '{field_path}' must be at most {item.max_length} characters (got {len(raw)})"
        )
    if item.pattern is not None and not item.pattern.matches(raw):
        raise malformed(f"field '{field_path}' {item.pattern.rule}")
    return raw


# -- JSON Schema ---------------------------------------------------------------------------------

# An optional field sent as null or "" is not sent (see `_present`).
NOT_SENT: dict[str, Any] = {"enum": [None, ""], "description": "Read as not sent."}


def json_schema(spec: Field | Choice) -> dict[str, Any]:
    """The JSON Schema of a body (Obj or Choice), or of one value as a required field holds it."""
    if isinstance(spec, Choice):
        return _choice_schema(spec)
    if isinstance(spec, Obj):
        return _object_schema(spec)
    return _value_schema(spec, non_empty=isinstance(spec, Text) and spec.required)


def _value_schema(spec: Field, non_empty: bool = False) -> dict[str, Any]:
    if isinstance(spec, Obj):
        return _object_schema(spec)
    if isinstance(spec, Text):
        return _text_schema(spec, non_empty)
    if isinstance(spec, Flag):
        return _described({"type": "boolean"}, spec.description)
    if isinstance(spec, Int):
        schema: dict[str, Any] = {"type": "integer"}
        if spec.minimum is not None:
            schema["minimum"] = spec.minimum
        if spec.maximum is not None:
            schema["maximum"] = spec.maximum
        return _described(schema, spec.description)
    # Array items are values, not fields: null or "" is not "not sent" there.
    schema = {"type": "array", "items": _value_schema(spec.item)}
    if spec.max_items is not None:
        schema["maxItems"] = spec.max_items
    return _described(schema, spec.description)


def _text_schema(spec: Text, non_empty: bool) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if non_empty:
        schema["minLength"] = 1
    patterns = []
    if spec.enum and spec.ignore_case:
        patterns.append(_any_case_pattern(spec.enum))
    elif spec.enum:
        schema["enum"] = list(spec.enum)
    if spec.max_length is not None:
        schema["maxLength"] = spec.max_length
    if spec.pattern is not None:
        patterns.append(_anchored(spec.pattern.regex))
    if patterns:
        schema["pattern"] = patterns[0]
    if len(patterns) > 1:
        schema["allOf"] = [{"pattern": pattern} for pattern in patterns[1:]]
    return _described(schema, spec.description)


def _anchored(regex: str) -> str:
    # ECMA-262, the dialect of JSON Schema: '$' is the end of the text (validate uses fullmatch).
    return f"^(?:{regex})$"


def _any_case_pattern(values: tuple[str, ...]) -> str:
    return _anchored("|".join(_any_case(value) for value in values))


def _property_schema(item: Field) -> dict[str, Any]:
    """A field inside an object: a required one must be there (a text non-empty); an optional one
    may also be null or "", which reads as not sent."""
    if item.required:
        return json_schema(item)
    rules = _value_schema(item)
    description = rules.pop("description", "")
    return _described({"anyOf": [rules, NOT_SENT]}, description)


def _object_schema(spec: Obj) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {item.name: _property_schema(item) for item in spec.fields},
    }
    if spec.closed:
        schema["additionalProperties"] = False
    required = [item.name for item in spec.fields if item.required]
    if required:
        schema["required"] = required
    conditions = [
        {
            "if": {"required": [item.required_when[0]],
                   "properties": {item.required_when[0]: _trigger_schema(spec, *item.required_when)}},
            # Required here means sent and not empty, as for a required text.
            "then": {"required": [item.name], "properties": {item.name: {"type": "string", "minLength": 1}}},
        }
        for item in spec.fields
        if isinstance(item, Text) and item.required_when
    ]
    if conditions:
        schema["allOf"] = conditions
    notes = [spec.description] + [check.description for check in spec.checks]
    return _described(schema, " ".join(note for note in notes if note))


def _trigger_schema(spec: Obj, other: str, trigger: str | tuple[str, ...]) -> dict[str, Any]:
    """The values of `other` that make a field required, read as the validator reads them."""
    sibling = _sibling_text(spec, other)
    if sibling is not None and sibling.ignore_case:
        return {"type": "string", "pattern": _any_case_pattern(_triggers(trigger))}
    return {"enum": list(_triggers(trigger))}


def _any_case(value: str) -> str:
    """A regular expression for `value` in any case (JSON Schema patterns have no flags)."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in value)


def _choice_schema(choice: Choice) -> dict[str, Any]:
    """oneOf the shapes; each requires its own discriminating field and forbids the others' (sent and
    neither null nor "", as the validator tells them apart)."""
    fields = [field for field, _, _ in choice.options]
    shapes = []
    for field, label, spec in choice.options:
        shape = json_schema(spec)
        shape["title"] = label
        shape["not"] = {"anyOf": [{"required": [other], "properties": {other: {"not": NOT_SENT}}}
                                  for other in fields if other != field]}
        shapes.append(shape)
    described = f"One of {len(shapes)} shapes, chosen by the field present: " + "; ".join(
        f"{field} -> {label}" for field, label, _ in choice.options) + "."
    return {"oneOf": shapes, "x-discriminating-fields": fields,
            "description": " ".join(note for note in (choice.description, described) if note)}


def _described(schema: dict[str, Any], description: str) -> dict[str, Any]:
    if description:
        schema["description"] = description
    return schema


# -- formats shared by several endpoints -----------------------------------------------------------

PHONE_NUMBER = Pattern(
    r"\+?[0-9]{10,15}",
    "must be a phone number: 10 to 15 digits with an optional leading '+' "
    "(US numbers with or without +1)",
)
FINAL_TARGET_URL = Pattern(
    r"[A-Za-z0-9\-._+=/:?]+",
    "may only contain letters, digits and the symbols -._+=/:?",
)
EMAIL_ADDRESS = Pattern(
    r"[A-Za-z0-9.+_\-]+@[A-Za-z0-9.\-]+",
    "must be an email address made of letters, digits and the symbols @.+_-",
)
DOB = Pattern(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{4}-[0-9]{2}|[0-9]{2}-[0-9]{2}",
    "must be a date as YYYY-MM-DD, YYYY-MM or MM-DD",
)
SSN = Pattern(r"[0-9]{4}|[0-9]{9}", "must be 9 digits (full SSN) or 4 digits (last four)")
IP_ADDRESS = Pattern(r"[0-9A-Fa-f:.]{2,45}", "must be an IPv4 or IPv6 address (digits, ':' and '.')")
POSTAL_CODE = Pattern(r"[0-9]{5}(-[0-9]{4})?", "must be a 5-digit ZIP code or ZIP+4 (12345-6789)")
CLIENT_ID = Pattern(r"[\x20-\x7e]{1,128}", "must be 1 to 128 printable ASCII characters")
