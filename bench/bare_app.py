"""The ceiling for a Python ASGI JSON endpoint: bare Starlette, one POST route, on uvicorn.

    python bench/bare_app.py --loop uvloop --http httptools
    python bench/bare_app.py --loop asyncio --http h11

POST /v3/verify reads the JSON body and answers a small JSON reply, with none of the emulator's work
(no token, validation, flow or journal). Listens on a free loopback port and prints
"ready at http://127.0.0.1:PORT" once uvicorn has started, as the emulator does. bench/run.py runs it
twice beside the emulator, under the same load.
"""

from __future__ import annotations

import argparse
import socket

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def verify(request: Request) -> JSONResponse:
    body = await request.json()
    return JSONResponse({"correlationId": "00000000-0000-4000-8000-000000000000", "success": "pending",
                         "phoneNumber": body.get("phoneNumber")})


app = Starlette(routes=[Route("/v3/verify", verify, methods=["POST"])])


class Server(uvicorn.Server):
    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        assert sockets
        host, port = sockets[0].getsockname()[:2]
        print(f"bare Starlette ready at http://{host}:{port}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], required=True)
    parser.add_argument("--http", choices=["httptools", "h11"], required=True)
    args = parser.parse_args()
    # IPPROTO_TCP, as emulator/server.py binds: asyncio sets TCP_NODELAY only for that protocol, and
    # without it kept-alive replies wait for Nagle's algorithm.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    config = uvicorn.Config(app, loop=args.loop, http=args.http, lifespan="off", log_level="warning")
    Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
