"""Routes of Pre-Fill and Prove Identity: thin wrappers over `emulator.flows.prefill`."""

from __future__ import annotations

from starlette.routing import BaseRoute

from emulator.flows.prefill import (
    CHALLENGE_REQUEST,
    COMPLETE_REQUEST,
    CORRELATION_ONLY,
    START_REQUEST,
)
from emulator.http.api import Call, Operation, flow_operation, persona_of_flow, prove_api
from emulator.rules import Obj
from emulator.scenarios.model import Persona

TAG = "Pre-Fill and Prove Identity"
NEXT = {"type": "object", "additionalProperties": {"type": "string"}, "minProperties": 1,
        "description": "The only step(s) allowed next, e.g. {\"v3-validate\": \"/v3/validate\"} or {\"done\": \"done\"}."}
ADDRESS = {
    "type": "object",
    "properties": {name: {"type": "string"} for name in ("address", "extendedAddress", "city", "region", "postalCode")},
}
INDIVIDUAL = {
    "type": "object",
    "properties": {
        "firstName": {"type": "string"},
        "lastName": {"type": "string"},
        "dob": {"type": "string"},
        "ssn": {"type": "string"},
        "addresses": {"type": "array", "items": ADDRESS},
        "emailAddresses": {"type": "array", "items": {"type": "string"}},
    },
}
_BOOL = {"type": "boolean"}
_SCORE = {"type": "integer"}
IDV = {
    "type": "object",
    "properties": {
        "multiCIPConfidence": {"type": "string"},
        "dataSource1": {
            "type": "object",
            "properties": {
                "cipConfidence": {"type": "string"},
                "name": {"type": "object", "properties": {"firstName": _SCORE, "lastName": _SCORE, "nameScore": _SCORE}},
                "address": {"type": "object", "properties": {
                    "addressScore": _SCORE, "street": _BOOL, "city": _BOOL, "region": _BOOL, "postalCode": _BOOL,
                    "distance": {"type": "number"}}},
                "email": {"type": "object", "properties": {"emailAddress": _BOOL}},
                "identifiers": {"type": "object", "properties": {"dob": _BOOL, "ssn": _BOOL, "last4": _BOOL}},
            },
        },
    },
}


def _op(path: str, summary: str, request: Obj, response: dict) -> Operation:
    return flow_operation(path, summary, TAG, request, response)


START = _op(
    "/v3/start",
    "Start a Pre-Fill / Prove Identity flow; possession runs through the Web SDK with the authToken.",
    START_REQUEST,
    {"type": "object", "additionalProperties": False, "required": ["authToken", "correlationId", "next"],
     "properties": {"authToken": {"type": "string"}, "correlationId": {"type": "string", "format": "uuid"},
                    "next": NEXT}},
)
VALIDATE = _op(
    "/v3/validate",
    "Check possession of the phone.",
    CORRELATION_ONLY,
    {"type": "object", "additionalProperties": False, "required": ["success", "challengeMissing", "next"],
     "properties": {"success": _BOOL, "challengeMissing": _BOOL, "next": NEXT, "phoneNumber": {"type": "string"}}},
)
CHALLENGE = _op(
    "/v3/challenge",
    "Pre-Fill: check DOB / SSN and return the individual's data.",
    CHALLENGE_REQUEST,
    {"type": "object", "additionalProperties": False, "required": ["success", "next"],
     "properties": {"success": _BOOL, "next": NEXT, "individual": INDIVIDUAL}},
)
COMPLETE = _op(
    "/v3/complete",
    "Verify the individual's data (first and last name, or SSN, at least).",
    COMPLETE_REQUEST,
    {"type": "object", "additionalProperties": False, "required": ["success", "next"],
     "properties": {"success": _BOOL, "next": NEXT, "idv": IDV,
                    "kyc": {"type": "object", "properties": {"totalHits": {"type": "integer"},
                                                             "amlTypeLists": {"type": "array"}}}}},
)


def _persona_of_number(call: Call) -> Persona | None:
    if not call.body.get("phoneNumber"):
        return None
    return call.emulator.personas.resolve(call.project.client_id, call.body["phoneNumber"])


ROUTES: list[tuple[Operation, BaseRoute]] = [
    (START, prove_api(START, lambda call: call.emulator.prefill.start(call.project, call.body), _persona_of_number)),
    (VALIDATE, prove_api(VALIDATE, lambda call: call.emulator.prefill.validate(call.project, call.body), persona_of_flow)),
    (CHALLENGE, prove_api(CHALLENGE, lambda call: call.emulator.prefill.challenge(call.project, call.body), persona_of_flow)),
    (COMPLETE, prove_api(COMPLETE, lambda call: call.emulator.prefill.complete(call.project, call.body), persona_of_flow)),
]
