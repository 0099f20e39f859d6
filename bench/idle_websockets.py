"""Memory of idle Instant Link WebSockets: the emulator beside a bare Starlette endpoint, in one run.

    python bench/idle_websockets.py [--sockets 10000]

Starts the emulator as a separate process (`python -m emulator --port 0`), creates one desktop Instant
Link flow per socket (`/v3/verify` with `possessionType: desktop`, then the SDK's
`/v1/client/mobile/instantlink/start`), and opens each flow's status WebSocket as the Web SDK does
(web-sdk-protocol §7: `?token=`, the page's Origin, permessage-deflate offered as Chromium offers
it, one text `ping` answered `pong`), then leaves them all idle. It then does the same against a bare
Starlette WebSocket endpoint on the emulator's uvicorn WebSocket settings (this file, run with
`--bare-server`, in another process). The figure is each server's resident set size (VmRSS) before
and after the sockets open, and the difference per socket; the flows' own memory is in "before".
"""

from __future__ import annotations

import argparse
import asyncio
import re
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable
from urllib.parse import quote

import httpx
from proc import rss_mib
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
READY = re.compile(r"ready at (http://\S+)")
FORM = {"grant_type": "client_credentials", "client_id": "sandbox-client-id", "client_secret": "sandbox-client-secret"}
APP_ORIGIN = "http://127.0.0.1:5173"  # the page's origin, as the browser sends it on the upgrade
IN_FLIGHT = 64  # calls or handshakes at once: enough to keep both servers busy on a small machine
SETTLE_SECONDS = 2.0  # after the last socket opened, before reading RSS


@dataclass
class Measured:
    name: str
    sockets: int
    before: float  # VmRSS, MiB
    after: float
    deflate: bool  # permessage-deflate accepted

    @property
    def per_socket(self) -> float:
        """KiB"""
        return (self.after - self.before) * 1024 / self.sockets


def raise_open_files(needed: int) -> None:
    """Each side holds one descriptor per socket; children inherit the raised limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = needed if hard == resource.RLIM_INFINITY else min(max(soft, needed), hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    if wanted < needed:
        raise SystemExit(f"{needed} open files needed, the hard limit is {hard}: use fewer --sockets")


def start(command: list[str]) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert process.stdout is not None
    line = process.stdout.readline()
    match = READY.search(line)
    if not match:
        process.kill()
        raise SystemExit(f"{command} did not start: {line!r}")
    return process, match.group(1)


def stop(process: subprocess.Popen[str]) -> None:
    process.kill()  # a clean stop would close every socket first, which takes long and measures nothing
    process.wait()


async def bounded(count: int, one: Callable[[int], Awaitable[Any]]) -> list[Any]:
    semaphore = asyncio.Semaphore(IN_FLIGHT)

    async def limited(index: int) -> Any:
        async with semaphore:
            return await one(index)

    return await asyncio.gather(*(limited(index) for index in range(count)))


async def instant_link_flows(base_url: str, count: int) -> list[str]:
    """`count` desktop Instant Link flows waiting for the click; their authTokens."""
    async with httpx.AsyncClient(base_url=base_url, limits=httpx.Limits(max_connections=IN_FLIGHT),
                                 timeout=60) as client:
        (await client.post("/__emulator/clock", json={"freeze": True})).raise_for_status()  # no link expires
        token = (await client.post("/token", data=FORM)).json()["access_token"]

        async def one(index: int) -> str:
            body = {"firstName": "Casey", "lastName": "Client", "phoneNumber": "2025550100",
                    "possessionType": "desktop", "finalTargetUrl": "https://app.example.com/done"}
            reply = await client.post("/v3/verify", json=body, headers={"Authorization": f"Bearer {token}"})
            reply.raise_for_status()
            auth_token = reply.json()["authToken"]
            start = await client.post("/v1/client/mobile/instantlink/start",
                                      json={"sourceIp": None, "isMobile": False},
                                      headers={"Authorization": f"Bearer {auth_token}", "Origin": APP_ORIGIN})
            assert start.json() == {"data": {}}, start.text
            return auth_token

        return await bounded(count, one)


async def open_idle(urls: list[str]) -> list[ClientConnection]:
    """One socket per URL, each past one text ping/pong (the SDK's keep-alive, §7.3)."""

    async def one(index: int) -> ClientConnection:
        # compression="deflate" offers permessage-deflate with client_max_window_bits, as Chromium does.
        socket = await connect(urls[index], origin=APP_ORIGIN, compression="deflate", ping_interval=None,
                               proxy=None, open_timeout=60, user_agent_header=None)
        await socket.send("ping")
        assert await socket.recv() == "pong"
        return socket

    return await bounded(len(urls), one)


async def measure(name: str, pid: int, urls: list[str]) -> Measured:
    before = rss_mib(pid)
    began = time.perf_counter()
    sockets = await open_idle(urls)
    opened = time.perf_counter() - began
    await asyncio.sleep(SETTLE_SECONDS)
    deflate = any("permessage-deflate" in (s.response.headers.get("Sec-WebSocket-Extensions") or "") for s in sockets)
    row = Measured(name, len(urls), before, rss_mib(pid), deflate)
    for socket in sockets:  # the server process ends next: no closing handshakes to wait for
        socket.transport.abort()
    print(f"{name}: {row.sockets} sockets opened in {opened:.1f} s; VmRSS {row.before:.1f} -> {row.after:.1f} MiB; "
          f"{row.per_socket:.1f} KiB per socket; permessage-deflate {_accepted(row.deflate)}", flush=True)
    return row


def _accepted(deflate: bool) -> str:
    return "accepted" if deflate else "refused"


def ws_url(base_url: str, path: str) -> str:
    return base_url.replace("http://", "ws://", 1) + path


async def run_emulator(count: int) -> Measured:
    process, base_url = start([sys.executable, "-m", "emulator", "--port", "0"])
    try:
        idle = rss_mib(process.pid)
        began = time.perf_counter()
        tokens = await instant_link_flows(base_url, count)
        print(f"emulator: idle {idle:.1f} MiB; {count} Instant Link flows created in {time.perf_counter() - began:.1f} s:"
              f" {rss_mib(process.pid):.1f} MiB", flush=True)
        urls = [ws_url(base_url, "/v1/client/status?token=" + quote(token, safe="")) for token in tokens]
        return await measure("emulator", process.pid, urls)
    finally:
        stop(process)


async def run_bare(count: int) -> Measured:
    process, base_url = start([sys.executable, str(Path(__file__).resolve()), "--bare-server"])
    try:
        return await measure("bare Starlette", process.pid, [ws_url(base_url, "/ws")] * count)
    finally:
        stop(process)


def serve_bare() -> None:
    """A Starlette app with one WebSocket route answering text ping with pong, on uvicorn configured as
    the emulator's server is for WebSockets (event loop, deflate, keep-alive, frame size, proxy headers),
    with uvicorn's own WebSocket protocol."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    from emulator.server import bind, local_origin, run_loop, uvicorn_server

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                if await websocket.receive_text() == "ping":
                    await websocket.send_text("pong")
        except WebSocketDisconnect:
            pass

    class ReadyServer(uvicorn.Server):
        async def startup(self, sockets: list | None = None) -> None:
            await super().startup(sockets)
            print(f"bare Starlette ready at {local_origin(sock)}", flush=True)

    app = Starlette(routes=[WebSocketRoute("/ws", endpoint)])
    ours = uvicorn_server(app, "warning").config
    server = ReadyServer(uvicorn.Config(
        app, log_level="warning", lifespan="off", ws="websockets-sansio",
        ws_per_message_deflate=ours.ws_per_message_deflate, ws_ping_interval=ours.ws_ping_interval,
        ws_max_size=ours.ws_max_size, proxy_headers=ours.proxy_headers))
    sock = bind("127.0.0.1", 0)
    run_loop(server.serve(sockets=[sock]))  # the emulator's event loop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=10_000, help="idle WebSockets held open (default 10000)")
    parser.add_argument("--bare-server", action="store_true", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.bare_server:
        serve_bare()
        return
    raise_open_files(args.sockets + 1_000)
    emulator = asyncio.run(run_emulator(args.sockets))
    bare = asyncio.run(run_bare(args.sockets))
    print(f"\n| {args.sockets:,} idle WebSockets | VmRSS before | after | KiB per socket | permessage-deflate |")
    print("|---|---|---|---|---|")
    for row in (emulator, bare):
        print(f"| {row.name} | {row.before:.1f} MiB | {row.after:.1f} MiB | {row.per_socket:.1f} | "
              f"{_accepted(row.deflate)} |")
    print(f"\nper socket, emulator / bare Starlette: {emulator.per_socket / bare.per_socket:.2f}; "
          f"emulator total {emulator.after:.1f} MiB (the target: at most 300 MiB with 10,000 sockets)")


if __name__ == "__main__":
    main()
