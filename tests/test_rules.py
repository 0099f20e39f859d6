"""Request rules: validation messages name field and rule; the same rules become JSON Schema."""

from __future__ import annotations

import jsonschema
import pytest

from emulator.errors import ProveError
from emulator.flows.prefill import COMPLETE_REQUEST
from emulator.flows.verified_users import VERIFY_REQUEST
from emulator.rules import json_schema, validate


def message(spec, body) -> str:
    with pytest.raises(ProveError) as caught:
        validate(spec, body)
    assert caught.value.code == 8001 and caught.value.status == 400
    return caught.value.message


def test_known_present_fields_are_kept_and_unknown_ones_dropped():
    body = {"firstName": "A", "lastName": "B", "phoneNumber": "2025550100", "possessionType": "none",
            "smsMessage": "", "somethingNew": 1}
    assert validate(VERIFY_REQUEST, body) == {
        "firstName": "A", "lastName": "B", "phoneNumber": "2025550100", "possessionType": "none"}


def test_nested_paths_are_named():
    body = {"correlationId": "x", "individual": {"firstName": "A", "lastName": "B",
                                                 "addresses": [{"postalCode": "123"}]}}
    assert message(COMPLETE_REQUEST, body).startswith("field 'individual.addresses[0].postalCode' must be a 5-digit")


def test_cross_field_checks_name_the_object():
    text = message(COMPLETE_REQUEST, {"correlationId": "x", "individual": {"firstName": "A"}})
    assert text == "field 'individual': needs firstName and lastName, or ssn"


def test_json_schema_agrees_with_validate_on_samples():
    schema = json_schema(VERIFY_REQUEST)
    validator = jsonschema.Draft202012Validator(schema)
    good = {"firstName": "A", "lastName": "B", "phoneNumber": "+12025550100", "possessionType": "desktop",
            "finalTargetUrl": "https://x.example/cb?x=1"}
    assert validator.is_valid(good)
    validate(VERIFY_REQUEST, good)
    for bad in ({**good, "possessionType": "tablet"}, {**good, "finalTargetUrl": "a" * 129},
                {k: v for k, v in good.items() if k != "finalTargetUrl"}, {**good, "phoneNumber": "12"}):
        assert not validator.is_valid(bad)
        with pytest.raises(ProveError):
            validate(VERIFY_REQUEST, bad)
