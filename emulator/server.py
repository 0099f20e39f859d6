"""Running the app on a socket: in the foreground (the CLI) or on a background thread (tests)."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Callable
from urllib.parse import urlsplit

import uvicorn
from starlette.types import ASGIApp

from emulator.http.app import create_app
from emulator.service import Emulator


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


def uvicorn_server(app: ASGIApp, log_level: str) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=log_level == "debug",
        lifespan="on",
        ws_ping_interval=None,  # the Web SDK keeps alive with text ping/pong of its own
        timeout_graceful_shutdown=2,
    )
    return uvicorn.Server(config)


async def serve(server: uvicorn.Server, sock: socket.socket, on_ready: Callable[[], None]) -> None:
    async def announce() -> None:
        while not server.started:
            if server.should_exit:
                return
            await asyncio.sleep(0.01)
        on_ready()

    task = asyncio.create_task(announce())
    try:
        await server.serve(sockets=[sock])
    finally:
        task.cancel()


class ThreadedServer:
    """An ASGI app on a free loopback port, on its own thread and event loop (for tests)."""

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1") -> None:
        self.sock = bind(host, 0)
        self.base_url = local_origin(self.sock)
        self.server = uvicorn_server(app, "warning")
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="asgi-server", daemon=True)

    def _run(self) -> None:
        asyncio.run(serve(self.server, self.sock, self._ready.set))

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

    def __init__(self, emulator: Emulator, host: str = "127.0.0.1", cors_origins: tuple[str, ...] = ("*",)) -> None:
        super().__init__(create_app(emulator, cors_origins), host)
        self.emulator = emulator
        emulator.public_origin = self.base_url
