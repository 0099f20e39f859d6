"""`/openapi.json`: the emulator's whole HTTP surface, built from the same `Operation` declarations
the app mounts (and, for request bodies, from the rules that validate them)."""

from __future__ import annotations

from typing import Any, Iterable

from emulator import __version__
from emulator.http.api import Operation
from emulator.rules import json_schema

ERROR = {
    "type": "object",
    "additionalProperties": False,
    "required": ["code", "message"],
    "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
}
CLIENT_REPLY = {
    "type": "object",
    "additionalProperties": False,
    "description": "The Web SDK envelope (web-sdk-protocol §3.3). Always HTTP 200.",
    "properties": {
        "next": {"type": "string"},
        "data": {"type": "object"},
        "error": ERROR,
    },
}
RATE_LIMITED_RESPONSE = {
    "description": "Over the project's rateLimit (code 8012); Retry-After says in how many seconds to retry.",
    "headers": {"Retry-After": {"required": True, "schema": {"type": "integer", "minimum": 1}}},
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}
_STATUS_TEXT = {400: "Bad request (8001, 8007, 8008)", 401: "Unauthorized (8002)", 403: "Forbidden (8003, 8009)",
                404: "Not found", 429: "Too many requests", 500: "Internal error (8000)",
                503: "The emulator is shutting down (8000)"}


def _operation_object(operation: Operation) -> dict[str, Any]:
    result: dict[str, Any] = {
        "summary": operation.summary,
        "tags": [operation.tag],
        "operationId": f"{operation.method.lower()}{operation.path.replace('/', '_').replace('{', '').replace('}', '')}",
    }
    if operation.params:
        result["parameters"] = [
            {"name": p.name, "in": p.location, "required": p.required or p.location == "path",
             "schema": p.schema, **({"description": p.description} if p.description else {})}
            for p in operation.params
        ]
    body_schema = json_schema(operation.request) if operation.request is not None else operation.request_schema
    if body_schema is not None:
        result["requestBody"] = {
            "required": operation.request is not None and not operation.request_optional,
            "description": f"At most {operation.max_body_bytes} bytes (larger: 400, 8001).",
            "content": {operation.request_content_type: {"schema": body_schema}},
        }
    responses: dict[str, Any] = {}
    if operation.response is not None:
        responses["200"] = {"description": "OK", "content": {"application/json": {"schema": operation.response}}}
    for status in operation.errors:
        responses[str(status)] = {
            "description": _STATUS_TEXT.get(status, "Error"),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    if operation.security == "bearer":  # any project with a rateLimit (emulator/ratelimit.py)
        responses["429"] = RATE_LIMITED_RESPONSE
    responses.update(operation.other_responses)
    if operation.security is not None or operation.path == "/token":
        responses["default"] = {
            "description": "An injected fault (scenario or control plane): its HTTP status and the error envelope.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    result["responses"] = responses
    if operation.security == "bearer":
        result["security"] = [{"accessToken": []}]
    elif operation.security == "authToken":
        result["security"] = [{"authToken": []}]
    return result


def build_spec(operations: Iterable[Operation]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for operation in operations:
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation_object(operation)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "prove-emulator",
            "version": __version__,
            "description": (
                "An offline emulator of Prove Identity's sandbox: the v3 server API, the Web SDK's "
                "device channel and the emulator's own control plane. Unknown routes answer 404 and "
                "wrong methods 405 with the same {code, message} envelope."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR, "ClientReply": CLIENT_REPLY},
            "securitySchemes": {
                "accessToken": {"type": "http", "scheme": "bearer",
                                "description": "An access token from POST /token."},
                "authToken": {"type": "http", "scheme": "bearer",
                              "description": "The flow's authToken, as the Web SDK sends it."},
            },
        },
    }
