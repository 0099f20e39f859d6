"""The device channel's quick yes for a body (emulator/http/body_schema.py) never accepts what
jsonschema, the judge, refuses, and does say yes to the bodies the Web SDK sends."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.http.app import all_routes
from emulator.http.body_schema import BodySchema, supported, surely_valid

SCHEMAS = {f"{operation.method} {operation.path}": operation.request_schema
           for operation, _ in all_routes() if operation.request_schema}


_ANY = st.none() | st.booleans() | st.integers(-3, 3) | st.floats(-2, 2, allow_nan=False) | st.text(max_size=2)


def _near(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values at and around a schema's every rule (its bounds, its choices, its types), and others."""
    options = []
    kinds = schema.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    for choice in [*schema.get("enum", []), *([schema["const"]] if "const" in schema else [])]:
        options.append(st.just(choice))
    if "string" in kinds:
        sizes = [0, 1, 2] + [n + d for key in ("minLength", "maxLength") if key in schema for n in [schema[key]]
                             for d in (-1, 0, 1) if n + d >= 0]
        options.append(st.builds(lambda size, char: char * size, st.sampled_from(sizes), st.sampled_from("xé_")))
    if "integer" in kinds or "number" in kinds:
        bounds = [schema[key] for key in ("minimum", "maximum") if key in schema]
        options.append(st.sampled_from([b + d for b in bounds for d in (-1, -0.5, 0, 0.5, 1)] + [0, 1, -1, 2.0, 0.5]))
    if "array" in kinds:
        sizes = [0, 1, 2] + [schema[key] + d for key in ("minItems", "maxItems") if key in schema for d in (-1, 0, 1)]
        options.append(st.builds(lambda size, items: (items * size)[:size], st.sampled_from([n for n in sizes if n >= 0]),
                                 st.lists(_near(schema.get("items", {})), min_size=1, max_size=3)))
    if "object" in kinds or "properties" in schema:
        rules = schema.get("properties", {})
        required = schema.get("required", [])
        options.append(st.fixed_dictionaries(
            {name: _near(rules.get(name, {})) for name in required},
            optional={**{name: _near(rule) for name, rule in rules.items() if name not in required}, "other": _ANY}))
        options.append(st.fixed_dictionaries({name: _near(rule) for name, rule in rules.items()}))
    return st.one_of([*options, _ANY])


@pytest.mark.parametrize("path", sorted(SCHEMAS))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_a_quick_yes_is_a_body_jsonschema_accepts(path: str, data: st.DataObject) -> None:
    schema = SCHEMAS[path]
    body = data.draw(_near(schema))
    judged = jsonschema.Draft202012Validator(schema).is_valid(body)
    if supported(schema) and surely_valid(schema, body):
        assert judged, body
    assert (BodySchema(schema).first_problem(body) is None) == judged


def _candidates(schema: dict[str, Any], depth: int = 0) -> list[Any]:
    """Values at each bound and choice of a rule, of each type, and nested ones built from them."""
    values: list[Any] = [None, True, 0, -1, 1.5, "", "x", [], {}]
    values += [*schema.get("enum", []), *([schema["const"]] if "const" in schema else [])]
    for key in ("minLength", "maxLength"):
        if key in schema:
            values += ["x" * n for n in (schema[key] - 1, schema[key], schema[key] + 1) if n >= 0]
    for key in ("minimum", "maximum"):
        if key in schema:
            values += [schema[key] + d for d in (-1, -0.5, 0, 0.5, 1)]
    if depth < 4 and "items" in schema:
        sizes = {0, 1, 2, *(schema[key] + d for key in ("minItems", "maxItems") if key in schema for d in (-1, 0, 1))}
        for item in _candidates(schema["items"], depth + 1):
            values += [[item] * n for n in sorted(sizes) if n >= 0]
    if depth < 4 and "properties" in schema:
        base = {name: _a_valid(schema["properties"].get(name, {}), depth) for name in schema.get("required", [])}
        values.append(base)
        for name, rule in schema["properties"].items():
            values += [{**base, name: value} for value in _candidates(rule, depth + 1)]
    return values


def _a_valid(schema: dict[str, Any], depth: int) -> Any:
    """A value the rule accepts (so a required field does not hide what is tried beside it)."""
    validator = jsonschema.Draft202012Validator(schema)
    return next(value for value in _candidates(schema, depth + 1) if validator.is_valid(value))


@pytest.mark.parametrize("path", sorted(SCHEMAS))
def test_each_rule_at_its_bounds_is_judged_as_jsonschema_judges(path: str) -> None:
    schema = SCHEMAS[path]
    validator = jsonschema.Draft202012Validator(schema)
    for body in _candidates(schema):
        assert (BodySchema(schema).first_problem(body) is None) == validator.is_valid(body), body


SDK_BODIES = [
    ("POST /v1/client/mobile/otp/start", {}),
    ("POST /v1/client/mobile/otp/start", {"mobileNumber": "2025550100"}),
    ("POST /v1/client/mobile/otp/finish", {"otp": "1234"}),
    ("POST /v1/client/mobile/otp/error", {"code": 1, "message": "cancelled"}),
    ("POST /v1/client/mobile/instantlink/start", {"sourceIp": None, "isMobile": False}),
    ("POST /v1/client/challenge", {"deviceId": "d-1"}),
    ("POST /v1/client/mobile/instant/start", {"cellularIp": None, "implementation": "fetch"}),
]


@pytest.mark.parametrize(("path", "body"), SDK_BODIES)
def test_the_bodies_the_sdk_sends_are_accepted_without_jsonschema(path: str, body: dict[str, Any]) -> None:
    assert supported(SCHEMAS[path]) and surely_valid(SCHEMAS[path], body)


def test_a_schema_with_a_keyword_it_does_not_read_goes_to_jsonschema() -> None:
    schema = {"type": "object", "properties": {"secret": {"type": "string", "pattern": "^whsec_"}}}
    assert not supported(schema)
    assert BodySchema(schema).first_problem({"secret": "nope"}) is not None
    assert BodySchema(schema).first_problem({"secret": "whsec_1"}) is None


def test_only_a_string_is_surely_one_of_the_choices() -> None:
    # JSON Schema's equality is not Python's: true is not 1, and 1.0 is 1.
    for schema, value, valid in (({"enum": [1]}, True, False), ({"const": 1}, 1.0, True), ({"enum": ["a"]}, "a", True)):
        assert not (surely_valid(schema, value) and not valid)
        assert (BodySchema(schema).first_problem(value) is None) is valid
    assert not surely_valid({"enum": [1]}, True) and surely_valid({"enum": ["a"]}, "a")
