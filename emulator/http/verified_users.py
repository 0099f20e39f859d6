"""Routes of Verified Users: thin wrappers over `emulator.flows.verified_users`."""

from __future__ import annotations

from starlette.routing import BaseRoute

from emulator.flows.verified_users import PRODUCT, VERIFY_REQUEST, VERIFY_STATUS_REQUEST
from emulator.http.api import Call, Operation, flow_operation, persona_of_flow, prove_api
from emulator.scenarios.model import Persona

RESULT = {"type": "string", "enum": ["pending", "success", "failed", "not_applicable"]}
SUCCESS = {"type": "string", "enum": ["true", "false", "pending"]}

VERIFY = flow_operation(
    "/v3/verify",
    "Start a Verified Users flow (possession-based shape).",
    "Verified Users",
    VERIFY_REQUEST,
    {
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
    },
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
    return call.emulator.personas.resolve(call.project.client_id, call.body["phoneNumber"], PRODUCT)


ROUTES: list[tuple[Operation, BaseRoute]] = [
    (
        VERIFY,
        prove_api(VERIFY, lambda call: call.emulator.verified_users.verify(call.project, call.body), _persona_of_number),
    ),
    (
        VERIFY_STATUS,
        prove_api(
            VERIFY_STATUS,
            lambda call: call.emulator.verified_users.verify_status(call.project, call.body),
            persona_of_flow,
        ),
    ),
]
