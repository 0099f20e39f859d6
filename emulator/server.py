"""Running the app on a socket: in the foreground (the CLI) or on a background thread (tests).

Stopping (SIGINT, SIGTERM, or `stop()`) is quick and quiet: long-poll waiters answer 503 at once
(`on_shutdown`), WebSockets close with 1001 (emulator/protocols.py), a request still running after
a short grace period is answered 503 instead of uvicorn's plain-text 500 and traceback, and the
process exits 0.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import signal
import socket
import threading
from types import FrameType
from typing import Any, Callable, Coroutine
from urllib.parse import urlsplit

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulator.access import AccessPolicy
from emulator.errors import shutting_down
from emulator.http.app import create_app
from emulator.phone import load_region_data
from emulator.protocols import REQUEST_TIMEOUT_SECONDS, GuardedHttpToolsProtocol, GuardedWebSocketProtocol
from emulator.service import Emulator


GC_YOUNG_THRESHOLD = 10_000  # allocations between young collections (CPython's default: 700)
YOUNG_COLLECTION_SECONDS = 0.1  # and at least this often, so the young generation stays small
GRACE_SECONDS = 0.3  # on shutdown, how long running requests may finish before they are answered 503


def bind(host: str, port: int) -> socket.socket:
    """A listening socket; port 0 picks a free one. OSError carries the reason (e.g. in use)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only for that protocol,
    # and without it every reply on a kept-alive connection waits ~40 ms for Nagle's algorithm.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def normalize_origin(url: str) -> str:
    """A bare serialized origin, as the Web SDK's WebSocket origin check needs (protocol §2.4)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"public URL {url!r} must be an http:// or https:// origin, e.g. http://localhost:7768")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError(
            f"public URL {url!r} must be a bare origin (scheme, host, port): the Web SDK compares "
            "WebSocket message origins with it exactly, so no path is possible"
        )
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default_port = 443 if parts.scheme == "https" else 80
    port = parts.port
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default_port else "")


def local_origin(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return normalize_origin(f"http://{f'[{host}]' if ':' in host else host}:{port}")


class _AnswerWhenStopping:
    """ASGI wrapper: a request the server cancels on shutdown (its grace period over) is answered
    503 with the error envelope, and its cancellation ends there, so nothing logs a traceback."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.stopping = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked_send)
        except asyncio.CancelledError:
            if not self.stopping:
                raise
            if not started:
                error = shutting_down()
                body = json.dumps(error.body(), separators=(",", ":")).encode()
                await send({"type": "http.response.start", "status": error.status,
                            "headers": [(b"content-type", b"application/json"), (b"connection", b"close")]})
                await send({"type": "http.response.body", "body": body})


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, guard: _AnswerWhenStopping,
                 on_shutdown: Callable[[], None] | None) -> None:
        super().__init__(config)
        self._guard = guard
        self._on_shutdown = on_shutdown
        self.on_ready: Callable[[], None] = lambda: None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and not self.should_exit:  # listening: announce now, not at the next poll
            self.on_ready()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._guard.stopping = True
        if self._on_shutdown is not None:
            self._on_shutdown()  # before uvicorn waits for connections: the waiters answer now
        await super().shutdown(sockets)


def uvicorn_server(app: ASGIApp, log_level: str, *, on_shutdown: Callable[[], None] | None = None,
                   request_timeout: float = REQUEST_TIMEOUT_SECONDS) -> _Server:
    """uvicorn for `app`; `on_shutdown` runs as soon as stopping begins; `request_timeout` is the
    deadline (seconds) for a request's head and body to arrive."""
    guard = _AnswerWhenStopping(app)
    config = uvicorn.Config(
        guard,
        log_level=log_level,
        access_log=log_level == "debug",
        lifespan="on",
        http=functools.partial(GuardedHttpToolsProtocol, request_timeout=request_timeout),  # type: ignore[arg-type]
        ws=GuardedWebSocketProtocol,
        ws_ping_interval=None,  # the Web SDK keeps alive with text ping/pong of its own
        proxy_headers=False,  # nothing reads the client's address, and X-Forwarded-* is not for an emulator to trust
        ws_per_message_deflate=False,  # ~35 KiB of zlib state per socket, for status messages of ~20 bytes
        timeout_graceful_shutdown=GRACE_SECONDS,  # type: ignore[arg-type]
    )
    return _Server(config, guard, on_shutdown)


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """asyncio.run on asyncio's own event loop, not uvloop's. Saturated, uvloop kept a new connection's
    first request waiting ~0.4 s (median; 0.75 s at most) while the connections it was serving got
    theirs in ~20 ms, so a client opening a connection under load, and the p99 of any short run, saw
    that; asyncio's loop answered it in ~45 ms at the same throughput, the emulator's own work being
    most of each request (bench/run.py measures both)."""
    with asyncio.Runner() as runner:
        runner.run(main)


async def serve(server: _Server, sock: socket.socket, on_ready: Callable[[], None]) -> None:
    server.on_ready = on_ready
    await server.serve(sockets=[sock])


def settle_heap() -> None:
    """Once started: what start-up built (catalogue, schemas, routes) lives as long as the process, so
    it moves out of the collector's reach, and the young generation collects less often. Every full
    collection walked that heap again: under load, the tail latency was the collector's."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def pace_young_collections(loop: asyncio.AbstractEventLoop) -> None:
    """Collect the young generation every YOUNG_COLLECTION_SECONDS, on the loop. CPython counts
    allocations less deallocations: under load each new flow's objects are offset by those of the one
    it evicts, so the count stayed low while ~70,000 new objects piled up, and the collection that came
    at last held the loop for 30-45 ms. Paced, one takes a millisecond or two (nothing, when idle)."""

    def collect() -> None:
        gc.collect(0)
        loop.call_later(YOUNG_COLLECTION_SECONDS, collect)

    loop.call_later(YOUNG_COLLECTION_SECONDS, collect)


def run_in_foreground(server: _Server, sock: socket.socket, on_ready: Callable[[], None]) -> None:
    """Serve on the main thread until SIGINT or SIGTERM, then stop cleanly and return.

    uvicorn re-raises the signal it caught once it has stopped, to whatever handler was there before
    it: the default one would kill the process (SIGTERM: exit 143, SIGINT: KeyboardInterrupt). The
    handlers installed here only ask uvicorn to stop, so the re-raise is harmless and the caller
    returns normally; a signal before uvicorn took over stops it as soon as it starts.
    """

    def stop(signum: int, frame: FrameType | None) -> None:
        server.should_exit = True

    def ready() -> None:
        settle_heap()
        pace_young_collections(asyncio.get_running_loop())
        on_ready()
        # Once ready, beside the loop: what a first call would otherwise wait for (a call that needs it
        # meanwhile waits on the import, as it would have).
        threading.Thread(target=load_region_data, name="load-region-data", daemon=True).start()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        run_loop(serve(server, sock, ready))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    # The process ends next. Its heap is large (catalogue, schemas), and the collections the
    # interpreter runs while exiting took ~0.3 s of a stop that must take well under a second.
    gc.freeze()


class ThreadedServer:
    """An ASGI app on a free loopback port, on its own thread and event loop (for tests)."""

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", *, on_shutdown: Callable[[], None] | None = None,
                 request_timeout: float = REQUEST_TIMEOUT_SECONDS) -> None:
        self.sock = bind(host, 0)
        self.base_url = local_origin(self.sock)
        self.server = uvicorn_server(app, "warning", on_shutdown=on_shutdown, request_timeout=request_timeout)
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="asgi-server", daemon=True)

    def _run(self) -> None:
        run_loop(serve(self.server, self.sock, self._ready.set))

    def start(self, timeout: float = 10.0) -> "ThreadedServer":
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the server did not start within %.0f s" % timeout)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)
        self.sock.close()


class BackgroundServer(ThreadedServer):
    """The emulator on a free loopback port; its public origin is that port."""

    def __init__(self, emulator: Emulator, host: str = "127.0.0.1", cors_origins: tuple[str, ...] = ("*",),
                 access: AccessPolicy = AccessPolicy(), request_timeout: float = REQUEST_TIMEOUT_SECONDS) -> None:
        super().__init__(create_app(emulator, cors_origins, access), host, on_shutdown=emulator.shut_down,
                         request_timeout=request_timeout)
        self.emulator = emulator
        self.access = access
        emulator.public_origin = self.base_url
