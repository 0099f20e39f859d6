"""Routes of Prove Auth (`/v1/server/auth/*`): thin wrappers over `emulator.flows.prove_auth`.

Prove's server SDK declares only 400 and 500 for these; 401 (access token) and 403 (a test user of
another product) happen too, and reach that SDK as its generic error.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute

from emulator.flows.base import Flow
from emulator.flows.prove_auth import (
    CONTINUE_REQUEST,
    FINISH_REQUEST,
    START_REQUEST,
    ProveAuth,
    ProveAuthFlow,
)
from emulator.http.api import Call, Operation, prove_api
from emulator.rules import Obj
from emulator.scenarios.model import Persona

TAG = "Prove Auth"
ERROR_IN_BODY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["code", "message"],
    "properties": {"code": {"type": "integer", "description": "10001 failed, 10002 not finished, 10004 device "
                                                              "authentication missing, 10005 not emulated."},
                   "message": {"type": "string"}},
}


def _result(success: dict[str, Any]) -> dict[str, Any]:
    """A subject's result: its success or its error."""
    return {"type": "object", "additionalProperties": False, "minProperties": 1, "maxProperties": 1,
            "properties": {"success": success, "error": ERROR_IN_BODY}}


START_REPLY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["authId", "authToken"],
    "properties": {
        "authId": {"type": "string", "format": "uuid"},
        "authToken": {"type": "string", "description": "For the Web SDK, as Unify's."},
        "universalRedirectUrl": {"type": "string",
                                 "description": "With the universal authenticator: its finalTargetUrl with authId "
                                                "(the ceremony itself is not emulated)."},
    },
}
CONTINUE_REPLY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["subjects"],
    "properties": {"subjects": {
        "type": "object",
        "additionalProperties": False,
        "required": ["mobile"],
        "properties": {"mobile": {
            "type": "object",
            "additionalProperties": False,
            "required": ["success"],
            "properties": {"success": {"type": "boolean"}, "error": ERROR_IN_BODY},
        }},
    }},
}
MOBILE_SUCCESS = {
    "type": "object",
    "additionalProperties": False,
    "required": ["authenticatorType", "claim", "createdAt"],
    "properties": {
        "authenticatorType": {"type": "string", "enum": ["provided", "passive", "instant"],
                              "description": "provided: OTP or Instant Link; passive: a Prove Key; instant: Mobile Auth."},
        "claim": {"type": "object", "additionalProperties": False, "required": ["mobileNumber"],
                  "properties": {"mobileNumber": {"type": "string"}}},
        "createdAt": {"type": "integer", "description": "When the number was verified (epoch seconds)."},
        "extras": {"type": "object", "additionalProperties": False, "properties": {
            "phoneMatch": {"type": "string", "enum": ["success", "failure", "indeterminate"]},
            "mobileOperatorName": {"type": "string"},
            "linkClicked": {"type": "boolean"},
        }},
    },
}
DEVICE_SUCCESS = {
    "type": "object",
    "additionalProperties": False,
    "required": ["claim", "createdAt"],
    "properties": {
        "claim": {"type": "object", "additionalProperties": False, "required": ["deviceId"],
                  "properties": {"deviceId": {"type": "string", "format": "uuid"}}},
        "createdAt": {"type": "integer", "description": "When the Prove Key was bound (epoch seconds)."},
    },
}
NOT_EMULATED = {"not": {}, "description": "Never sent: the subject is not emulated."}
FINISH_REPLY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["authId", "appNamespace", "subjects"],
    "properties": {
        "authId": {"type": "string", "format": "uuid"},
        "appNamespace": {"type": "string", "description": "The authToken's auth.ans."},
        "subjects": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "mobile": _result(MOBILE_SUCCESS),
                "device": _result(DEVICE_SUCCESS),
                "user": _result(NOT_EMULATED),
                "card": _result(NOT_EMULATED),
            },
        },
    },
}


def _op(path: str, summary: str, request: Obj, response: dict[str, Any], errors: tuple[int, ...]) -> Operation:
    return Operation(method="POST", path=path, summary=summary, tag=TAG, request=request, response=response,
                     errors=errors, security="bearer")


START = _op("/v1/server/auth/start",
            "Start a Prove Auth: authId and authToken (the Web SDK drives OTP and Instant Link).",
            START_REQUEST, START_REPLY, (400, 401, 403, 500))
CONTINUE = _op("/v1/server/auth/continue",
               "Bind the verified number to a Prove Key. Per-subject errors come inside the 200 body.",
               CONTINUE_REQUEST, CONTINUE_REPLY, (400, 401, 500))
FINISH = _op("/v1/server/auth/finish",
             "Read the result per subject. Per-subject errors come inside the 200 body.",
             FINISH_REQUEST, FINISH_REPLY, (400, 401, 500))


def _prove_auth(call: Call) -> ProveAuth:
    return call.emulator.prove_auth


def _persona_of_number(call: Call) -> Persona | None:
    number = ProveAuth.mobile_number_of(call.body)
    return call.emulator.personas.resolve(call.project.client_id, number) if number else None


def _persona_of_auth(call: Call) -> Flow | None:
    """The live Prove Auth flow the call names (its persona's faults count in it)."""
    flow = call.emulator.flows.by_auth_id(call.body["authId"])
    if isinstance(flow, ProveAuthFlow) and flow.project_id == call.project.client_id:
        return flow
    return None


ROUTES: list[tuple[Operation, BaseRoute]] = [
    (START, prove_api(START, lambda call: _prove_auth(call).start(call.project, call.body), _persona_of_number)),
    (CONTINUE, prove_api(CONTINUE, lambda call: _prove_auth(call).continue_(call.project, call.body),
                         _persona_of_auth)),
    (FINISH, prove_api(FINISH, lambda call: _prove_auth(call).finish(call.project, call.body), _persona_of_auth)),
]
