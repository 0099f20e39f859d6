"""The ASGI middleware that applies emulator/access.py: CORS per surface, the control plane's checks.

Outermost in the app, so a refused call never reaches a route, and only the surfaces that answer
browsers (the Web SDK's device channel, the spec, and Prove's API with --cors-api) get CORS headers.
"""

from __future__ import annotations

import json
from typing import Sequence

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from emulator.access import (
    ADMIN_TOKEN_HEADER,
    AccessPolicy,
    Surface,
    is_cross_origin,
    refused_preflight,
    surface_of,
    withheld_reply_note,
)
from emulator.http.api import error_response
from emulator.service import Emulator

# Headers the Web SDK sends cross-origin (web-sdk-protocol §3.1), listed explicitly because the
# Fetch spec's "*" does not cover Authorization.
CORS_HEADERS = [
    "authorization",
    "content-type",
    "accept",
    "pa-version",
    "pa-challenge",
    "pa-kid",
    "pa-sig-version",
    "pa-signature",
]
JOURNAL_NOTE = "journal_note"  # the key in the request's state that api.journal_call reads


class AccessGuard:
    def __init__(self, app: ASGIApp, policy: AccessPolicy, cors_origins: Sequence[str]) -> None:
        self.policy = policy
        self.plain = app
        self.with_cors = CORSMiddleware(app, allow_origins=list(cors_origins),
                                        allow_methods=["GET", "POST", "PUT", "DELETE"],
                                        allow_headers=CORS_HEADERS, max_age=600)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.plain(scope, receive, send)
            return
        surface = surface_of(scope["path"])
        if surface in (Surface.DEVICE, Surface.SPEC) or (surface is Surface.API and self.policy.cors_api):
            await self.with_cors(scope, receive, send)
            return
        if scope["type"] == "websocket":  # no WebSocket route outside the device channel: the router refuses it
            await self.plain(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if surface is Surface.API and origin is None:  # a backend's call, not a page's
            await self.plain(scope, receive, send)
            return
        emulator: Emulator = scope["app"].state.emulator
        own = _own_origins(scope, headers, emulator.public_origin)
        if surface is Surface.API:
            if is_cross_origin(origin, own):
                await self._cross_origin_api(scope, receive, send, emulator, headers, origin or "")
                return
            await self.plain(scope, receive, send)
            return
        refusal = self.policy.control_refusal(surface, headers.get("host"), origin, headers.get(ADMIN_TOKEN_HEADER),
                                              own, emulator.public_origin)
        if refusal is not None:
            await error_response(refusal)(scope, receive, send)
            return
        await self.plain(scope, receive, send)

    async def _cross_origin_api(self, scope: Scope, receive: Receive, send: Send, emulator: Emulator,
                                headers: Headers, origin: str) -> None:
        path = scope["path"]
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            # The preflight of a call Prove would never allow: refused, and journaled with the reason.
            error = refused_preflight(path, origin)
            emulator.journal.record(
                at=emulator.clock.now(), method="OPTIONS", path=path, status=error.status, duration_ms=0.0,
                project_id="", correlation_id="", request_body="", response_body=json.dumps(error.body()),
                note=error.message,
            )
            await error_response(error)(scope, receive, send)
            return
        # A "simple" request (e.g. a form POST to /token) reaches Prove and is served; only the browser
        # keeps the reply from the page, because it carries no CORS allowance. So here.
        scope.setdefault("state", {})[JOURNAL_NOTE] = withheld_reply_note(path, origin)
        await self.plain(scope, receive, send)


def _own_origins(scope: Scope, headers: Headers, public_origin: str | None) -> set[str]:
    """The origins a same-origin page of the emulator would send: its public one and the one it was reached at."""
    own = {public_origin} if public_origin else set()
    host = headers.get("host")
    if host:
        own.add(f"{scope.get('scheme', 'http')}://{host}")
    return own


_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_GUARD_RESPONSES = {
    "421": {"description": "The Host header does not name the emulator (8001).", "content": _ERROR},
    "403": {"description": "A cross-origin call: the control plane never answers another origin's page (8003).",
            "content": _ERROR},
    "401": {"description": "The admin token is missing or wrong (8002; only with --admin-token).", "content": _ERROR},
}


def document_guard(spec: dict, policy: AccessPolicy) -> dict:
    """Add the guard's refusals (and, with --admin-token, its security scheme) to the served spec."""
    for path, methods in spec["paths"].items():
        surface = surface_of(path)
        if surface not in (Surface.CONTROL, Surface.LINK, Surface.UI):
            continue
        for operation in methods.values():
            responses = operation["responses"]
            for status, response in _GUARD_RESPONSES.items():
                if surface in (Surface.LINK, Surface.UI) and status != "421":  # only the Host check applies
                    continue
                responses.setdefault(status, response)
            if policy.admin_token is not None and surface is Surface.CONTROL:
                operation["security"] = [{"adminToken": []}]
    if policy.admin_token is not None:
        spec["components"]["securitySchemes"]["adminToken"] = {
            "type": "apiKey", "in": "header", "name": ADMIN_TOKEN_HEADER,
            "description": "The token set by --admin-token (PROVE_EMULATOR_ADMIN_TOKEN).",
        }
    return spec
