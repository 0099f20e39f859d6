"""Routes of Verified Users: thin wrappers over `emulator.flows.verified_users`."""

from __future__ import annotations

from starlette.routing import BaseRoute

from emulator.flows.verified_users import PRODUCT, VERIFY_REQUEST, VERIFY_STATUS_REQUEST
from emulator.http.api import Call, Operation, persona_of_flow, prove_api
from emulator.scenarios.model import Persona

RESULT = {"type": "string", "enum": ["pending", "success", "failed", "not_applicable"]}
SUCCESS = {"type": "string", "enum": ["true", "false", "pending"]}

VERIFY = Operation(
    method="POST",
    path="/v3/verify",
    summary="Start a Verified Users flow (possession-based shape).",
    tag="Verified Users",
    request=VERIFY_REQUEST,
    response={
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
    errors=(400, 401, 403, 500),
    security="bearer",
)

VERIFY_STATUS = Operation(
    method="POST",
    path="/v3/verify-status",
    summary="Read a Verified Users flow's results.",
    tag="Verified Users",
    request=VERIFY_STATUS_REQUEST,
    response={
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
    errors=(400, 401, 500),
    security="bearer",
)


def _persona_of_number(call: Call) -> Persona | None:
    return call.emulator.resolve_persona(call.project.client_id, call.body["phoneNumber"], PRODUCT)


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
