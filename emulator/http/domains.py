"""Routes of domain linking (`/v3/domain/...`): thin wrappers over `emulator.flows.domains`."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute

from emulator.flows.domains import CONFIRM_REQUEST, LINK_REQUEST, UNLINK_REQUEST, DomainLinks
from emulator.http.api import Call, Operation, prove_api

TAG = "Domains"
ERRORS = (400, 401, 500)
SUCCESS = {"type": "object", "additionalProperties": False, "required": ["success"],
           "properties": {"success": {"const": True}}}
DOMAIN_ID = {
    "type": "object", "additionalProperties": False, "required": ["pcid", "name", "issuerId"],
    "properties": {"pcid": {"type": "string", "description": "Stable: derived from the project's client id."},
                   "name": {"type": "string", "description": "The project's name, or its client id."},
                   "issuerId": {"type": "string", "description": "The issuer of its identities' attributes."}},
}
_OTHER_END = {"pcid": {"type": "string"}, "name": {"type": "string"},
              "scopes": {"type": "array", "items": {"type": "string"}}}


def _entries(at: str, description: str) -> dict[str, Any]:
    return {
        "type": "array", "description": description,
        "items": {"type": "object", "additionalProperties": False,
                  "required": ["pcid", "name", "scopes", f"{at}At", f"{at}String"],
                  "properties": {**_OTHER_END, f"{at}At": {"type": "integer", "description": "Epoch seconds."},
                                 f"{at}String": {"type": "string", "format": "date-time"}}},
    }


LINKED = {
    "type": "object", "additionalProperties": False,
    "required": ["linkedFrom", "linkedTo", "requestsFrom", "requestsTo"],
    "properties": {
        "linkedFrom": _entries("accepted", "Domains that linked to yours (you confirmed their request)."),
        "linkedTo": _entries("accepted", "Domains yours links to (they confirmed your request)."),
        "requestsFrom": _entries("requested", "Pending requests from other domains: confirm-link accepts one."),
        "requestsTo": _entries("requested", "Your pending requests, waiting for the other domain."),
    },
}


def _op(method: str, path: str, summary: str, response: dict[str, Any], **extra: Any) -> Operation:
    return Operation(method=method, path=path, summary=summary, tag=TAG, response=response, errors=ERRORS,
                     security="bearer", **extra)


DOMAIN = _op("GET", "/v3/domain/id", "Your domain: its pcid, name and issuerId.", DOMAIN_ID)
# TS SDK 0.13.0 called it with POST (and an optional raw body, which is not read).
DOMAIN_POST = _op("POST", "/v3/domain/id", "Your domain, as TS SDK 0.13.0 asks for it (POST).", DOMAIN_ID)
LINK = _op("POST", "/v3/domain/link",
           "Ask to link your domain to another (a pending request until it confirms). Asking again is a no-op.",
           SUCCESS, request=LINK_REQUEST)
CONFIRM = _op("POST", "/v3/domain/confirm-link", "Confirm another domain's pending request to link to yours.",
              SUCCESS, request=CONFIRM_REQUEST)
LINKED_OP = _op("GET", "/v3/domain/linked", "Your links and pending requests, both ways.", LINKED)
UNLINK = _op("POST", "/v3/domain/unlink",
             "Remove a link or pending request: pcidTo for one from you, pcidFrom for one to you.",
             SUCCESS, request=UNLINK_REQUEST)


def _links(call: Call) -> DomainLinks:
    return call.emulator.domains


ROUTES: list[tuple[Operation, BaseRoute]] = [
    (DOMAIN, prove_api(DOMAIN, lambda call: _links(call).domain_id(call.project))),
    (DOMAIN_POST, prove_api(DOMAIN_POST, lambda call: _links(call).domain_id(call.project))),
    (LINK, prove_api(LINK, lambda call: _links(call).link(call.project, call.body))),
    (CONFIRM, prove_api(CONFIRM, lambda call: _links(call).confirm(call.project, call.body))),
    (LINKED_OP, prove_api(LINKED_OP, lambda call: _links(call).linked(call.project))),
    (UNLINK, prove_api(UNLINK, lambda call: _links(call).unlink(call.project, call.body))),
]
