"""The device channel's steps before possession: thin routes over emulator.flows.device_keys (the
Prove Key, `device/passive`) and emulator.flows.mobile_auth (Mobile Auth, `mobile/instant`).

- `POST /v1/client/device/passive/{register,verify,error}`, `/device/fido2/start`, `/device/unregister`
  and `/v1/client/challenge` (web-sdk-protocol §3.2, §4, §8.1).
- `POST /v1/client/mobile/instant/{start,finish,error}` (§4, §8.3), and `GET
  /v1/client/mobile/instant/auth/{sessionId}`: the redirectUrl the mobile-auth library visits.

Always HTTP 200 with `{"next","data","error"}`, like the rest of the channel; the challenge's reply
is its own top-level `{"challenge","ttl"}`. Calls the SDK signs once it holds a key (the `/error`
reports, unregister) have their signature checked when they carry one.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from emulator.flows.base import Flow
from emulator.flows.key_signatures import SignedCall
from emulator.flows.mobile_auth import CARRIER_PATH
from emulator.flows.possession import ClientReply
from emulator.http.api import (Operation, Param, SignedDeviceHandler, emulator_of, journal_call, json_response,
                               render_json, signed_device_api)
from emulator.http.device import CLIENT_REPLY, ERROR_BODY, FlowHandler, checking_signature
from emulator.service import Emulator

TAG = "Device channel (Web SDK)"
# A 1x1 transparent GIF: what the mobile-auth library's pixel implementation loads.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_DEVICE_ID = {"type": "string", "minLength": 1, "maxLength": 128}
_SIGNATURE = {"type": "string", "maxLength": 200, "description": "Standard base64 of a DER ECDSA P-256 signature."}
_SIGNALS = {"type": "object", "description": "Device signals (fingerprint); accepted and ignored."}
_SIGNED = ("Signed (PA-Sig-Version 3, PA-KID, PA-Challenge, PA-Signature) once the browser holds a key: a "
           "signature that does not verify, or a used or expired challenge, is refused.")


# An injected fault on a call that carries a flow's authToken (the routes without a required one).
_FAULT = {"default": {"description": "An injected fault (scenario or control plane): its HTTP status and the "
                                     "error envelope.",
                      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}


def _operation(path: str, summary: str, body: dict[str, Any], security: str | None = "authToken",
               response: dict[str, Any] = CLIENT_REPLY) -> Operation:
    return Operation(method="POST", path=path, summary=summary, tag=TAG, request_schema=body, response=response,
                     security=security, other_responses={} if security else dict(_FAULT))


REGISTER = _operation(
    "/v1/client/device/passive/register",
    "Register the device's Prove Key (ES256 public key, signature of the authToken's chlg): data.deviceId, "
    "next mobile/otp. The key is bound to the number when possession succeeds.",
    {"type": "object", "required": ["registrations"], "properties": {
        "deviceName": {"type": "string", "maxLength": 256},
        "deviceCapabilities": {"type": "array", "maxItems": 16, "items": {"type": "string", "maxLength": 64}},
        "registrations": {"type": "array", "minItems": 1, "maxItems": 1, "items": {
            "type": "object", "required": ["publicKey", "signature"], "properties": {
                "publicKey": {"type": "object", "required": ["id", "alg", "key"], "properties": {
                    "id": {"type": "string", "minLength": 1, "maxLength": 128, "description": "The keyId."},
                    "alg": {"type": "string", "description": "ES256."},
                    "key": {"type": "string", "maxLength": 1024, "description": "SPKI PEM of a P-256 key."},
                    "uvLevel": {"type": "integer"}}},
                "signature": _SIGNATURE}}},
        "signals": _SIGNALS}},
)
VERIFY = _operation(
    "/v1/client/device/passive/verify",
    "Prove the device's Prove Key (signature of deviceId:chlg). Bound to the flow's number: next done, no SMS. "
    "Not recognised: error 10006 with next device/passive (the SDK registers a new key, then OTP).",
    {"type": "object", "required": ["deviceId", "keyId", "signature"], "properties": {
        "deviceId": _DEVICE_ID, "keyId": {"type": "string", "maxLength": 128}, "signature": _SIGNATURE,
        "signals": _SIGNALS}},
)
PASSIVE_ERROR = _operation(
    "/v1/client/device/passive/error",
    "The SDK reports a Prove Key step failure; OTP goes on (next mobile/otp). " + _SIGNED, ERROR_BODY,
)
WEBAUTHN_START = _operation(
    "/v1/client/device/fido2/start",
    "WebAuthn start (only tokens with uvlvl, a persona option): not emulated, a clear error without next.",
    {"type": "object", "properties": {"displayName": {"type": "string"}, "signals": _SIGNALS,
                                      "deviceId": {"type": ["string", "null"]}}},
)
CHALLENGE = _operation(
    "/v1/client/challenge",
    "A single-use challenge (60 s) for the device's signed requests, top level. The authToken is optional "
    "(unregisterDevice() sends none). Unknown device: error 10006.",
    {"type": "object", "required": ["deviceId"], "properties": {"deviceId": _DEVICE_ID}},
    security=None,
    response={"type": "object", "additionalProperties": False, "properties": {
        "challenge": {"type": "string"}, "ttl": {"type": "integer", "minimum": 1},
        "error": {"$ref": "#/components/schemas/Error"}}},
)
UNREGISTER = _operation(
    "/v1/client/device/unregister",
    "unregisterDevice(): forget the device's Prove Key. No authToken; it must be signed by that key.",
    {"type": "object", "required": ["deviceId"], "properties": {"deviceId": _DEVICE_ID}},
    security=None,
)
INSTANT_START = _operation(
    "/v1/client/mobile/instant/start",
    "Start Mobile Auth: data.redirectUrl, which the mobile-auth library visits (over http it carries the "
    "library's testVfp hook, since the library refuses http URLs).",
    {"type": "object", "properties": {"cellularIp": {"type": ["string", "null"], "maxLength": 64},
                                      "implementation": {"type": "string", "enum": ["fetch", "pixel"]}}},
)
INSTANT_FINISH = _operation(
    "/v1/client/mobile/instant/finish",
    "Finish Mobile Auth with the vfp the library got: next done, or per persona an error with next mobile/otp "
    "(fallback) or the failure.",
    {"type": "object", "required": ["vfp"], "properties": {"vfp": {"type": "string", "maxLength": 256}}},
)
INSTANT_ERROR = _operation(
    "/v1/client/mobile/instant/error",
    "The SDK reports a Mobile Auth failure in the browser; OTP goes on unless the persona has no fallback. "
    + _SIGNED, ERROR_BODY,
)
_ENVELOPE = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
CARRIER = Operation(
    method="GET",
    path=CARRIER_PATH + "/{sessionId}",
    summary="The redirectUrl of a Mobile Auth session (the emulator's stand-in for the carrier): with r=f, JSON "
            "{vfp} (the library's fetch implementation); otherwise a 1x1 GIF (its pixel implementation).",
    tag=TAG,
    params=(Param("sessionId", "path", {"type": "string"}, required=True),
            Param("r", "query", {"type": "string"}, "f: the fetch implementation (JSON)."),
            Param("testVfp", "query", {"type": "string"}, "The library's test hook: it never requests a URL with it."),
            Param("sdkVersion", "query", {"type": "string"}, "Sent by the library; ignored.")),
    other_responses={
        "200": {"description": "The session's vfp (r=f) or a pixel.", "content": {
            "application/json": {"schema": {"type": "object", "additionalProperties": False, "required": ["vfp"],
                                            "properties": {"vfp": {"type": "string"}}}},
            "image/gif": {}}},
        "404": {"description": "No such session (8008).", "content": _ENVELOPE},
        "410": {"description": "The session has ended (8008).", "content": _ENVELOPE},
    },
)

def _with_flow(handler: FlowHandler) -> SignedDeviceHandler:
    def run(emulator: Emulator, flow: Flow | None, body: dict[str, Any], call: SignedCall) -> ClientReply:
        assert flow is not None  # the route requires the authToken
        return handler(emulator, flow, body)

    return run


async def carrier(request: Request) -> Response:
    emulator = emulator_of(request)
    started = time.perf_counter()
    outcome, vfp = emulator.mobile_auth.carrier(request.path_params["sessionId"])
    if outcome != "ok":
        status = 404 if outcome == "unknown" else 410
        payload: Any = {"code": 8008, "message": "unknown Mobile Auth session" if outcome == "unknown"
                        else "this Mobile Auth session has ended"}
        response: Response = json_response(payload, status)
    elif request.query_params.get("r") == "f":
        payload = {"vfp": vfp}
        response = json_response(payload)
    else:
        payload = {"pixel": True}
        response = Response(PIXEL, media_type="image/gif", headers={"Cache-Control": "no-store"})
    journal_call(emulator, request, started, response.status_code, render_json(payload), "", "", "")
    return response


ROUTES: list[tuple[Operation, BaseRoute]] = [
    (REGISTER, signed_device_api(REGISTER, _with_flow(lambda e, flow, body: e.device_keys.register(flow, body)))),
    (VERIFY, signed_device_api(VERIFY, _with_flow(lambda e, flow, body: e.device_keys.verify(flow, body)))),
    (PASSIVE_ERROR, signed_device_api(PASSIVE_ERROR, checking_signature(
        lambda e, flow, body: e.device_keys.step_error(flow, body)))),
    (WEBAUTHN_START, signed_device_api(WEBAUTHN_START, _with_flow(
        lambda e, flow, body: e.device_keys.webauthn_start(flow, body)))),
    (CHALLENGE, signed_device_api(CHALLENGE, lambda e, flow, body, call: e.device_keys.challenge(body),
                                  token="optional")),
    (UNREGISTER, signed_device_api(UNREGISTER, lambda e, flow, body, call: e.device_keys.unregister(body, call),
                                   token="optional")),
    (INSTANT_START, signed_device_api(INSTANT_START, _with_flow(
        lambda e, flow, body: e.mobile_auth.start(flow, body)))),
    (INSTANT_FINISH, signed_device_api(INSTANT_FINISH, _with_flow(
        lambda e, flow, body: e.mobile_auth.finish(flow, body)))),
    (INSTANT_ERROR, signed_device_api(INSTANT_ERROR, checking_signature(
        lambda e, flow, body: e.mobile_auth.step_error(flow, body)))),
    (CARRIER, Route(CARRIER.path, carrier, methods=["GET"])),
]

