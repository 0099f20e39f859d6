"""Routes of Identity Manager: thin wrappers over `emulator.identity_manager`."""

from __future__ import annotations

from starlette.routing import BaseRoute

from emulator.http.api import Operation, Param, prove_api
from emulator.flows.identity_manager import BATCH_REQUEST, CLIENT_REQUEST_ONLY, ENROL_REQUEST, MAX_PAGE

TAG = "Identity Manager"
IDENTITY_ID = Param("identityId", "path", {"type": "string"}, required=True)
CLIENT_REQUEST_ID = Param("clientRequestId", "query", {"type": "string"})
SUCCESS = {"type": "object", "additionalProperties": False, "required": ["success"],
           "properties": {"success": {"type": "boolean"}}}
RECORD = {
    "type": "object",
    "additionalProperties": False,
    "required": ["identityId", "phoneNumber", "active", "carrier", "countryCode", "lineType", "createdAt",
                 "creationString"],
    "properties": {
        "identityId": {"type": "string", "format": "uuid"},
        "phoneNumber": {"type": "string"},
        "active": {"type": "boolean"},
        "carrier": {"type": "string"},
        "countryCode": {"type": "string"},
        "lineType": {"type": "string"},
        "clientCustomerId": {"type": "string"},
        "deviceId": {"type": "string"},
        "createdAt": {"type": "integer", "description": "Epoch seconds."},
        "creationString": {"type": "string", "format": "date-time"},
    },
}
ERRORS = (400, 401, 404, 500)


def _op(method: str, path: str, summary: str, response: dict, **extra) -> Operation:
    return Operation(method=method, path=path, summary=summary, tag=TAG, response=response, errors=ERRORS,
                     security="bearer", **extra)


ENROL = _op(
    "POST", "/v3/identity", "Enrol an identity (a phone number) for monitoring.",
    {"type": "object", "additionalProperties": False, "required": ["identityId", "success"],
     "properties": {"identityId": {"type": "string", "format": "uuid"}, "success": {"const": True}}},
    request=ENROL_REQUEST,
)
BATCH = _op(
    "POST", "/v3/identity/batch", "Enrol up to 100 identities; each result has an identityId or an error.",
    {"type": "object", "additionalProperties": False, "required": ["results"],
     "properties": {"results": {"type": "array", "items": {
         "type": "object", "required": ["phoneNumber"],
         "properties": {"identityId": {"type": "string"}, "phoneNumber": {"type": "string"},
                        "error": {"$ref": "#/components/schemas/Error"}}}}}},
    request=BATCH_REQUEST,
)
LIST = _op(
    "GET", "/v3/identity", "List the project's identities, a page at a time.",
    {"type": "object", "additionalProperties": False, "required": ["results"],
     "properties": {"results": {"type": "array", "items": {"type": "object", "required": ["identityId"],
                                                          "properties": {"identityId": {"type": "string"}}}},
                    "lastKey": {"type": "string", "description": "Pass as startKey for the next page."}}},
    params=(
        Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}, "Default 100."),
        Param("startKey", "query", {"type": "string"}),
        Param("showInactive", "query", {"type": "boolean"}, "Default false."),
        CLIENT_REQUEST_ID,
    ),
)
GET = _op("GET", "/v3/identity/{identityId}", "One identity.", RECORD, params=(IDENTITY_ID, CLIENT_REQUEST_ID))
DELETE = _op("DELETE", "/v3/identity/{identityId}", "Disenrol (remove) an identity.", SUCCESS,
             params=(IDENTITY_ID, CLIENT_REQUEST_ID))
DEACTIVATE = _op("POST", "/v3/identity/{identityId}/deactivate", "Stop monitoring an identity (no more webhooks).",
                 SUCCESS, params=(IDENTITY_ID,), request=CLIENT_REQUEST_ONLY, request_optional=True)
ACTIVATE = _op("POST", "/v3/identity/{identityId}/activate", "Resume monitoring an identity.",
               SUCCESS, params=(IDENTITY_ID,), request=CLIENT_REQUEST_ONLY, request_optional=True)
LOOKUP = _op(
    "GET", "/v3/identity/{mobileNumber}/lookup", "The identities enrolled for a phone number.",
    {"type": "object", "additionalProperties": False, "required": ["items"],
     "properties": {"items": {"type": "array", "items": RECORD}}},
    params=(Param("mobileNumber", "path", {"type": "string"}, required=True), CLIENT_REQUEST_ID),
)

ROUTES: list[tuple[Operation, BaseRoute]] = [
    (ENROL, prove_api(ENROL, lambda call: call.emulator.identity_manager.enrol(call.project, call.body))),
    (BATCH, prove_api(BATCH, lambda call: call.emulator.identity_manager.batch(call.project, call.body))),
    (LIST, prove_api(LIST, lambda call: call.emulator.identity_manager.list(call.project, call.query))),
    (LOOKUP, prove_api(LOOKUP, lambda call: call.emulator.identity_manager.lookup(
        call.project, call.path_params["mobileNumber"]))),
    (GET, prove_api(GET, lambda call: call.emulator.identity_manager.get(call.project, call.path_params["identityId"]))),
    (DELETE, prove_api(DELETE, lambda call: call.emulator.identity_manager.delete(
        call.project, call.path_params["identityId"]))),
    (DEACTIVATE, prove_api(DEACTIVATE, lambda call: call.emulator.identity_manager.set_active(
        call.project, call.path_params["identityId"], False))),
    (ACTIVATE, prove_api(ACTIVATE, lambda call: call.emulator.identity_manager.set_active(
        call.project, call.path_params["identityId"], True))),
]
