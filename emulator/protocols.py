"""uvicorn's HTTP and WebSocket protocols, with the guards a long-running local server needs.

- A request deadline: the whole request (head and body) must arrive within `request_timeout` seconds
  of its first byte (of the connection opening, for its first request). A head still incomplete then
  gets 408 and the connection closes; h11 has no such limit, so a client trickling headers held its
  connection for ever. The body's deadline is handed to the app in the scope (`REQUEST_DEADLINE`),
  which answers 408 itself (emulator/http/api.py read_body); a body still arriving once the reply is
  out (a route that never read it) closes the connection.
- A WebSocket upgrade that websockets' parser refuses (a request line over 8 KB, headers too large)
  is answered at once (414, 431 or 400) and closed: uvicorn dropped websockets' refusal on the floor
  and left the connection open, unanswered.
- On shutdown, open WebSockets close with 1001 (going away) instead of uvicorn's 1012 (restart).

Refusals are Prove's envelope, `{"code", "message"}`, like every other error of the emulator.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidMessage
from websockets.http11 import MAX_LINE_LENGTH

from emulator.http.api import REQUEST_DEADLINE

REQUEST_TIMEOUT_SECONDS = 10.0
GOING_AWAY = 1001
_REASONS = {400: "Bad Request", 408: "Request Timeout", 414: "URI Too Long",
            431: "Request Header Fields Too Large", 503: "Service Unavailable"}


def refusal(status: int, code: int, message: str) -> bytes:
    """A whole HTTP/1.1 reply with the error envelope, for a connection that closes after it."""
    body = json.dumps({"code": code, "message": message}, separators=(",", ":")).encode("ascii")
    head = (f"HTTP/1.1 {status} {_REASONS[status]}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n")
    return head.encode("ascii") + body


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on receiving each request (see the module docstring)."""

    def __init__(self, *args: Any, request_timeout: float = REQUEST_TIMEOUT_SECONDS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request_timeout = request_timeout
        self._timer: asyncio.TimerHandle | None = None
        self._deadline = 0.0  # loop time by which the current request must have arrived whole
        self._received = False  # any byte of the current request arrived
        self._overdue = False  # its deadline passed while its body was still arriving
        self._upgraded = False

    # -- the deadline ------------------------------------------------------------------------------

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.time() + self.request_timeout
        self._received = self._overdue = False
        self._timer = self.loop.call_at(self._deadline, self._expired)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if self._upgraded or self.transport.is_closing():
            return
        if self.conn.their_state is h11.IDLE:  # the head is incomplete: nothing has been answered
            if self._received:  # an idle new connection is closed silently, as keep-alive ones are
                self.transport.write(refusal(
                    408, 8001, f"the request head (request line and headers) did not arrive within "
                    f"{self.request_timeout:g} s"))
            self.transport.close()
        elif self.conn.their_state is h11.SEND_BODY:
            # The app reading the body answers 408 itself at this deadline; a reply already out means
            # the body was not wanted, so the connection goes now, else when the reply is complete.
            self._overdue = True
            if self.cycle is not None and self.cycle.response_complete:
                self.transport.close()

    # -- uvicorn's hooks -----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._timer is None and self.conn.their_state is h11.IDLE:
            self._arm()  # the first bytes of the next request on a kept-alive connection
        self._received = True
        super().data_received(data)

    def handle_events(self) -> None:
        scope = self.scope
        super().handle_events()
        if self._upgraded:
            return
        if self.scope is not scope:  # a new request's head arrived: its body shares the deadline
            if self._timer is None:  # a pipelined request, read from the buffer after a reply
                self._arm()
            self.scope["extensions"] = {**self.scope.get("extensions", {}),  # type: ignore[typeddict-unknown-key]
                                        REQUEST_DEADLINE: {"at": self._deadline, "seconds": self.request_timeout}}
        if self.conn.their_state in (h11.DONE, h11.MUST_CLOSE, h11.CLOSED, h11.ERROR):
            self._disarm()  # the request arrived whole (or the connection is ending)

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self._upgraded = True  # the transport now belongs to the WebSocket protocol
        self._disarm()
        super().handle_websocket_upgrade(event)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._overdue and self.conn.their_state is h11.SEND_BODY and not self.transport.is_closing():
            self.transport.close()


class GuardedWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol that answers refused upgrades and closes with 1001 on shutdown."""

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        failure = self.conn.handshake_exc
        if not self.handshake_initiated and failure is not None and not self.transport.is_closing():
            self.conn.data_to_send()  # websockets' own text/plain refusal: ours is the error envelope
            self.transport.write(_upgrade_refusal(failure))
            self.transport.close()

    def shutdown(self) -> None:
        if self.handshake_complete and not self.close_sent and not self.transport.is_closing():
            self.stop_keepalive()
            self.queue.put_nowait({"type": "websocket.disconnect", "code": GOING_AWAY})
            self.conn.send_close(GOING_AWAY, "the emulator is shutting down")
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.close_sent = True
            self.transport.close()
        elif not self.handshake_complete and self.handshake_initiated and not self.transport.is_closing():
            self.handshake_complete = True  # the app has not accepted yet: refuse like the long-polls
            self.queue.put_nowait({"type": "websocket.disconnect", "code": 1006})
            self.transport.write(refusal(503, 8000, "the emulator is shutting down; retry once it runs again"))
            self.transport.close()
        else:
            super().shutdown()


def _upgrade_refusal(failure: Exception) -> bytes:
    name = type(failure).__name__
    if name == "RequestLineTooLong":
        return refusal(414, 8001, f"the WebSocket upgrade's request line is over {MAX_LINE_LENGTH} bytes; "
                                  "the authToken in its 'token' query parameter is far shorter")
    if name in ("HeaderLineTooLong", "TooManyHeaders"):
        return refusal(431, 8001, f"the WebSocket upgrade's headers are too large: {failure}")
    cause = failure.__cause__ if isinstance(failure, InvalidMessage) and failure.__cause__ else failure
    return refusal(400, 8001, f"the WebSocket upgrade is not a valid HTTP request: {cause}")
