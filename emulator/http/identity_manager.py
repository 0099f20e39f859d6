"""Routes of Identity Manager: thin wrappers over `emulator.flows.identity_manager`.

Paths use the newest SDK's names (`{proveId}`); the wire URLs are the same for every SDK. Enrol and
list are also served at `/v3/identity/`, where TS SDK 0.10.0-0.13.0 calls them.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Route

from emulator.http.api import Call, Operation, Param, prove_api
from emulator.flows.identity_manager import (
    BATCH_REQUEST,
    IdentityManager,
    CLIENT_REQUEST_ONLY,
    ENROL_REQUEST,
    MAX_BATCH,
    MAX_BATCH_BODY_BYTES,
    MAX_PAGE,
)

TAG = "Identity Manager"
PROVE_ID = Param("proveId", "path", {"type": "string"},
                 "The identity's id. SDKs up to 0.14.6 call this parameter identityId; it is the same id.",
                 required=True)
CLIENT_REQUEST_ID = Param("clientRequestId", "query", {"type": "string"})
ID = {"type": "string", "format": "uuid"}
IDS = {"identityId": {**ID, "description": "The name SDKs up to 0.14.6 read."},
       "proveId": {**ID, "description": "The same id, under the name SDKs from 0.14.7 read."}}
SUCCESS = {"type": "object", "additionalProperties": False, "required": ["success"],
           "properties": {"success": {"type": "boolean"}}}
RECORD = {
    "type": "object",
    "additionalProperties": False,
    "required": ["identityId", "proveId", "phoneNumber", "active", "carrier", "countryCode", "lineType",
                 "createdAt", "creationString"],
    "properties": {
        **IDS,
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
ENROLLED = {"type": "object", "additionalProperties": False, "required": ["identityId", "proveId", "success"],
            "properties": {**IDS, "success": {"const": True}}}
BATCH_RESULT = {
    "type": "object",
    "additionalProperties": False,
    "properties": {**IDS, "phoneNumber": {"type": "string", "description": "The item's number, when known."},
                   "error": {"type": "string", "description": "Why this item was not enrolled."}},
    "oneOf": [{"required": ["identityId", "proveId"]}, {"required": ["error"]}],
}
LISTED = {
    "type": "object", "additionalProperties": False, "required": ["results"],
    "properties": {"results": {"type": "array", "items": {"type": "object", "additionalProperties": False,
                                                          "required": ["identityId", "proveId"], "properties": IDS}},
                   "lastKey": {"type": "string", "description": "Pass as startKey for the next page."}},
}
CROSS_DOMAIN_ITEMS = {"type": "array", "items": {
    "type": "object", "additionalProperties": False, "required": ["clientName", "identityId", "pcid"],
    "properties": {"clientName": {"type": "string", "description": "The other domain's name."},
                   "identityId": ID, "pcid": {"type": "string"}}}}
CROSS_DOMAIN = {
    "type": "object", "additionalProperties": False, "required": ["count", "identities", "identites"],
    "properties": {"count": {"type": "integer", "minimum": 0}, "identities": CROSS_DOMAIN_ITEMS,
                   "identites": {**CROSS_DOMAIN_ITEMS, "description": "The same list, as TS SDK 0.13.1 spells it."}},
}
ATTRIBUTE_REF = {"attributeId": ID, "issuerId": {"type": "string", "description": "Whose domain holds it."}}
# discover's results carry the value too: SDK 0.14.7 parsed discover's reply as fetch's, which requires it.
FETCHED = {
    "type": "object", "additionalProperties": False, "required": ["results"],
    "properties": {"results": {"type": "array", "items": {
        "type": "object", "additionalProperties": False, "required": ["attributeId", "issuerId", "attributeValue"],
        "properties": {**ATTRIBUTE_REF, "attributeValue": {"type": "string"}}}}},
}
DISCOVERED = FETCHED
ERRORS = (400, 401, 404, 500)


def _op(method: str, path: str, summary: str, response: dict[str, Any], **extra: Any) -> Operation:
    return Operation(method=method, path=path, summary=summary, tag=TAG, response=response, errors=ERRORS,
                     security="bearer", **extra)


ENROL = _op("POST", "/v3/identity", "Enrol an identity (a phone number) for monitoring.", ENROLLED,
            request=ENROL_REQUEST)
ENROL_SLASH = _op("POST", "/v3/identity/", "Enrol, at the path TS SDK 0.10.0-0.13.0 uses.", ENROLLED,
                  request=ENROL_REQUEST)
BATCH = _op(
    "POST", "/v3/identity/batch",
    f"Enrol up to {MAX_BATCH} identities; each result has the ids or an error (a string).",
    {"type": "object", "additionalProperties": False, "required": ["results"],
     "properties": {"results": {"type": "array", "items": BATCH_RESULT,
                                "description": "One result per item, in the items' order."}}},
    request=BATCH_REQUEST, max_body_bytes=MAX_BATCH_BODY_BYTES,
)
LIST_PARAMS = (
    Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}, "Default 100."),
    Param("startKey", "query", {"type": "string"}),
    Param("showInactive", "query", {"type": "boolean"}, "Default false."),
    CLIENT_REQUEST_ID,
)
LIST = _op("GET", "/v3/identity", "List the project's identities, a page at a time.", LISTED, params=LIST_PARAMS)
LIST_SLASH = _op("GET", "/v3/identity/", "List, at the path TS SDK 0.10.0-0.13.0 uses.", LISTED,
                 params=LIST_PARAMS)
GET = _op("GET", "/v3/identity/{proveId}", "One identity.", RECORD, params=(PROVE_ID, CLIENT_REQUEST_ID))
DELETE = _op("DELETE", "/v3/identity/{proveId}", "Disenrol (remove) an identity.", SUCCESS,
             params=(PROVE_ID, CLIENT_REQUEST_ID))
DEACTIVATE = _op("POST", "/v3/identity/{proveId}/deactivate", "Stop monitoring an identity (no more webhooks).",
                 SUCCESS, params=(PROVE_ID,), request=CLIENT_REQUEST_ONLY, request_optional=True)
ACTIVATE = _op("POST", "/v3/identity/{proveId}/activate", "Resume monitoring an identity.",
               SUCCESS, params=(PROVE_ID,), request=CLIENT_REQUEST_ONLY, request_optional=True)
LOOKUP = _op(
    "GET", "/v3/identity/{mobileNumber}/lookup", "The identities enrolled for a phone number.",
    {"type": "object", "additionalProperties": False, "required": ["items"],
     "properties": {"items": {"type": "array", "items": RECORD}}},
    params=(Param("mobileNumber", "path", {"type": "string"}, required=True), CLIENT_REQUEST_ID),
)
CROSS = _op(
    "POST", "/v3/identity/{identityId}/cross-domain",
    "The same person (phone number) in the domains linked to yours (confirmed links, either direction).",
    CROSS_DOMAIN,
    params=(Param("identityId", "path", {"type": "string"}, "The identity's id (Prove still names it identityId "
                                                            "here); the same as proveId.", required=True),),
    request=CLIENT_REQUEST_ONLY, request_optional=True,
)
PROVE_ID_QUERY = Param("proveId", "query", {"type": "string"}, "An identity of your project.", required=True)
DISCOVER = _op("GET", "/v3/discover",
               "The attributes of an identity and of the same person in linked domains (ids and issuers).",
               DISCOVERED, params=(PROVE_ID_QUERY, CLIENT_REQUEST_ID))
FETCH = _op("GET", "/v3/fetch", "One attribute's value (an attributeId from /v3/discover).", FETCHED,
            params=(PROVE_ID_QUERY, Param("attributeId", "query", {"type": "string"}, required=True),
                    CLIENT_REQUEST_ID))


def _also_at(operation: Operation, route: Route) -> Route:
    """The same endpoint (body rules, faults, handler) at another spelling of its path."""
    return Route(operation.path, route.endpoint, methods=[operation.method])


def _manager(call: Call) -> IdentityManager:
    return call.emulator.identity_manager


_enrol = prove_api(ENROL, lambda call: _manager(call).enrol(call.project, call.body))
_list = prove_api(LIST, lambda call: _manager(call).list(call.project, call.query))

ROUTES: list[tuple[Operation, BaseRoute]] = [
    (ENROL, _enrol),
    (ENROL_SLASH, _also_at(ENROL_SLASH, _enrol)),
    (BATCH, prove_api(BATCH, lambda call: _manager(call).batch(call.project, call.body))),
    (LIST, _list),
    (LIST_SLASH, _also_at(LIST_SLASH, _list)),
    (LOOKUP, prove_api(LOOKUP, lambda call: _manager(call).lookup(call.project, call.path_params["mobileNumber"]))),
    (GET, prove_api(GET, lambda call: _manager(call).get(call.project, call.path_params["proveId"]))),
    (DELETE, prove_api(DELETE, lambda call: _manager(call).delete(call.project, call.path_params["proveId"]))),
    (DEACTIVATE, prove_api(DEACTIVATE, lambda call: _manager(call).set_active(
        call.project, call.path_params["proveId"], False))),
    (ACTIVATE, prove_api(ACTIVATE, lambda call: _manager(call).set_active(
        call.project, call.path_params["proveId"], True))),
    (CROSS, prove_api(CROSS, lambda call: _manager(call).cross_domain(call.project, call.path_params["identityId"]))),
    (DISCOVER, prove_api(DISCOVER, lambda call: _manager(call).discover(call.project, call.query))),
    (FETCH, prove_api(FETCH, lambda call: _manager(call).fetch(call.project, call.query))),
]
