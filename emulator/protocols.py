"""uvicorn's HTTP and WebSocket protocols, with the guards a long-running local server needs.

- A request deadline: the whole request (head and body) must arrive within `request_timeout` seconds
  of its first byte (of the connection opening, for its first request). A head still incomplete then
  gets 408 and the connection closes; the parser has no such limit, so a client trickling headers held
  its connection for ever. The body's deadline is handed to the app in the scope (`REQUEST_DEADLINE`),
  which answers 408 itself (emulator/http/api.py read_body); a body still arriving once the reply is
  out (a route that never read it) closes the connection.
- A bound on the request head (`MAX_HEAD_BYTES`): over it, 414 or 431 and the connection closes.
  httptools (the fast C parser) buffers a head of any size.
- A request httptools cannot parse gets 400 in the envelope, not uvicorn's plain text.
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

from uvicorn._types import ASGISendEvent
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidMessage
from websockets.http11 import MAX_LINE_LENGTH

from emulator.http.api import REQUEST_DEADLINE

REQUEST_TIMEOUT_SECONDS = 10.0
MAX_HEAD_BYTES = 64 * 1024  # a request line and headers; httptools itself sets no bound
_IDLE, _HEAD, _BODY = "idle", "head", "body"  # where the current request is
LINGER_SECONDS = 2.0  # after a refusal, how long a client still sending may go on before the socket closes
GOING_AWAY = 1001
_REASONS = {400: "Bad Request", 408: "Request Timeout", 414: "URI Too Long",
            431: "Request Header Fields Too Large", 503: "Service Unavailable"}


def refusal(status: int, code: int, message: str) -> bytes:
    """A whole HTTP/1.1 reply with the error envelope, for a connection that closes after it."""
    body = json.dumps({"code": code, "message": message}, separators=(",", ":")).encode("ascii")
    head = (f"HTTP/1.1 {status} {_REASONS[status]}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n")
    return head.encode("ascii") + body


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline on receiving each request and a bound on its head
    (see the module docstring)."""

    def __init__(self, *args: Any, request_timeout: float = REQUEST_TIMEOUT_SECONDS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request_timeout = request_timeout
        self._timer: asyncio.TimerHandle | None = None
        self._deadline = 0.0  # loop time by which the current request must have arrived whole
        self._phase = _IDLE
        self._head_bytes = 0  # of the current request's head, so far
        self._overdue = False  # its deadline passed while its body was still arriving
        self._upgraded = False
        self._refused = False  # answered with a refusal: what else arrives is dropped

    # -- the deadline ------------------------------------------------------------------------------

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.time() + self.request_timeout
        self._overdue = False
        self._timer = self.loop.call_at(self._deadline, self._expired)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if self._upgraded or self.transport.is_closing():
            return
        if self._phase is _HEAD:  # nothing of this request has been answered
            self._refuse(408, f"the request head (request line and headers) did not arrive within "
                              f"{self.request_timeout:g} s")
        elif self._phase is _IDLE:  # an idle connection is closed silently, as keep-alive ones are
            if not self._answering():
                self.transport.close()
        else:
            # The app reading the body answers 408 itself at this deadline; a reply already out means
            # the body was not wanted, so the connection goes now, else when the reply is complete.
            self._overdue = True
            if self.cycle is not None and self.cycle.response_complete:
                self.transport.close()

    def _refuse(self, status: int, message: str) -> None:
        """Answer and end the connection. A client may still be sending (a head over the bound):
        closing with its bytes unread would reset the connection, and the reset can destroy the
        reply before the client reads it. So the reply ends with a FIN, what still arrives is
        dropped, and the socket closes once the client closes its side or after LINGER_SECONDS."""
        self._disarm()
        if self._refused:
            return
        self._refused = True
        if self._answering():  # an earlier request's reply is still going out: it goes last, alone
            self.cycle.keep_alive = False
            return
        self.transport.write(refusal(status, 8001, message))
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()

    def _answering(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _queued(self) -> RequestResponseCycle | None:
        """The pipelined request uvicorn holds (reading paused) until the current reply is out."""
        return self.pipeline[-1][0] if self.pipeline else None

    def _hand_deadline(self, cycle: RequestResponseCycle) -> None:
        cycle.scope["extensions"] = {**cycle.scope.get("extensions", {}),  # type: ignore[typeddict-unknown-key]
                                     REQUEST_DEADLINE: {"at": self._deadline, "seconds": self.request_timeout,
                                                        "arrived": False}}

    # -- uvicorn's hooks and httptools' callbacks ------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._timer is None and self._phase is _IDLE and not self._upgraded and not self._answering():
            self._arm()  # bytes between requests (a bare CRLF, which the parser skips) start a deadline too
        if self._phase is not _BODY:
            self._head_bytes += len(data)  # an upper bound: the chunk may carry a body too
        super().data_received(data)
        if self._phase is _HEAD and self._head_bytes > MAX_HEAD_BYTES and not self._refused:
            self._refuse_head()

    def _refuse_head(self) -> None:
        """A head over the bound: 414 when its request line is the long part (over websockets' 8 KB)."""
        if self.headers and len(self.url) <= MAX_LINE_LENGTH:
            self._refuse(431, f"the request's head is over {MAX_HEAD_BYTES // 1024} KB; no request needs that much")
        else:
            self._refuse(414, f"the request line is {len(self.url)} bytes or more, and the head over "
                              f"{MAX_HEAD_BYTES // 1024} KB")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._timer is None:  # the next request on a kept-alive connection: its own deadline
            self._arm()
        self._phase = _HEAD

    def on_headers_complete(self) -> None:
        self._phase = _BODY
        if len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers) > MAX_HEAD_BYTES:
            # A head that arrived whole in one read: the bound holds for it too. No cycle starts, and
            # the parser's later callbacks for this request are dropped.
            self._refuse_head()
            return
        self._head_bytes = 0
        super().on_headers_complete()
        if self.scope.get("path") is None or self._upgraded:  # an upgrade: no app scope of its own
            return
        if self._queued() is self.cycle:  # uvicorn holds it, reading paused: its deadline runs once it is read
            self._disarm()
        self._hand_deadline(self.cycle)

    def handle_websocket_upgrade(self) -> None:
        self._upgraded = True  # the transport now belongs to the WebSocket protocol
        self._disarm()
        super().handle_websocket_upgrade()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        super().on_message_complete()
        self._phase = _IDLE
        self._disarm()  # the request arrived whole
        deadline = self.cycle.scope.get("extensions", {}).get(REQUEST_DEADLINE) if self.cycle is not None else None
        if deadline is not None:
            deadline["arrived"] = True  # the app reads a body that is all here without a timer

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, "the request is not valid HTTP/1.1")

    def on_response_complete(self) -> None:
        queued = self._queued()
        super().on_response_complete()
        if queued is not None and self._queued() is not queued and self._phase is _BODY and self.cycle is queued:
            self._arm()  # the held request is being read now: its body's deadline starts
            self._hand_deadline(queued)
        if self._overdue and self._phase is _BODY and not self.transport.is_closing():
            self.transport.close()


class _Inbox:
    """What uvicorn's WebSocket protocol uses of asyncio.Queue (put_nowait, empty, get by one reader,
    the app), without the Queue's three deques and Event allocated up front: ~3 KiB per socket."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    async def get(self) -> Any:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)


class _Flag:
    """asyncio.Event for uvicorn's `writable` (set, clear, wait), with no deque up front (~0.7 KiB per
    socket): it is waited on only while the transport's buffer is full."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[asyncio.Future[None]] = []

    def set(self) -> None:
        self._set = True
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> None:
        while not self._set:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)


class GuardedWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol that answers refused upgrades and closes with 1001 on shutdown, and
    keeps less per socket: Instant Link sockets sit idle by the thousand for minutes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = _Inbox()  # type: ignore[assignment]
        self.writable = _Flag()  # type: ignore[assignment]
        self.writable.set()

    async def send(self, message: ASGISendEvent) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # The handshake's request and response (parsed headers, the path with its token) are not
            # read again: ~3 KiB per socket. websockets' parser keeps the request object, so it is
            # emptied rather than dropped.
            self.request.headers.clear()
            self.request.path = ""
            del self.response

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        failure = self.conn.handshake_exc
        if not self.handshake_initiated and failure is not None and not self.transport.is_closing():
            self._refuse_upgrade(failure)  # older uvicorn: the refusal is left to us

    def handle_handshake_exception(self) -> None:
        """Newer uvicorn (0.55 here) calls this for a request websockets could not parse, and would answer
        it in text/plain."""
        self.handshake_complete = True
        self.close_sent = True
        assert self.conn.handshake_exc is not None
        self._refuse_upgrade(self.conn.handshake_exc)

    def _refuse_upgrade(self, failure: Exception) -> None:
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
