"""The example app's backend: its pages, the Web SDK bundle, and two calls that talk to Prove.

As in Prove's guides, the backend holds the credentials, starts the flow with /v3/verify, hands the
authToken to the page, and asks /v3/verify-status once the page's AuthFinishStep runs. The
correlationId stays on the server, in the visitor's session (a cookie), so the Instant Link landing
page can ask for the result too.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from examples.webapp.prove import ProveClient
from examples.webapp.sessions import FlowSessions
from examples.webapp.unify import unify_routes

STATIC = Path(__file__).parent / "static"
# The official Web SDK's browser bundle (global `proveAuth`), served from npm's install, never copied.
DEFAULT_NODE_MODULES = Path(__file__).resolve().parents[2] / "node_modules"
SDK_BUNDLE = Path("@prove-identity", "prove-auth", "build", "bundle", "release", "prove-auth.js")
SESSION_COOKIE = "webapp_session"
# What the page may pass on to /v3/verify; finalTargetUrl is the backend's to set.
VERIFY_FIELDS = ("phoneNumber", "firstName", "lastName", "possessionType", "allowOTPRetry")


def create_app(prove: ProveClient, sdk_bundle: Path, *, instant_link_retry: bool = False,
               phone_page: str | None = None) -> Starlette:
    """`instant_link_retry`: give the SDK an Instant Link retry step (resend / change number); the
    Prove project must then answer a successful start with `{}` (emulator: instantLinkStartReply "empty").
    `phone_page`: the emulator's phone page (its web UI, `.../__emulator/ui#phone`), which the page then
    points to, with the number appended (a development aid)."""
    sessions = FlowSessions(SESSION_COOKIE)

    async def sdk(request: Request) -> Response:
        return FileResponse(sdk_bundle, media_type="text/javascript")

    async def config(request: Request) -> Response:
        return JSONResponse({"instantLinkRetry": instant_link_retry, "phonePage": phone_page})

    async def verify(request: Request) -> Response:
        body = await request.json()
        fields: dict[str, Any] = {key: body[key] for key in VERIFY_FIELDS if key in body}
        fields["finalTargetUrl"] = str(request.url_for("landing"))
        status, started = await _ask_prove(prove, prove.verify(fields))
        if status != 200:
            return JSONResponse(started, status_code=status)
        return sessions.started(started)

    async def verify_status(request: Request) -> Response:
        correlation_id = sessions.flow_of(request)
        if correlation_id is None:
            return JSONResponse({"message": "no verification was started in this browser"}, status_code=400)
        status, reply = await _ask_prove(prove, prove.verify_status(correlation_id))
        return JSONResponse(reply, status_code=status)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await prove.aclose()

    return Starlette(
        routes=[
            Route("/", _page("index.html")),
            Route("/done", _page("done.html"), name="landing"),  # the finalTargetUrl: Instant Link lands here
            Route("/sdk/prove-auth.js", sdk),
            Route("/api/config", config),
            Route("/api/verify", verify, methods=["POST"]),
            Route("/api/verify-status", verify_status, methods=["POST"]),
            *unify_routes(prove, _page, lambda call: _ask_prove(prove, call)),  # the Unify page (unify.py)
            Mount("/static", StaticFiles(directory=STATIC)),
        ],
        lifespan=lifespan,
    )


def _page(file_name: str) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return FileResponse(STATIC / file_name)

    return endpoint


async def _ask_prove(prove: ProveClient, call: Awaitable[httpx.Response]) -> tuple[int, dict[str, Any]]:
    """Prove's status and JSON reply (errors included, for the page to show); 502 if the call failed."""
    try:
        reply = await call
    except httpx.HTTPError as error:
        return 502, {"message": f"calling Prove at {prove.http.base_url} failed: {error}"}
    try:
        return reply.status_code, reply.json()
    except ValueError:
        return reply.status_code, {"message": f"Prove answered HTTP {reply.status_code} without JSON"}
