"""What one call costs inside the process, no server or socket: the ASGI apps called directly.

    python bench/inprocess.py                # 5 interleaved rounds of 20,000 calls each
    python bench/inprocess.py --calls 5000 --rounds 3

Beside bench/run.py's figures over HTTP, this splits a request's time between the app and the server:
the emulator's app answering POST /v3/verify (an auto-success number, as bench/run.py loads it), the
same verify refused for a bad access token (what any call costs before its own work), the full Verified
Users flow (its four calls) and bench/bare_app.py's POST /v3/verify, each called with the headers and
bodies bench/wrk/ sends, the emulator holding its bound of live flows as it does under load. Rounds are
interleaved; each figure is the median of the rounds, in microseconds per call (the flow: per flow).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlencode

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from bare_app import app as bare_app  # noqa: E402
from run import FLOW_VERIFY, FORM, OTP, SDK_HEADERS, VERIFY  # noqa: E402
from starlette.types import ASGIApp, Message  # noqa: E402

from emulator.cli import DEFAULT_MAX_LIVE_FLOWS  # noqa: E402
from emulator.http.app import create_app  # noqa: E402
from emulator.server import settle_heap  # noqa: E402
from emulator.service import Emulator  # noqa: E402

Headers = dict[str, str]
VERIFY_BODY = json.dumps(VERIFY).encode()
FLOW_VERIFY_BODY = json.dumps(FLOW_VERIFY).encode()
FINISH_BODY = json.dumps({"otp": OTP}).encode()


class Caller:
    """Calls an ASGI app as uvicorn would for one small request: the body in one message."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def post(self, path: str, body: bytes, headers: Headers) -> tuple[int, bytes]:
        """The reply's status and body, as sent."""
        raw = [(b"host", b"127.0.0.1:8000"), (b"content-length", str(len(body)).encode()),
               *((name.lower().encode(), value.encode()) for name, value in headers.items())]
        scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
                 "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
                 "root_path": "", "headers": raw, "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
                 "state": {}}
        pending = [{"type": "http.request", "body": body, "more_body": False}]
        sent: list[Message] = []

        async def receive() -> Message:
            return pending.pop() if pending else {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            sent.append(message)

        await self.app(scope, receive, send)
        return sent[0]["status"], sent[1]["body"]


def api(token: str) -> Headers:
    return {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}


async def access_token(caller: Caller) -> str:
    status, reply = await caller.post("/token", urlencode(FORM).encode(), {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200, reply
    return json.loads(reply)["access_token"]


async def verify(caller: Caller, headers: Headers) -> None:
    status, reply = await caller.post("/v3/verify", VERIFY_BODY, headers)
    assert status == 200 and b'"success":"pending"' in reply, reply


async def refused_verify(caller: Caller) -> None:
    """The same call with an access token that is none: the fixed cost of a call (routing, the access
    guard, the token check, the error and its journal entry), without the flow's own work."""
    status, reply = await caller.post("/v3/verify", VERIFY_BODY, {"Content-Type": "application/json",
                                                                 "Authorization": "Bearer not-a-token"})
    assert status == 401, reply


async def bare_verify(caller: Caller) -> None:
    status, reply = await caller.post("/v3/verify", VERIFY_BODY, {"Content-Type": "application/json"})
    assert status == 200, reply


async def flow(caller: Caller, headers: Headers) -> None:
    """The four steps of bench/wrk/flow.lua, each answer checked as the script checks it."""
    status, reply = await caller.post("/v3/verify", FLOW_VERIFY_BODY, headers)
    assert status == 200, reply
    started = json.loads(reply)
    device = {**SDK_HEADERS, "Content-Type": "application/json", "Authorization": f"Bearer {started['authToken']}"}
    assert (await caller.post("/v1/client/mobile/otp/start", b"{}", device))[1] == b'{"next":"mobile/otp"}'
    assert (await caller.post("/v1/client/mobile/otp/finish", FINISH_BODY, device))[1] == b'{"next":"done"}'
    body = b'{"correlationId":"%s"}' % started["correlationId"].encode()
    status, reply = await caller.post("/v3/verify-status", body, headers)
    assert status == 200 and b'"success":"true"' in reply, reply


async def per_call_us(work: Callable[[], Awaitable[None]], calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        await work()
    return (time.perf_counter() - started) / calls * 1e6


async def main(calls: int, rounds: int) -> None:
    emulator = Emulator(max_live_flows=DEFAULT_MAX_LIVE_FLOWS)
    emulated, bare = Caller(create_app(emulator)), Caller(bare_app)
    settle_heap()  # as the server does once ready, before any request
    headers = api(await access_token(emulated))
    for _ in range(DEFAULT_MAX_LIVE_FLOWS + 1000):  # full: each verify now evicts one, as under load
        await verify(emulated, headers)
    work = {  # name: (one call, how many a round)
        "bare Starlette POST /v3/verify": (lambda: bare_verify(bare), calls),
        "emulator POST /v3/verify": (lambda: verify(emulated, headers), calls),
        "emulator POST /v3/verify refused (a bad access token)": (lambda: refused_verify(emulated), calls),
        "emulator full flow, per flow (4 calls)": (lambda: flow(emulated, headers), calls // 4),
    }
    figures: dict[str, list[float]] = {name: [] for name in work}
    for _ in range(rounds):
        for name, (call, count) in work.items():
            figures[name].append(await per_call_us(call, count))
    bare_us = statistics.median(figures["bare Starlette POST /v3/verify"])
    print(f"in-process, medians of {rounds} interleaved rounds of {calls:,} calls; {len(emulator.flows):,} flows live")
    for name, values in figures.items():
        us = statistics.median(values)
        print(f"  {name}: {us:,.1f} us ({us / bare_us:.1f}x bare)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000, help="calls per round (the full flow: a quarter as many)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds; medians are shown")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.calls, arguments.rounds))
