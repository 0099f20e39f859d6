"""Routes of Verified Users: thin wrappers over `emulator.flows.verified_users` (the possession-based
generation) and `emulator.flows.verification` (the current one). /v3/verify serves both: the body's
discriminating field picks the generation, and its reply schema is a oneOf of the two."""

from __future__ import annotations

from starlette.routing import BaseRoute

from typing import Any

from emulator.flows import verification
from emulator.flows.verified_users import VERIFY_STATUS_REQUEST
from emulator.http.api import Call, Operation, flow_operation, persona_of_flow, prove_api
from emulator.scenarios.loader import schema as scenario_schema
from emulator.scenarios.model import Persona

RESULT = {"type": "string", "enum": ["pending", "success", "failed", "not_applicable"]}
SUCCESS = {"type": "string", "enum": ["true", "false", "pending"]}

STRINGS = {"type": "array", "items": {"type": "string"}}
ADDRESS = {"type": "object", "additionalProperties": False,
           "properties": {name: {"type": "string"} for name in ("address", "extendedAddress", "city", "region", "zipCode")}}
IDENTITY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["assuranceLevel", "reasons"],
    "properties": {
        "firstName": {"type": "string"},
        "lastName": {"type": "string"},
        "dateOfBirth": {"type": "string", "format": "date"},
        "nationalId": {"type": "string"},
        "emails": STRINGS,
        "addresses": {"type": "array", "items": ADDRESS},
        "clientCustomerId": {"type": "string", "description": "As sent (SDK 0.13.2 requires it here)."},
        "minAge": {"type": "integer"},
        "maxAge": {"type": "integer"},
        "assuranceLevel": {"type": "string", "enum": ["AL-1", "AL0", "AL1", "AL2", "AL3"]},
        "reasons": STRINGS,
    },
}
EVALUATION = {
    "type": "object",
    "description": "Global Fraud Policy results by category (the SDKs read each as an empty object).",
    "additionalProperties": {
        "type": "object", "additionalProperties": False, "required": ["result"],
        "properties": {"result": {"enum": ["pass", "fail"]},
                       "failureReasons": {"type": "object", "additionalProperties": {"type": "string"}}},
    },
}
# The shape scenario files give businesses in is the shape the reply carries: one declaration.
BUSINESS = scenario_schema()["$defs"]["business"]
_IDS: dict[str, Any] = {
    "proveId": {"type": "string", "format": "uuid", "description": "The enrolled identity's id (Identity Manager)."},
    "provePhoneAlias": {"type": "string", "description": "A persistent alias of the subscriber (per project)."},
    "clientCustomerId": {"type": "string"},
    "clientHumanId": {"type": "string"},
}
CURRENT_VERIFY_REPLY = {
    "title": "current generation",
    "type": "object",
    "additionalProperties": False,
    "required": ["success", "correlationId", "phoneNumber", "isEnrolled", "identity", "provePhoneAlias", "evaluation"],
    "properties": {
        "success": {"type": "string", "enum": ["true", "false"]},
        "correlationId": {"type": "string", "format": "uuid"},
        "phoneNumber": {"type": "string", "description": "As sent."},
        "clientRequestId": {"type": "string"},
        **_IDS,
        "isEnrolled": {"type": "boolean"},
        "identity": IDENTITY,
        "additionalIdentities": {"type": "array", "items": IDENTITY},
        "businesses": {"type": "array", "items": BUSINESS, "description": "prefillForBiz only."},
        "evaluation": EVALUATION,
    },
}
BATCH_RESULT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["success", "phoneNumber", "assuranceLevel", "clientCustomerId"],
    "properties": {
        "success": {"type": "string", "enum": ["true", "false"]},
        "phoneNumber": {"type": "string", "description": "As sent ('' when the item had none)."},
        "assuranceLevel": IDENTITY["properties"]["assuranceLevel"],
        **_IDS,
        "clientCustomerId": {"type": "string", "description": "As sent ('' when the item had none)."},
        "identity": IDENTITY,
        "additionalIdentities": {"type": "array", "items": IDENTITY},
        "evaluation": EVALUATION,
        "error": {"type": "string", "description": "Why this item was refused (the message of the error a single verify would get)."},
    },
}

VERIFY = flow_operation(
    "/v3/verify",
    "Verified Users: the current generation (verificationType, answers at once) or the possession-based one "
    "(possessionType, then verify-status), chosen by the request.",
    "Verified Users",
    verification.VERIFY_CHOICE,
    {"oneOf": [CURRENT_VERIFY_REPLY, {
        "title": "possession-based generation",
        "type": "object",
        "additionalProperties": False,
        "required": ["correlationId", "success", "possessionResult", "verifyResult"],
        "properties": {
            "correlationId": {"type": "string", "format": "uuid"},
            "authToken": {"type": "string", "description": "For the Web SDK; absent when possessionType is none."},
            "success": SUCCESS,
            "possessionResult": {"type": "string", "enum": ["pending", "not_applicable"]},
            "verifyResult": {"type": "string", "enum": ["pending", "success", "failed"]},
        },
    }]},
)
VERIFY_BATCH = flow_operation(
    "/v3/verify/batch",
    f"Verify (and enrol) up to {verification.MAX_BATCH} numbers; each result has its own success or error.",
    "Verified Users",
    verification.BATCH_REQUEST,
    {"type": "object", "additionalProperties": False, "required": ["correlationId", "results"],
     "properties": {"correlationId": {"type": "string", "format": "uuid"}, "clientRequestId": {"type": "string"},
                    "results": {"type": "array", "items": BATCH_RESULT}}},
    max_body_bytes=verification.MAX_BATCH_BODY_BYTES,
)

VERIFY_STATUS = flow_operation(
    "/v3/verify-status",
    "Read a Verified Users flow's results.",
    "Verified Users",
    VERIFY_STATUS_REQUEST,
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["success", "possessionResult", "verifyResult"],
        "properties": {
            "success": SUCCESS,
            "possessionResult": RESULT,
            "verifyResult": RESULT,
            "identityId": {"type": "string", "format": "uuid"},
        },
    },
)


def _persona_of_number(call: Call) -> Persona | None:
    return call.emulator.personas.resolve(call.project.client_id, call.body["phoneNumber"])


def _verify(call: Call) -> dict[str, Any]:
    generation = {"verificationType": call.emulator.verification, "possessionType": call.emulator.verified_users}
    return generation[verification.VERIFY_CHOICE.chosen(call.body)[0]].verify(call.project, call.body)


ROUTES: list[tuple[Operation, BaseRoute]] = [
    (VERIFY, prove_api(VERIFY, _verify, _persona_of_number)),
    (VERIFY_BATCH, prove_api(VERIFY_BATCH, lambda call: call.emulator.verification.batch(call.project, call.body))),
    (
        VERIFY_STATUS,
        prove_api(
            VERIFY_STATUS,
            lambda call: call.emulator.verified_users.verify_status(call.project, call.body),
            persona_of_flow,
        ),
    ),
]
