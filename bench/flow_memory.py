"""Memory of live flows: bytes per flow, and the process's RSS as flows come, stay and expire.

    python bench/flow_memory.py [--flows 20000] [--rss-flows 200000] [--projects 20]

Flows are made through the service layer (emulator.service.Emulator, no HTTP, a frozen clock), as
/v3/verify makes them:
- bytes per live flow, in this process with tracemalloc, for a current-generation verify
  (verificationType: answered at once) and possession-based ones (possessionType mobile: an authToken),
  finished and pending;
- RSS (VmRSS) in a fresh subprocess: idle, with --rss-flows live flows spread over --projects projects
  (each at the default bound, --max-live-flows), after as many again (the bound evicts: RSS stays), and
  after the clock moved past their lifetime (every flow swept, memory handed back to the OS).
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import time
import tracemalloc
from typing import Any, Callable

from proc import rss_mib

from emulator.clock import Clock
from emulator.flows.base import FLOW_LIFETIME
from emulator.projects import DEFAULT_PROJECT, Project
from emulator.service import Emulator

CURRENT = {"verificationType": "verifiedUser", "phoneNumber": "2001004053", "firstName": "Elena",
           "lastName": "Coldman"}
POSSESSION = {"firstName": "Casey", "lastName": "Client", "possessionType": "mobile"}
# The kinds of flow measured, and what each is; the possession-based ones' numbers below.
KINDS = {
    "current": "current generation (verificationType), answered at once",
    "auto-possession": "possession-based (mobile), its persona settles possession: SMS, authToken, finished",
    "pending-possession": "possession-based (mobile), waiting for its customer: authToken, nothing sent yet",
}
NUMBERS = {"auto-possession": "2025550101", "pending-possession": "2025550100"}
WARM_UP = 1000  # flows made before measuring: caches and first-use allocations are not per flow


def frozen_emulator(projects: tuple[Project, ...] = (), **options: Any) -> Emulator:
    clock = Clock()
    clock.freeze()
    return Emulator(clock=clock, projects=projects, **options)


def maker(emulator: Emulator, kind: str, project: Project = DEFAULT_PROJECT) -> Callable[[], object]:
    if kind == "current":
        return lambda: emulator.verification.verify(project, CURRENT)
    request = {**POSSESSION, "phoneNumber": NUMBERS[kind]}
    return lambda: emulator.verified_users.verify(project, request)


def bytes_per_flow(kind: str, flows: int) -> float:
    emulator = frozen_emulator(max_live_flows=WARM_UP + flows)  # all live: none evicted
    make = maker(emulator, kind)
    for _ in range(WARM_UP):
        make()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(flows):
        make()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / flows


def rss_run(flows: int, project_count: int) -> None:
    """In the subprocess: print one line per stage."""
    projects = tuple(Project(client_id=f"bench-{index}", client_secret="secret") for index in range(project_count))
    emulator = frozen_emulator(projects)
    makers = [maker(emulator, "current", project) for project in projects]
    print(f"idle: {rss_mib(os.getpid()):.0f} MiB", flush=True)
    for stage in ("live", "as many again"):
        began = time.perf_counter()
        for index in range(flows):
            makers[index % project_count]()
        took = time.perf_counter() - began
        print(f"{stage}: {len(emulator.flows)} live flows, {rss_mib(os.getpid()):.0f} MiB "
              f"({took / flows * 1e6:.0f} us per flow)", flush=True)
    emulator.clock.advance(FLOW_LIFETIME + 1)
    print(f"expired: {len(emulator.flows)} live flows, {rss_mib(os.getpid()):.0f} MiB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=20_000, help="flows per kind for bytes per flow")
    parser.add_argument("--rss-flows", type=int, default=200_000, help="live flows for RSS (0: skip)")
    parser.add_argument("--projects", type=int, default=20, help="projects the RSS flows are spread over")
    parser.add_argument("--rss-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_run(args.rss_flows, args.projects)
        return
    print(f"bytes per live flow (tracemalloc, {args.flows} flows each):", flush=True)
    for kind, what in KINDS.items():
        print(f"  {bytes_per_flow(kind, args.flows):5.0f}  {kind}: {what}", flush=True)
    if args.rss_flows:
        print(f"RSS, {args.rss_flows} current-generation flows over {args.projects} projects:", flush=True)
        subprocess.run([sys.executable, __file__, "--rss-child", "--rss-flows", str(args.rss_flows),
                        "--projects", str(args.projects)], check=True)


if __name__ == "__main__":
    main()
