"""Routes of Unify: thin wrappers over `emulator.flows.unify`."""

from __future__ import annotations

from dataclasses import replace

from starlette.routing import BaseRoute

from emulator.flows.base import Flow
from emulator.flows.unify import BIND_REQUEST, REVOKE_REQUEST, STATUS_REQUEST, UNIFY_REQUEST
from emulator.http.api import Call, Operation, flow_operation, prove_api
from emulator.rules import Obj
from emulator.scenarios.model import Persona

TAG = "Unify"
SUCCESS = {"type": "string", "enum": ["true", "false", "pending", "possession_required"]}
RESULT = {"type": "object", "additionalProperties": False, "required": ["result"],
          "properties": {"result": {"type": "string", "enum": ["pass", "fail"]}}}
STATUS_REPLY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["success", "phoneNumber"],
    "properties": {
        "success": SUCCESS,
        "phoneNumber": {"type": "string", "description": "Always sent: server SDK 0.9.6 requires it."},
        "proveId": {"type": "string", "format": "uuid", "description": "When success is true."},
        "deviceId": {"type": "string", "format": "uuid", "description": "Only with a Prove Key (mobile)."},
        "clientHumanId": {"type": "string", "description": "The unify request's, when it had one."},
        "clientRequestId": {"type": "string", "description": "This call's own, when it had one."},
        "evaluation": {
            "type": "object",
            "additionalProperties": False,
            "required": ["authentication", "risk"],
            "description": "When the unify request had checkReputation true and the flow has its result.",
            "properties": {"authentication": RESULT, "risk": RESULT},
        },
    },
}


def _op(path: str, summary: str, request: Obj, response: dict) -> Operation:
    return flow_operation(path, summary, TAG, request, response)


UNIFY = _op(
    "/v3/unify",
    "Start a Unify flow.",
    UNIFY_REQUEST,
    {"type": "object", "additionalProperties": False, "required": ["correlationId", "success"],
     "properties": {"correlationId": {"type": "string", "format": "uuid"},
                    "authToken": {"type": "string", "description": "One-time use, for the Web SDK."},
                    "success": {"const": "pending"}}},
)
UNIFY_STATUS = _op("/v3/unify-status", "Read a Unify flow's result.", STATUS_REQUEST, STATUS_REPLY)
UNIFY_BIND = _op(
    "/v3/unify-bind",
    "After possession_required and the customer's own possession check: bind the Prove Key.",
    BIND_REQUEST,
    STATUS_REPLY,
)
DEVICE_REVOKE = replace(
    _op(
        "/v3/device/revoke",
        "Revoke a Prove Key: the number's next mobile unify needs possession again. Unknown deviceId: 404 (8011).",
        REVOKE_REQUEST,
        {"type": "object", "additionalProperties": False, "required": ["success"],
         "properties": {"success": {"const": True}}},
    ),
    errors=(400, 401, 403, 404, 500),
)


def _persona_of_flow(call: Call) -> Flow | None:
    """The flow a status or bind call names (its persona's faults count in it)."""
    return call.emulator.unify.flow_named(call.project.client_id, call.body)


def _persona_of_number(call: Call) -> Persona | None:
    number = call.emulator.unify.phone_number_of(call.project, call.body)
    return call.emulator.personas.resolve(call.project.client_id, number)


ROUTES: list[tuple[Operation, BaseRoute]] = [
    (UNIFY, prove_api(UNIFY, lambda call: call.emulator.unify.unify(call.project, call.body), _persona_of_number)),
    (UNIFY_STATUS, prove_api(UNIFY_STATUS, lambda call: call.emulator.unify.status(call.project, call.body),
                             _persona_of_flow)),
    (UNIFY_BIND, prove_api(UNIFY_BIND, lambda call: call.emulator.unify.bind(call.project, call.body),
                           _persona_of_flow)),
    (DEVICE_REVOKE, prove_api(DEVICE_REVOKE, lambda call: call.emulator.unify.revoke(call.project, call.body))),
]
