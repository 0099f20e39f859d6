"""`POST /token`: OAuth 2.0 client credentials (form fields, or HTTP Basic), at the host root.

The SDKs resolve `/token` against the origin and drop any path prefix of serverURL
(platform-api §3.2), so the route lives at the root only.
"""

from __future__ import annotations

import base64
import binascii
import time
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from emulator.errors import ProveError, malformed, unauthorized
from emulator.http.api import Operation, apply_fault, emulator_of, journal_call, json_response, read_body, render_json

TOKEN = Operation(
    method="POST",
    path="/token",
    summary="Exchange client credentials for an access token (OAuth 2.0 client_credentials).",
    tag="OAuth",
    request_content_type="application/x-www-form-urlencoded",
    request_schema={
        "type": "object",
        "required": ["grant_type"],
        "properties": {
            "grant_type": {"type": "string", "enum": ["client_credentials"]},
            "client_id": {"type": "string", "description": "Required unless sent with HTTP Basic."},
            "client_secret": {"type": "string", "description": "Required unless sent with HTTP Basic."},
        },
    },
    response={
        "type": "object",
        "additionalProperties": False,
        "required": ["access_token", "token_type", "expires_in"],
        "properties": {
            "access_token": {"type": "string"},
            "token_type": {"const": "Bearer"},
            "expires_in": {"type": "integer", "const": 3600},
        },
    },
    errors=(400, 401),
)


def _credentials(request: Request, form: dict[str, str]) -> tuple[str, str]:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic" and encoded:
        try:
            client_id, sep, client_secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise malformed("the Authorization header is not valid HTTP Basic (base64 of id:secret)") from None
        if not sep:
            raise malformed("the Authorization header is not valid HTTP Basic (base64 of id:secret)")
        return client_id, client_secret
    for name in ("client_id", "client_secret"):
        if not form.get(name):
            raise malformed(f"field '{name}' is required (form field, or HTTP Basic credentials)")
    return form["client_id"], form["client_secret"]


# The TypeScript SDK 0.13.0's direct v3TokenRequest() sent these names (fixed in 0.13.1).
FIELD_ALIASES = {"GrantType": "grant_type", "ClientID": "client_id", "ClientSecret": "client_secret"}


async def token(request: Request) -> Response:
    emulator = emulator_of(request)
    started = time.perf_counter()
    project_id = ""
    try:
        await apply_fault(emulator.faults.take(TOKEN.path, None, None))
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise malformed(
                f"the Content-Type must be application/x-www-form-urlencoded (got {content_type or 'none'})"
            )
        try:
            form = dict(parse_qsl((await read_body(request)).decode(), keep_blank_values=True))
        except UnicodeDecodeError:
            raise malformed("the form body is not valid UTF-8") from None
        for alias, name in FIELD_ALIASES.items():
            if alias in form:
                form.setdefault(name, form.pop(alias))
        grant_type = form.get("grant_type")
        if not grant_type:
            raise malformed("field 'grant_type' is required and must be client_credentials")
        if grant_type != "client_credentials":
            raise malformed(f"field 'grant_type' must be client_credentials (got {grant_type!r})")
        client_id, client_secret = _credentials(request, form)
        project = emulator.projects.authenticate(client_id, client_secret)
        if project is None:
            raise unauthorized("not authorized: unknown client_id or wrong client_secret")
        project_id = project.client_id
        access_token, expires_in = emulator.tokens.issue_access_token(project.client_id)
        status, payload = 200, {"access_token": access_token, "token_type": "Bearer", "expires_in": expires_in}
    except ProveError as error:
        status, payload = error.status, error.body()
    shown = {k: ("***" if k == "access_token" else v) for k, v in payload.items()}
    journal_call(emulator, request, started, status, render_json(shown), project_id, "", "(form: credentials not journaled)")
    return json_response(payload, status)


ROUTES: list[tuple[Operation, BaseRoute]] = [(TOKEN, Route(TOKEN.path, token, methods=["POST"]))]
