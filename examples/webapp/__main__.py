"""Serve the example app against the emulator (or any Prove-like API): python -m examples.webapp.

    python -m examples.webapp [--emulator URL] [--port 8080] [--client-id ID --client-secret SECRET]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import httpx

from emulator.server import bind, local_origin, uvicorn_server
from examples.webapp.app import DEFAULT_NODE_MODULES, SDK_BUNDLE, create_app
from examples.webapp.prove import ProveClient


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m examples.webapp", description=__doc__.splitlines()[0])
    parser.add_argument("--emulator", default="http://127.0.0.1:7768",
                        help="the Prove API base URL: the emulator's (default %(default)s)")
    parser.add_argument("--host", default="127.0.0.1", help="address to serve the app on (default %(default)s)")
    parser.add_argument("--port", type=int, default=8080, help="port to serve the app on (default %(default)s)")
    parser.add_argument("--client-id", default="sandbox-client-id", help="default: the emulator's default project")
    parser.add_argument("--client-secret", default="sandbox-client-secret")
    parser.add_argument("--instant-link-retry", action="store_true",
                        help="give the SDK an Instant Link retry step (the project must answer starts with {})")
    parser.add_argument("--node-modules", type=Path, default=DEFAULT_NODE_MODULES,
                        help="where npm installed @prove-identity/prove-auth (default: the repository's)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    sdk_bundle = args.node_modules / SDK_BUNDLE
    if not sdk_bundle.is_file():
        print(f"examples.webapp: error: no Web SDK at {sdk_bundle}; run 'npm install' at the repository root",
              file=sys.stderr)
        return 2
    emulator = args.emulator.rstrip("/")
    try:
        httpx.get(f"{emulator}/__emulator/health", timeout=2).raise_for_status()
    except httpx.HTTPError as error:
        print(f"examples.webapp: warning: no emulator answers at {emulator} ({error}); start it with 'prove-emulator'",
              file=sys.stderr)
    try:
        sock = bind(args.host, args.port)
    except OSError as error:
        print(f"examples.webapp: error: cannot listen on {args.host}:{args.port}: {error.strerror}", file=sys.stderr)
        return 2
    prove = ProveClient(emulator, args.client_id, args.client_secret)
    app = create_app(prove, sdk_bundle, instant_link_retry=args.instant_link_retry,
                     phone_page=f"{emulator}/__emulator/ui#phone")
    print(f"example app at {local_origin(sock)} (Prove API: {emulator})", flush=True)
    try:
        asyncio.run(uvicorn_server(app, "info").serve(sockets=[sock]))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
