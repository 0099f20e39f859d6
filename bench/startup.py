"""Cold start and idle memory: the emulator beside a bare Starlette app on the same uvicorn.

    python bench/startup.py [--rounds 5]

Each round spawns `python -m emulator --port 0` and, interleaved with it, a bare Starlette app (one
JSON route) served by uvicorn's defaults in its own process, and measures for each:

- ready: from spawn to its ready line read on stdout;
- health: from spawn to one `GET /__emulator/health` answered (a fresh connection, after the ready line);
- CPU: the process's user + system time by then (/proc/PID/stat; 10 ms ticks), which a busy machine
  inflates less than the wall-clock figures;
- idle RSS: the process's VmRSS (/proc/PID/status) 0.5 s after that answer.

Prints the median of the rounds of each figure, the emulator's over the bare app's (ratio), and for
scale the interpreter's own start (`python -c pass`, spawn to exit). One unmeasured round of each
comes first. The processes run without PYTHONDONTWRITEBYTECODE, so they load cached bytecode as an
installed package does (`pip install .` compiles it); with it set, a checkout recompiles every file
changed since its bytecode was written, at every start.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, fields
from pathlib import Path

from proc import rss_mib

ROOT = Path(__file__).resolve().parent.parent
READY = re.compile(r"ready at http://([^:/\s]+):(\d+)")
IDLE_SECONDS = 0.5
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# The floor: Starlette on uvicorn's defaults, one route, a ready line once uvicorn has started.
BARE_APP = """
import socket, uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def health(request):
    return JSONResponse({"status": "ok"})

class Server(uvicorn.Server):
    async def startup(self, sockets=None):
        await super().startup(sockets)
        host, port = sockets[0].getsockname()[:2]
        print(f"bare Starlette ready at http://{host}:{port}", flush=True)

sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
sock.bind(("127.0.0.1", 0))
sock.listen(128)
app = Starlette(routes=[Route("/__emulator/health", health)])
Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
"""
ENVIRONMENT = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
COMMANDS = {
    "emulator": [sys.executable, "-m", "emulator", "--port", "0"],
    "bare Starlette": [sys.executable, "-c", BARE_APP],
}


@dataclass
class Round:
    ready_ms: float
    health_ms: float
    cpu_ms: float
    rss_mib: float


def cpu_ms(pid: int) -> float:
    # Fields after the command name (which is in parentheses): utime and stime are the 12th and 13th.
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / CLOCK_TICKS


def one_round(name: str, command: list[str]) -> Round:
    began = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=ENVIRONMENT)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        ready = time.perf_counter()
        match = READY.search(line)
        if not match:
            raise SystemExit(f"{name} did not start: {line!r}")
        connection = http.client.HTTPConnection(match.group(1), int(match.group(2)), timeout=10)
        connection.request("GET", "/__emulator/health")
        reply = connection.getresponse()
        reply.read()
        answered = time.perf_counter()
        cpu = cpu_ms(process.pid)
        connection.close()
        if reply.status != 200:
            raise SystemExit(f"{name}: health answered {reply.status}")
        time.sleep(IDLE_SECONDS)
        return Round((ready - began) * 1000, (answered - began) * 1000, cpu, rss_mib(process.pid))
    finally:
        process.terminate()
        process.wait()


def interpreter_ms() -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True, env=ENVIRONMENT)
    return (time.perf_counter() - began) * 1000


def measure(rounds: int) -> dict[str, Round]:
    """The median of `rounds` interleaved rounds of each command, after one unmeasured round of each."""
    for name, command in COMMANDS.items():
        one_round(name, command)  # warm-up: bytecode written, files in the page cache
    runs: dict[str, list[Round]] = {name: [] for name in COMMANDS}
    for _ in range(rounds):
        for name, command in COMMANDS.items():
            runs[name].append(one_round(name, command))
    return {name: Round(*(statistics.median(getattr(r, f.name) for r in results) for f in fields(Round)))
            for name, results in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    medians = measure(args.rounds)
    interpreter = statistics.median(interpreter_ms() for _ in range(args.rounds))
    print(f"cold start, medians of {args.rounds} interleaved rounds (Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}):")
    print(f"{'':16} {'ready line':>11} {'health answered':>16} {'CPU by then':>12} {'idle RSS':>10}")
    for name, r in medians.items():
        print(f"{name:16} {r.ready_ms:8.0f} ms {r.health_ms:13.0f} ms {r.cpu_ms:9.0f} ms {r.rss_mib:6.1f} MiB")
    emulator, bare = medians["emulator"], medians["bare Starlette"]
    print(f"{'ratio':16} {emulator.ready_ms / bare.ready_ms:10.2f}x {emulator.health_ms / bare.health_ms:15.2f}x "
          f"{emulator.cpu_ms / bare.cpu_ms:11.2f}x {emulator.rss_mib / bare.rss_mib:9.2f}x")
    print(f"(python -c pass, spawn to exit: {interpreter:.0f} ms)")


if __name__ == "__main__":
    main()
