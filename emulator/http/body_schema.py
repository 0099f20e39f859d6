"""A request body checked against its operation's JSON Schema (the device channel's, as the OpenAPI
document publishes it).

Most bodies are plainly valid ({} or {"otp": "1234"}), and jsonschema walks even those at a cost
the Web SDK's every call paid. `surely_valid` says yes at once for a body that meets a small
schema's rules; any other body, or any schema using a keyword it does not know, goes to jsonschema,
which alone says what is wrong.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import jsonschema

# The keywords surely_valid reads. `description` and `format` are annotations: Draft 2020-12 does
# not assert a format unless a format checker is given (jsonschema is given none).
_KNOWN = frozenset({"type", "properties", "required", "minLength", "maxLength", "minimum", "maximum",
                    "items", "minItems", "maxItems", "enum", "const", "description", "format"})


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, list),
    "string": lambda value: isinstance(value, str),
    "boolean": lambda value: isinstance(value, bool),
    "null": lambda value: value is None,
    "number": _number,
    "integer": lambda value: _number(value) and (isinstance(value, int) or value.is_integer()),
}


def supported(schema: Any) -> bool:
    """Whether surely_valid can read every rule of this schema."""
    if not isinstance(schema, dict) or not schema.keys() <= _KNOWN:
        return False
    kinds = schema.get("type", [])
    if not all(kind in _TYPES for kind in ([kinds] if isinstance(kinds, str) else kinds)):
        return False
    properties = schema.get("properties", {})
    return (isinstance(properties, dict) and all(supported(rule) for rule in properties.values())
            and ("items" not in schema or supported(schema["items"])))


def surely_valid(schema: dict[str, Any], value: Any) -> bool:
    """True only if the (supported) schema accepts the value; False when jsonschema must decide."""
    kinds = schema.get("type")
    if kinds is not None:
        if isinstance(kinds, str):
            if not _TYPES[kinds](value):
                return False
        elif not any(_TYPES[kind](value) for kind in kinds):
            return False
    if "enum" in schema or "const" in schema:
        # Only a string is sure: JSON Schema's equality is not Python's (1 == True, 1 == 1.0).
        allowed = schema["enum"] if "enum" in schema else [schema["const"]]
        if not isinstance(value, str) or value not in allowed:
            return False
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", len(value)):
            return False
    elif _number(value):
        if ("minimum" in schema and not value >= schema["minimum"]) or ("maximum" in schema and not value <= schema["maximum"]):
            return False
    elif isinstance(value, dict):
        if not all(name in value for name in schema.get("required", ())):
            return False
        properties = schema.get("properties")
        if properties:
            for name, item in value.items():
                rule = properties.get(name)
                if rule is not None and not surely_valid(rule, item):
                    return False
    elif isinstance(value, list):
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", len(value)):
            return False
        items = schema.get("items")
        if items and not all(surely_valid(items, item) for item in value):
            return False
    return True


class BodySchema:
    """A body's JSON Schema; jsonschema's validator is built on first need (importing it is ~85 ms
    of start-up)."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self._quick = supported(schema)
        self._validator: jsonschema.Draft202012Validator | None = None

    def first_problem(self, body: Any) -> jsonschema.ValidationError | None:
        if self._quick and surely_valid(self.schema, body):
            return None
        if self._validator is None:
            import jsonschema

            self._validator = jsonschema.Draft202012Validator(self.schema)
        return next(iter(self._validator.iter_errors(body)), None)
