"""Benchmarks of issue 12's targets, in one run beside bare Starlette on the same uvicorn; one table.

    python bench/run.py                                     # the full run, about 13 minutes
    python bench/run.py -d 2 --rounds 1 --rss-seconds 20    # a quick look

Load comes from wrk (Debian's `wrk`), `wrk -t2 -c50 -d10s` with the Lua scripts in bench/wrk/, after a
3 s warm-up of each server; rounds are interleaved (emulator, bare uvloop, bare h11, peers, the full
flow, again) and each figure is the median of the rounds. The emulator runs as the README starts it
(`python -m emulator`, on a free port); the bare apps are bench/bare_app.py, on uvloop + httptools and
on asyncio + h11. What is measured:

- startup: cold start to the ready line and to a health check, and idle RSS (bench/startup.py);
- throughput: POST /v3/verify (possession-based generation, an auto-success number) req/s, p50, p99,
  beside the bare apps' POST and, when installed, WireMock and Prism serving a stub of it; the full
  Verified Users flow (verify, the Web SDK's otp/start and otp/finish, verify-status) in flows/s;
- new connections: the first answer on each of 30 fresh connections, opened one after another while wrk
  loads the server through its own (the emulator and bare uvloop);
- websockets: RSS of idle Instant Link WebSockets (bench/idle_websockets.py);
- state-dir: the verify load and the full flow on an emulator in memory and on one with --state-dir;
- memory: the emulator's VmRSS under verify load at the highest rate wrk gives (a fresh emulator,
  sampled every 5 s), then after its clock is moved past every lifetime.

Peers are optional: `npm install --prefix bench --no-save wiremock @stoplight/prism-cli` (WireMock
needs Java 11+); bench/node_modules is not committed. wrk, the emulator and the servers share the
machine, so ratios within one run say more than the absolute figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import starlette
import uvicorn
from proc import rss_mib

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
READY = re.compile(r"ready at (http://\S+)")
FORM = {"grant_type": "client_credentials", "client_id": "sandbox-client-id", "client_secret": "sandbox-client-secret"}
# 2025550101 settles possession by itself (auto-success): each verify is a flow complete in one call.
VERIFY = {"firstName": "Casey", "lastName": "Client", "phoneNumber": "2025550101", "possessionType": "mobile"}
# 2025550100 waits for the customer's code, 1234 (scenarios/emulator-outcomes.yaml, client-happy-path).
FLOW_VERIFY = {**VERIFY, "phoneNumber": "2025550100"}
OTP = "1234"
SDK_HEADERS = {"Accept": "application/json", "PA-Version": "ProveAuth/3.6.2 Contract/2.15.1 WEB/1",
               "Origin": "http://127.0.0.1:5173"}  # as bench/wrk/flow.lua sends them
RSS_SAMPLE_SECONDS = 5
ADVANCE_SECONDS = 25 * 3600  # past every lifetime: flows 15 min, access tokens 1 h, webhook retries a day
FLAT_MIB = 80  # the target: back under this within a minute of the flows expiring
PEER_START_SECONDS = 90  # the JVM and Prism's spec parsing are slow to start on a small machine
STARTUP_ROUNDS = 5  # bench/startup.py's default
PEERS = ("WireMock", "Prism")
NPM_INSTALL = "npm install --prefix bench --no-save wiremock @stoplight/prism-cli"


@dataclass
class Settings:
    duration: int
    rounds: int
    connections: int
    threads: int
    warmup: int
    rss_seconds: int
    after_seconds: int
    sockets: int


@dataclass
class Row:
    what: str
    emulator: str
    bare_uvloop: str = "—"
    bare_h11: str = "—"
    ratio: str = "—"
    peers: str = "—"


# -- processes -----------------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    process: subprocess.Popen[str]
    url: str


@contextlib.contextmanager
def python_server(name: str, command: list[str]) -> Iterator[Server]:
    """A process that prints "ready at http://..." once it listens, stopped on exit."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = READY.search(line)
        if not match:
            raise SystemExit(f"{name} did not start: {line!r}")
        yield Server(name, process, match.group(1))
    finally:
        process.terminate()
        process.wait(timeout=10)


def emulator(*options: str, name: str = "emulator") -> contextlib.AbstractContextManager[Server]:
    return python_server(name, [sys.executable, "-m", "emulator", "--port", "0", *options])


def bare_apps() -> list[contextlib.AbstractContextManager[Server]]:
    script = str(BENCH / "bare_app.py")
    return [python_server("bare uvloop", [sys.executable, script, "--loop", "uvloop", "--http", "httptools"]),
            python_server("bare h11", [sys.executable, script, "--loop", "asyncio", "--http", "h11"])]


def access_token(base_url: str) -> str:
    reply = httpx.post(base_url + "/token", data=FORM)
    reply.raise_for_status()
    return reply.json()["access_token"]


def live_flows(base_url: str) -> int:
    return httpx.get(base_url + "/__emulator/health").json()["flows"]


# -- wrk -----------------------------------------------------------------------------------------------


@dataclass
class Target:
    """What wrk loads: a URL, a script in bench/wrk/ and its environment."""
    name: str
    url: str
    env: dict[str, str]
    script: str = "post.lua"
    one_connection_per_thread: bool = False  # flow.lua keeps a flow's state per thread


@dataclass
class Load:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx answers, socket errors and timeouts (10 s), failed flow steps
    flows_per_s: float = 0.0

    @classmethod
    def from_report(cls, report: dict[str, int]) -> Load:
        seconds = report["duration_us"] / 1e6
        errors = report["non2xx"] + report["socket_errors"] + report.get("failures", 0)
        return cls(report["requests"] / seconds, report["p50_us"] / 1000, report["p99_us"] / 1000, errors,
                   report.get("flows", 0) / seconds)


def wrk_command(target: Target, seconds: int, settings: Settings) -> list[str]:
    threads = settings.connections if target.one_connection_per_thread else settings.threads
    return ["wrk", f"-t{threads}", f"-c{settings.connections}", f"-d{seconds}s", "--timeout", "10s",
            "-s", str(BENCH / "wrk" / target.script), target.url]


def wrk_report(stdout: str) -> dict[str, int]:
    for line in stdout.splitlines():
        if line.startswith("BENCH "):
            return json.loads(line.removeprefix("BENCH "))
    raise SystemExit(f"wrk printed no figures:\n{stdout}")


def wrk(target: Target, seconds: int, settings: Settings) -> Load:
    done = subprocess.run(wrk_command(target, seconds, settings), capture_output=True, text=True, check=False,
                          env={**os.environ, **target.env})
    if done.returncode != 0:
        raise SystemExit(f"wrk failed on {target.name}: {done.stderr or done.stdout}")
    return Load.from_report(wrk_report(done.stdout))


def verify_target(name: str, base_url: str, token: str) -> Target:
    return Target(name, base_url + "/v3/verify",
                  {"BENCH_BODY": json.dumps(VERIFY), "BENCH_AUTHORIZATION": f"Bearer {token}"})


def flow_target(base_url: str, token: str) -> Target:
    return Target("full flow", base_url + "/", {"BENCH_BODY": json.dumps(FLOW_VERIFY), "BENCH_ACCESS_TOKEN": token,
                                                "BENCH_OTP": OTP}, "flow.lua", one_connection_per_thread=True)


# -- checks before load: the figures are of successful answers --------------------------------------------


def check_verify(target: Target) -> dict[str, object]:
    reply = httpx.post(target.url, content=target.env["BENCH_BODY"],
                       headers={"Content-Type": "application/json", "Authorization": target.env["BENCH_AUTHORIZATION"]})
    if reply.status_code != 200:
        raise SystemExit(f"{target.name}: POST /v3/verify answered {reply.status_code}: {reply.text}")
    return reply.json()


def check_flow(base_url: str, token: str) -> None:
    """The four requests of bench/wrk/flow.lua once, each answer checked as the script checks it."""
    with httpx.Client(base_url=base_url) as client:
        api = {"Authorization": f"Bearer {token}"}
        flow = client.post("/v3/verify", json=FLOW_VERIFY, headers=api).json()
        device = {**SDK_HEADERS, "Authorization": f"Bearer {flow['authToken']}"}
        answers = [client.post("/v1/client/mobile/otp/start", json={}, headers=device).json(),
                   client.post("/v1/client/mobile/otp/finish", json={"otp": OTP}, headers=device).json(),
                   client.post("/v3/verify-status", json={"correlationId": flow["correlationId"]}, headers=api).json()]
    if answers[0] != {"next": "mobile/otp"} or answers[1] != {"next": "done"} or answers[2].get("success") != "true":
        raise SystemExit(f"the full flow does not succeed: {answers}")


# -- peers: WireMock and Prism, when installed -----------------------------------------------------------


def tool(name: str) -> str | None:
    local = BENCH / "node_modules" / ".bin" / name
    return shutil.which(name) or (str(local) if local.exists() else None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def peer_commands(emulator_url: str, verify_reply: dict[str, object], workdir: Path) -> dict[str, list[str]]:
    """The installed peers' commands, each serving a stub of POST /v3/verify on a free port."""
    commands = {}
    wiremock = tool("wiremock")
    if wiremock:  # one mapping answering the emulator's own reply
        (workdir / "mappings").mkdir()
        mapping = {"request": {"method": "POST", "urlPath": "/v3/verify"},
                   "response": {"status": 200, "headers": {"Content-Type": "application/json"},
                                "jsonBody": verify_reply}}
        (workdir / "mappings" / "verify.json").write_text(json.dumps(mapping))
        commands["WireMock"] = [wiremock, "--port", str(free_port()), "--bind-address", "127.0.0.1",
                                "--root-dir", str(workdir), "--disable-banner"]
    prism = tool("prism")
    if prism:  # mock mode from the emulator's own description; no request log, as the emulator keeps none
        spec = workdir / "openapi.json"
        spec.write_text(httpx.get(emulator_url + "/openapi.json").text)
        commands["Prism"] = [prism, "mock", str(spec), "--host", "127.0.0.1", "--port", str(free_port()),
                             "--verboseLevel", "error"]
    return commands


@contextlib.contextmanager
def peer(name: str, command: list[str], workdir: Path, token: str) -> Iterator[Target | None]:
    """The peer serving, as a wrk target; None (and why, printed) if it did not answer in time."""
    port = command[command.index("--port") + 1]
    target = verify_target(name, f"http://127.0.0.1:{port}", token)
    log = workdir / f"{name}.log"
    # Its own session: the npm launchers start java or node below them, stopped with the group.
    process = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + PEER_START_SECONDS
        while process.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                check_verify(target)
                break
            time.sleep(0.5)
        else:
            print(f"{name} skipped: not serving within {PEER_START_SECONDS} s; its log:\n{log.read_text()[-2000:]}")
            target = None
        yield target
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


# -- the benchmarks: each returns its rows of the table ---------------------------------------------------


def few(samples: list[tuple[float, float]], count: int = 8) -> str:
    """At most about `count` (seconds, MiB) samples, evenly spaced, the last one always."""
    step = max(1, -(-len(samples) // count))
    shown = samples[::step] + ([samples[-1]] if (len(samples) - 1) % step else [])
    return ", ".join(f"{seconds:.0f} s {mib:.0f}" for seconds, mib in shown) + " MiB"


def ms(value: float) -> str:
    return f"{value:.1f} ms" if value < 10 else f"{value:.0f} ms"


def with_errors(text: str, loads: list[Load]) -> str:
    errors = sum(load.errors for load in loads)
    return f"{text} ({errors:,} errors)" if errors else text


def median_load(loads: list[Load]) -> Load:
    return Load(*(statistics.median(getattr(load, name) for load in loads)
                  for name in ("requests_per_s", "p50_ms", "p99_ms", "errors", "flows_per_s")))


def interleaved(targets: list[Target], settings: Settings,
                after_round: Callable[[int], None] = lambda number: None) -> dict[str, list[Load]]:
    """A warm-up of each target, then the rounds, each target in turn in each: the loads by target."""
    for target in targets:
        wrk(target, settings.warmup, settings)
    loads: dict[str, list[Load]] = {target.name: [] for target in targets}
    for number in range(1, settings.rounds + 1):
        for target in targets:
            load = wrk(target, settings.duration, settings)
            loads[target.name].append(load)
            flows = f", {load.flows_per_s:,.0f} flows/s" if target.script == "flow.lua" else ""
            print(f"round {number} {target.name}: {load.requests_per_s:,.0f} req/s{flows}, p50 {ms(load.p50_ms)}, "
                  f"p99 {ms(load.p99_ms)}, {load.errors} errors", flush=True)
        after_round(number)
    return loads


NEW_CONNECTIONS = 30  # fresh connections probed under load, one after another
PROBE_AFTER_SECONDS = 2  # of load before the first probe


def first_answers_on_new_connections(target: Target, settings: Settings) -> list[float]:
    """Milliseconds to the first answer on each of NEW_CONNECTIONS fresh connections, while wrk loads
    the server with its own (already open) connections: what a client that opens one meets."""
    url = urlsplit(target.url)
    headers = {"Content-Type": "application/json", "Authorization": target.env["BENCH_AUTHORIZATION"]}
    seconds = PROBE_AFTER_SECONDS + NEW_CONNECTIONS // 5 + 2
    load = subprocess.Popen(wrk_command(target, seconds, settings), stdout=subprocess.DEVNULL,
                            env={**os.environ, **target.env})
    try:
        time.sleep(PROBE_AFTER_SECONDS)
        answers = []
        for _ in range(NEW_CONNECTIONS):
            connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
            began = time.perf_counter()
            connection.request("POST", url.path, body=target.env["BENCH_BODY"], headers=headers)
            connection.getresponse().read()
            answers.append((time.perf_counter() - began) * 1000)
            connection.close()
            time.sleep(0.1)
        return answers
    finally:
        load.wait()


def throughput(settings: Settings) -> list[Row]:
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory(prefix="bench-peers-") as temp:
        servers = [stack.enter_context(server) for server in (emulator(), *bare_apps())]
        token = access_token(servers[0].url)
        targets = [verify_target(server.name, server.url, token) for server in servers]
        verify_reply, *_ = [check_verify(target) for target in targets]  # each answers; the emulator's reply
        check_flow(servers[0].url, token)
        commands = peer_commands(servers[0].url, verify_reply, Path(temp))
        unavailable = {name: "not installed" for name in PEERS if name not in commands}
        if unavailable:
            print(f"peers skipped, not installed: {', '.join(unavailable)} (to add them: {NPM_INSTALL})")
        for name, command in commands.items():
            print(f"starting {name} ...", flush=True)
            started = stack.enter_context(peer(name, command, Path(temp), token))
            if started:
                targets.append(started)
            else:
                unavailable[name] = "did not start"
        targets.append(flow_target(servers[0].url, token))

        loads = interleaved(targets, settings, lambda number: print(
            f"round {number}: {live_flows(servers[0].url):,} flows live in the emulator", flush=True))
        fresh = {target.name: first_answers_on_new_connections(target, settings)
                 for target in targets if target.name in ("emulator", "bare uvloop")}
        for name, answers in fresh.items():
            print(f"{name}: first answer on {len(answers)} new connections under load: median "
                  f"{ms(statistics.median(answers))}, at most {ms(max(answers))}", flush=True)

    medians = {name: median_load(runs) for name, runs in loads.items()}
    emu, uvl, h11 = medians["emulator"], medians["bare uvloop"], medians["bare h11"]
    peer_names = [name for name in medians if name not in ("emulator", "bare uvloop", "bare h11", "full flow")]

    def peers(figure: Callable[[Load], str]) -> str:
        shown = [with_errors(f"{name} {figure(medians[name])}", loads[name]) for name in peer_names]
        return ", ".join(shown + [f"{name}: {why}" for name, why in unavailable.items()]) or "—"

    def row(what: str, figure: Callable[[Load], str], value: Callable[[Load], float]) -> Row:
        return Row(what, with_errors(figure(emu), loads["emulator"]), with_errors(figure(uvl), loads["bare uvloop"]),
                   with_errors(figure(h11), loads["bare h11"]), f"{value(emu) / value(uvl):.2f}", peers(figure))

    flow = medians["full flow"]
    return [
        row("`POST /v3/verify`, req/s", lambda load: f"{load.requests_per_s:,.0f}", lambda load: load.requests_per_s),
        row(f"p50 at {settings.connections} connections", lambda load: ms(load.p50_ms), lambda load: load.p50_ms),
        row(f"p99 at {settings.connections} connections", lambda load: ms(load.p99_ms), lambda load: load.p99_ms),
        Row(f"first answer on a new connection under that load, median / max ({NEW_CONNECTIONS} probes)",
            *(f"{ms(statistics.median(fresh[name]))} / {ms(max(fresh[name]))}" for name in ("emulator", "bare uvloop")),
            "—", f"{statistics.median(fresh['emulator']) / statistics.median(fresh['bare uvloop']):.2f}"),
        Row(f"full Verified Users flow, {settings.connections} concurrent, flows/s",
            with_errors(f"{flow.flows_per_s:,.0f} (p99 of a step {ms(flow.p99_ms)})", loads["full flow"])),
    ]


def memory(settings: Settings) -> list[Row]:
    """VmRSS of a fresh emulator under verify load, then after its clock passed every lifetime."""
    with emulator() as server:
        target = verify_target("emulator", server.url, access_token(server.url))
        check_verify(target)
        pid = server.process.pid
        samples = [(0.0, rss_mib(pid))]
        began = time.monotonic()
        load = subprocess.Popen(wrk_command(target, settings.rss_seconds, settings), stdout=subprocess.PIPE,
                                text=True, env={**os.environ, **target.env})
        while True:
            try:
                stdout, _ = load.communicate(timeout=began + len(samples) * RSS_SAMPLE_SECONDS - time.monotonic())
                break
            except subprocess.TimeoutExpired:
                samples.append((time.monotonic() - began, rss_mib(pid)))
        result = Load.from_report(wrk_report(stdout))
        loaded = rss_mib(pid)
        flows = live_flows(server.url)
        print(f"memory: {result.requests_per_s:,.0f} verify/s for {settings.rss_seconds} s, p99 {ms(result.p99_ms)}, "
              f"{result.errors} errors; {flows:,} flows live; VmRSS every {RSS_SAMPLE_SECONDS} s: {few(samples)}",
              flush=True)

        moved = time.monotonic()
        httpx.post(server.url + "/__emulator/clock", json={"advance": ADVANCE_SECONDS}, timeout=600).raise_for_status()
        moved_in = time.monotonic() - moved
        after = [(moved_in, rss_mib(pid))]
        while after[-1][0] < settings.after_seconds:
            time.sleep(1)
            after.append((time.monotonic() - moved, rss_mib(pid)))
        swept = live_flows(server.url)
    print(f"memory: clock advanced {ADVANCE_SECONDS} s (the call took {moved_in:.1f} s); {swept:,} flows live; "
          f"VmRSS {loaded:.0f} MiB before, then each second: {few(after)}", flush=True)

    peak = max(mib for _, mib in samples + [(0.0, loaded)])
    under = next((seconds for seconds, mib in after if mib < FLAT_MIB), None)
    settled = (f"under {FLAT_MIB} MiB {under:.0f} s after, {after[-1][1]:.0f} MiB at {after[-1][0]:.0f} s"
               if under is not None else f"still {after[-1][1]:.0f} MiB {after[-1][0]:.0f} s after")
    return [
        Row(f"RSS under {settings.rss_seconds} s of verify load ({result.requests_per_s:,.0f} req/s)",
            with_errors(f"{samples[0][1]:.0f} → max {peak:.0f} MiB ({flows:,} flows live at the end)", [result])),
        Row("RSS once the clock passed every lifetime", f"{settled} ({swept:,} flows live)"),
    ]


def startup(settings: Settings) -> list[Row]:
    """Cold start and idle RSS, by bench/startup.py's rounds (its bare app: uvicorn's defaults)."""
    import startup as cold  # bench/ is sys.path[0] when this file runs as a script

    medians = cold.measure(STARTUP_ROUNDS)
    emu, bare = medians["emulator"], medians["bare Starlette"]
    figures = (("cold start to the ready line", "ready_ms", "ms"),
               ("cold start to a health check answered", "health_ms", "ms"), ("idle RSS", "rss_mib", "MiB"))
    return [Row(f"{what} (bare: uvicorn's defaults)", f"{getattr(emu, figure):.0f} {unit}",
                bare_uvloop=f"{getattr(bare, figure):.0f} {unit}",
                ratio=f"{getattr(emu, figure) / getattr(bare, figure):.2f}")
            for what, figure, unit in figures]


def websockets(settings: Settings) -> list[Row]:
    """Idle Instant Link WebSockets, by bench/idle_websockets.py (its bare app: the emulator's WebSocket
    settings of uvicorn)."""
    import idle_websockets as idle

    idle.raise_open_files(settings.sockets + 1_000)
    emu, bare = asyncio.run(idle.run_emulator(settings.sockets)), asyncio.run(idle.run_bare(settings.sockets))
    return [Row(f"{settings.sockets:,} idle Instant Link WebSockets: RSS (KiB each; ratio of those)",
                f"{emu.after:.0f} MiB ({emu.per_socket:.0f} KiB)",
                bare_uvloop=f"{bare.after:.0f} MiB ({bare.per_socket:.0f} KiB)",
                ratio=f"{emu.per_socket / bare.per_socket:.2f}")]


def state_dir(settings: Settings) -> list[Row]:
    """The cost of --state-dir: the same loads on an emulator in memory and on one writing a state
    directory (each reply's changes committed to SQLite before it is sent), rounds interleaved."""
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory(prefix="bench-state-") as temp:
        plain = stack.enter_context(emulator())
        kept = stack.enter_context(emulator("--state-dir", temp, name="emulator --state-dir"))
        bare = stack.enter_context(bare_apps()[0])
        targets = []
        for server in (plain, kept):
            token = access_token(server.url)
            check_verify(verify_target(server.name, server.url, token))
            check_flow(server.url, token)
            targets += [verify_target(server.name, server.url, token),
                        dataclasses.replace(flow_target(server.url, token), name=f"{server.name} full flow")]
        targets.append(verify_target(bare.name, bare.url, ""))
        loads = interleaved(targets, settings)
        database = Path(temp) / "state.sqlite3"
        print(f"state directory: {sum(f.stat().st_size for f in Path(temp).iterdir()) / 2**20:.1f} MiB "
              f"({database.name} and its WAL) after the rounds", flush=True)
    medians = {name: median_load(runs) for name, runs in loads.items()}
    memory_, disk, uvl = medians["emulator"], medians["emulator --state-dir"], medians["bare uvloop"]
    flow_memory, flow_disk = medians["emulator full flow"], medians["emulator --state-dir full flow"]

    def of(name: str, text: str) -> str:
        return with_errors(text, loads[name])

    return [
        Row("`POST /v3/verify` with `--state-dir`, req/s", of("emulator --state-dir", f"{disk.requests_per_s:,.0f}"),
            of("bare uvloop", f"{uvl.requests_per_s:,.0f}"), "—", f"{disk.requests_per_s / uvl.requests_per_s:.2f}",
            of("emulator", f"in memory: {memory_.requests_per_s:,.0f} "
                           f"(with / without {disk.requests_per_s / memory_.requests_per_s:.2f})")),
        Row("p99 with `--state-dir`", of("emulator --state-dir", ms(disk.p99_ms)), of("bare uvloop", ms(uvl.p99_ms)),
            "—", f"{disk.p99_ms / uvl.p99_ms:.2f}", of("emulator", f"in memory: {ms(memory_.p99_ms)}")),
        Row("full flow with `--state-dir`, flows/s", of("emulator --state-dir full flow", f"{flow_disk.flows_per_s:,.0f}"),
            peers=of("emulator full flow", f"in memory: {flow_memory.flows_per_s:,.0f} "
                                           f"(with / without {flow_disk.flows_per_s / flow_memory.flows_per_s:.2f})")),
    ]


BENCHMARKS: dict[str, Callable[[Settings], list[Row]]] = {
    "startup": startup, "throughput": throughput, "websockets": websockets, "memory": memory, "state-dir": state_dir}


# -- the report ------------------------------------------------------------------------------------------


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")),
                 platform.processor() or "unknown CPU")
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False).stdout.split(" [")[0]
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    return (f"{datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; {len(os.sched_getaffinity(0))} cores "
            f"({model}); Python {platform.python_version()}, uvicorn {uvicorn.__version__}, "
            f"Starlette {starlette.__version__}, {wrk_version}; load average at start {load}")


def table(rows: list[Row]) -> str:
    lines = ["| what | emulator | bare uvloop | bare h11 | ratio | peers |", "|---|---|---|---|---|---|"]
    lines += [f"| {r.what} | {r.emulator} | {r.bare_uvloop} | {r.bare_h11} | {r.ratio} | {r.peers} |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-d", "--duration", type=int, default=10, help="seconds of each wrk round (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are shown (default 3)")
    parser.add_argument("-c", "--connections", type=int, default=50, help="wrk connections (default 50)")
    parser.add_argument("-t", "--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of load on each server first (default 3)")
    parser.add_argument("--rss-seconds", type=int, default=300, help="seconds of verify load for RSS (default 300)")
    parser.add_argument("--after-seconds", type=int, default=60,
                        help="seconds RSS is followed after the clock passed every lifetime (default 60)")
    parser.add_argument("--sockets", type=int, default=10_000, help="idle WebSockets (default 10000)")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), default=list(BENCHMARKS),
                        help="run only these benchmarks (default: all, in this order)")
    args = parser.parse_args()
    settings = Settings(args.duration, args.rounds, args.connections, args.threads, args.warmup, args.rss_seconds,
                        args.after_seconds, args.sockets)
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")
    header = machine()
    print(header, flush=True)
    rows = [row for name in BENCHMARKS if name in args.only for row in BENCHMARKS[name](settings)]
    c = settings.connections
    print(f"\n{header}\n\nLoad: `wrk -t{settings.threads} -c{c} -d{settings.duration}s` after {settings.warmup} s of "
          f"warm-up, medians of {settings.rounds} interleaved rounds (the full flow: `-t{c} -c{c}`, one connection "
          f"per thread); ratio: emulator / bare uvloop; errors: non-2xx answers, socket errors or timeouts (10 s) "
          f"and failed flow steps, over all rounds.\n\n{table(rows)}")


if __name__ == "__main__":
    main()
