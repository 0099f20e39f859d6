"""The device channel the official Web SDK talks to, and the fake phone's link clicks.

- `POST /v1/client/mobile/otp/{start,finish,error}` and `/v1/client/mobile/instantlink/{start,error}`
  (web-sdk-protocol §4-§6): always HTTP 200, `{"next","data","error"}`.
- `GET /v1/client/status?token=` (WebSocket, §7): text ping/pong, the buffered status message.
- `GET /__emulator/link/{linkId}`: opening the Instant Link from the SMS, i.e. the customer's click.
"""

from __future__ import annotations

import asyncio
import html
import time

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from typing import Any, Callable

from emulator.flows.base import Flow
from emulator.flows.key_signatures import SignedCall
from emulator.flows.possession import ClientReply, Method, refused
from emulator.errors import ProveError
from emulator.http.api import (Operation, Param, SignedDeviceHandler, device_api, emulator_of, flow_of_auth_token,
                               journal_call, json_response, render_json, signed_device_api)
from emulator.service import Emulator
from emulator.tokens import AuthTokenError

CLIENT_REPLY = {"$ref": "#/components/schemas/ClientReply"}


def _client_operation(path: str, summary: str, body: dict) -> Operation:
    return Operation(
        method="POST",
        path=path,
        summary=summary,
        tag="Device channel (Web SDK)",
        request_schema=body,
        response=CLIENT_REPLY,
        security="authToken",
    )


OTP_START = _client_operation(
    "/v1/client/mobile/otp/start",
    "Send the OTP SMS (first send, resend with {}, or a phone number change with mobileNumber).",
    {"type": "object", "properties": {"mobileNumber": {"type": "string"}}},
)
OTP_FINISH = _client_operation(
    "/v1/client/mobile/otp/finish",
    "Check the code the customer entered.",
    {"type": "object", "properties": {"otp": {"type": "string"}}},
)
ERROR_BODY = {"type": "object", "properties": {"code": {"type": "integer"}, "message": {"type": "string"}}}
OTP_ERROR = _client_operation(
    "/v1/client/mobile/otp/error", "The SDK reports an OTP step failure (e.g. the user cancelled).", ERROR_BODY
)
INSTANT_LINK_START = _client_operation(
    "/v1/client/mobile/instantlink/start",
    "Send the Instant Link SMS (first send; resend with mobileNumber \"\"; change with a number).",
    {
        "type": "object",
        "properties": {
            "sourceIp": {"type": ["string", "null"]},
            "isMobile": {"type": "boolean"},
            "mobileNumber": {"type": "string"},
        },
    },
)
INSTANT_LINK_ERROR = _client_operation(
    "/v1/client/mobile/instantlink/error",
    "The SDK reports an Instant Link step failure (cancel, socket closed or stalled).",
    ERROR_BODY,
)
STATUS_SOCKET = Operation(
    method="GET",
    path="/v1/client/status",
    summary="WebSocket: text 'ping' is answered 'pong'; the flow's status arrives as one JSON text message.",
    tag="Device channel (Web SDK)",
    params=(Param("token", "query", {"type": "string"}, "The authToken.", required=True),),
    other_responses={"101": {"description": "Switching protocols (WebSocket)."},
                     "403": {"description": "The authToken was refused: the upgrade is declined."},
                     "426": {"description": "A plain GET, without Upgrade: websocket (the error envelope).",
                             "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                     # Answered by the server's WebSocket protocol (emulator/protocols.py), then closed.
                     "414": {"description": "The upgrade's request line is over 8 KB (8001).",
                             "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                     "431": {"description": "The upgrade's headers are too large (8001).",
                             "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
)
LINK_CLICK = Operation(
    method="GET",
    path="/__emulator/link/{linkId}",
    summary="Open an Instant Link from the SMS outbox: the customer's click.",
    tag="Fake phone",
    params=(Param("linkId", "path", {"type": "string"}, required=True),),
    other_responses={
        "302": {"description": "Possession decided; redirect to finalTargetUrl (same-device: with authId and asc)."},
        "200": {"description": "Possession decided; no finalTargetUrl to go to.", "content": {"text/html": {}}},
        "404": {"description": "Unknown link.", "content": {"text/html": {}}},
        "410": {"description": "Link expired, already used or replaced by a resend.", "content": {"text/html": {}}},
    },
)


FlowHandler = Callable[[Emulator, Flow, dict[str, Any]], ClientReply]


def checking_signature(handler: FlowHandler) -> SignedDeviceHandler:
    """For the reports the SDK signs once the browser holds a Prove Key (web-sdk-protocol §3.2): a
    signature that is sent must verify, with a challenge of /v1/client/challenge used once."""

    def run(emulator: Emulator, flow: Flow | None, body: dict[str, Any], call: SignedCall) -> ClientReply:
        assert flow is not None  # these routes require the authToken
        key, problem = emulator.device_keys.signer(call)
        if problem is not None:
            return refused(f"signature refused: {problem}")
        if key is not None:
            flow.record(emulator.clock.now(), "signed-by-device", path=call.path, deviceId=key.device_id)
        return handler(emulator, flow, body)

    return run


class _StatusSender:
    """Sends one socket's statuses, in the order published, from a task that exists only while one is
    on its way: an idle socket holds no task, queue or timer of its own for them."""

    __slots__ = ("websocket", "flow", "emulator", "pending", "task")

    def __init__(self, websocket: WebSocket, flow: Flow, emulator: Emulator) -> None:
        self.websocket = websocket
        self.flow = flow
        self.emulator = emulator
        self.pending: list[tuple[str, bool]] = []
        self.task: asyncio.Task[None] | None = None

    def deliver(self, text: str, close: bool) -> None:
        self.pending.append((text, close))
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        try:
            while self.pending:
                text, close = self.pending.pop(0)
                if text:
                    await self.websocket.send_text(text)
                    self.flow.record(self.emulator.clock.now(), "status-sent", message=text)
                if close:
                    await self.websocket.close(code=1000)  # the receiving loop then ends
                    return
        except (WebSocketDisconnect, RuntimeError):
            pass  # the browser went away, or the socket was closed, first
        finally:
            self.task = None


async def status_socket(websocket: WebSocket) -> None:
    """Thousands of these may sit idle for minutes, each holding what it awaits: only the SDK's next
    message, while statuses arrive through the channel's callback (_StatusSender)."""
    emulator = websocket.app.state.emulator
    emulator.clock.fire_due()
    try:
        # Not websocket.query_params: that parsed copy of the token would live as long as the socket.
        flow = flow_of_auth_token(emulator, QueryParams(websocket.scope["query_string"]).get("token"))
    except AuthTokenError:
        await websocket.close(code=1008)  # before accept: the handshake is refused (HTTP 403)
        return
    await websocket.accept()
    flow.record(emulator.clock.now(), "status-socket-connected")
    sender = _StatusSender(websocket, flow, emulator)
    emulator.channels.subscribe(flow.auth_id, sender.deliver)
    try:
        while (message := await websocket.receive())["type"] != "websocket.disconnect":
            if message.get("text") == "ping":  # the SDK's keep-alive is text, not WS ping frames
                await websocket.send_text("pong")
    except (WebSocketDisconnect, RuntimeError):
        pass  # the browser went away mid-send
    finally:
        emulator.channels.unsubscribe(flow.auth_id, sender.deliver)


async def status_without_upgrade(request: Request) -> Response:
    """The status path is a WebSocket only: a plain GET is told so (426), not "no such route"."""
    error = ProveError(426, 8001, f"{STATUS_SOCKET.path} is a WebSocket: connect with Upgrade: websocket "
                                  "and ?token=<the flow's authToken>")
    return json_response(error.body(), error.status, {"Upgrade": "websocket"})


_PAGES = {
    "unknown": (404, "Link not valid", "This link is not valid. It may be mistyped, or its flow has ended."),
    "replaced": (410, "Link replaced", "A newer link was sent to this phone; open that one instead."),
    "expired": (410, "Link expired", "This link has expired. Ask for a new one."),
    "used": (410, "Link already used", "This link has already been used."),
    "succeeded": (200, "Verified", "Thank you: your phone is verified. You can close this page."),
    "failed": (200, "Not verified", "We could not verify your phone."),
}


def _page(outcome: str) -> HTMLResponse:
    status, title, text = _PAGES[outcome]
    body = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>"
    )
    return HTMLResponse(body, status_code=status)


async def link_click(request: Request) -> Response:
    emulator = emulator_of(request)
    started = time.perf_counter()
    outcome, flow, landing = emulator.possession.click(request.path_params["linkId"])
    response: Response = RedirectResponse(landing, status_code=302) if landing else _page(outcome)
    journal_call(
        emulator,
        request,
        started,
        response.status_code,
        render_json({"outcome": outcome, "redirect": landing}),
        flow.project_id if flow else "",
        flow.correlation_id if flow else "",
        "",
    )
    return response


ROUTES: list[tuple[Operation, BaseRoute]] = [
    (OTP_START, device_api(OTP_START, lambda emulator, flow, body: emulator.possession.otp_start(flow, body))),
    (OTP_FINISH, device_api(OTP_FINISH, lambda emulator, flow, body: emulator.possession.otp_finish(flow, body))),
    (
        OTP_ERROR,
        signed_device_api(OTP_ERROR, checking_signature(
            lambda emulator, flow, body: emulator.possession.client_error(flow, body, Method.OTP))),
    ),
    (
        INSTANT_LINK_START,
        device_api(
            INSTANT_LINK_START,
            lambda emulator, flow, body: emulator.possession.instant_link_start(
                flow, body, emulator.projects.get(flow.project_id).instant_link_start_reply
            ),
        ),
    ),
    (
        INSTANT_LINK_ERROR,
        device_api(
            INSTANT_LINK_ERROR,
            lambda emulator, flow, body: emulator.possession.client_error(flow, body, Method.INSTANT_LINK),
        ),
    ),
    (STATUS_SOCKET, WebSocketRoute(STATUS_SOCKET.path, status_socket)),
    (STATUS_SOCKET, Route(STATUS_SOCKET.path, status_without_upgrade, methods=["GET"])),
    (LINK_CLICK, Route(LINK_CLICK.path, link_click, methods=["GET"])),
]
