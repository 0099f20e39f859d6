"""Benchmarks: start-up time, throughput and latency, and memory over a long run.

    python bench/run.py [--flows 5000] [--seconds 5]

Starts the emulator as a separate process (`python -m emulator --port 0`), drives it over loopback
with httpx, and prints figures. Memory is the emulator process's resident set size (VmRSS), read
idle, after many flows, and after the clock is moved past every lifetime (flows swept, journal and
outbox capped), which is what shows whether memory stays flat however long it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

READY = re.compile(r"ready at (http://\S+)")
FORM = {"grant_type": "client_credentials", "client_id": "sandbox-client-id", "client_secret": "sandbox-client-secret"}
VERIFY = {"firstName": "Casey", "lastName": "Client", "phoneNumber": "2025550101", "possessionType": "mobile"}


def start() -> tuple[subprocess.Popen[str], str, float]:
    began = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "emulator", "--port", "0"], stdout=subprocess.PIPE, text=True,
                               cwd=Path(__file__).resolve().parent.parent)
    line = process.stdout.readline()
    match = READY.search(line)
    if not match:
        raise SystemExit(f"emulator did not start: {line!r}")
    return process, match.group(1), time.perf_counter() - began


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def load(base_url: str, concurrency: int, seconds: float) -> tuple[int, list[float]]:
    """verify + verify-status pairs from `concurrency` workers for `seconds`; latency of each call."""
    latencies: list[float] = []
    done = 0
    async with httpx.AsyncClient(base_url=base_url, limits=httpx.Limits(max_connections=concurrency)) as client:
        token = (await client.post("/token", data=FORM)).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                flow = (await client.post("/v3/verify", json=VERIFY, headers=headers)).json()
                middle = time.perf_counter()
                reply = await client.post("/v3/verify-status", json={"correlationId": flow["correlationId"]},
                                          headers=headers)
                assert reply.status_code == 200
                latencies.extend([middle - began, time.perf_counter() - middle])
                done += 2

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done, latencies


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def create_flows(base_url: str, count: int) -> None:
    async with httpx.AsyncClient(base_url=base_url, limits=httpx.Limits(max_connections=16)) as client:
        token = (await client.post("/token", data=FORM)).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        semaphore = asyncio.Semaphore(16)

        async def one() -> None:
            async with semaphore:
                assert (await client.post("/v3/verify", json=VERIFY, headers=headers)).status_code == 200

        await asyncio.gather(*(one() for _ in range(count)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=5000, help="flows created for the memory figures")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each throughput run")
    args = parser.parse_args()

    startups = []
    for _ in range(5):
        process, _, seconds = start()
        startups.append(seconds)
        process.terminate()
        process.wait()
    print(f"start-up to ready line: median {statistics.median(startups) * 1000:.0f} ms "
          f"(min {min(startups) * 1000:.0f}, max {max(startups) * 1000:.0f}; 5 runs, includes Python start)")

    process, base_url, _ = start()
    try:
        print(f"memory idle: {rss_mib(process.pid):.1f} MiB RSS")
        for concurrency in (1, 16):
            calls, latencies = asyncio.run(load(base_url, concurrency, args.seconds))
            print(f"throughput, {concurrency:>2} client(s): {calls / args.seconds:,.0f} calls/s "
                  f"(verify + verify-status); latency p50 {percentile(latencies, 0.5) * 1000:.2f} ms, "
                  f"p99 {percentile(latencies, 0.99) * 1000:.2f} ms")
        httpx.post(base_url + "/__emulator/reset")
        httpx.post(base_url + "/__emulator/clock", json={"freeze": True})
        before = rss_mib(process.pid)
        asyncio.run(create_flows(base_url, args.flows))
        with_flows = rss_mib(process.pid)
        health = httpx.get(base_url + "/__emulator/health").json()
        print(f"memory after {args.flows} live flows: {with_flows:.1f} MiB RSS "
              f"(+{with_flows - before:.1f} MiB; {health['flows']} flows live)")
        httpx.post(base_url + "/__emulator/clock", json={"advance": 16 * 60})
        swept = httpx.get(base_url + "/__emulator/health").json()["flows"]
        asyncio.run(create_flows(base_url, args.flows))
        httpx.post(base_url + "/__emulator/clock", json={"advance": 16 * 60})
        again = rss_mib(process.pid)
        print(f"after expiry: {swept} flows live; after another {args.flows} flows and expiry: {again:.1f} MiB RSS "
              f"(flat if close to {with_flows:.1f})")
    finally:
        process.terminate()
        process.wait()


if __name__ == "__main__":
    main()
