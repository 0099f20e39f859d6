"""Assemble the ASGI app: every route module, CORS and the control plane's guard, the error envelope,
and the clock's ticker."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from typing import Any, AsyncIterator, Callable, Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from emulator.access import AccessPolicy
from emulator.clock import Clock
from emulator.errors import internal, method_not_allowed, not_found
from emulator.http import control, customer, device, domains, identity_manager, oauth, prefill, prove_auth, unify, verified_users, webhooks
from emulator.http import events, snapshot, ui
from emulator.http.commit import CommitBeforeReply, CommitSoon
from emulator.http import device_steps
from emulator.http.access_guard import CORS_HEADERS, AccessGuard, document_guard  # noqa: F401 (CORS_HEADERS: re-exported)
from emulator.http.api import Operation, error_response, json_response
from emulator.http.openapi import build_spec
from emulator.http.prefix import normalize_path_prefix, prefixed_routes
from emulator.http.routing import FixedPathRouter
from emulator.service import Emulator

TICK_SECONDS = 0.05

OPENAPI = Operation(method="GET", path="/openapi.json", summary="This document.", tag="Control plane",
                    response={"type": "object", "required": ["openapi", "paths"]})


def all_routes() -> list[tuple[Operation, BaseRoute]]:
    return [
        *oauth.ROUTES,
        *verified_users.ROUTES,
        *prefill.ROUTES,
        *unify.ROUTES,
        *prove_auth.ROUTES,
        *identity_manager.ROUTES,
        *domains.ROUTES,
        *device.ROUTES,
        *device_steps.ROUTES,
        *control.ROUTES,
        *snapshot.ROUTES,
        *customer.ROUTES,
        *webhooks.ROUTES,
        *events.ROUTES,
        *ui.ROUTES,
    ]


class FireDueTimers:
    """Before any request is handled, run what fell due on the clock, so no reply shows stale state."""

    def __init__(self, app: ASGIApp, clock: Clock) -> None:
        self.app = app
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            self.clock.fire_due()
        await self.app(scope, receive, send)


def create_app(emulator: Emulator, cors_origins: Sequence[str] = ("*",), access: AccessPolicy = AccessPolicy(),
               path_prefix: str = "", commit: Callable[[], None] | None = None) -> Starlette:
    """`commit`: the state directory's, run before each reply and as the state changes between them."""
    routes = all_routes()
    routes += prefixed_routes(routes, normalize_path_prefix(path_prefix))  # ValueError for a bad prefix

    @functools.cache  # on the first request, not at start-up
    def spec() -> dict[str, Any]:
        return document_guard(build_spec([OPENAPI, ui.ROOT, *(operation for operation, _ in routes)]), access)

    async def openapi(request: Request) -> Response:
        return json_response(spec())

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            return error_response(method_not_allowed(request.method, request.url.path))
        return error_response(not_found(request.scope["path"]))  # as sent: /v3/verify%0A is not /v3/verify

    async def server_error(request: Request, exc: Exception) -> Response:
        return error_response(internal())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        ticker = asyncio.create_task(_tick(emulator))
        soon = CommitSoon(commit, asyncio.get_running_loop()) if commit is not None else None
        if soon is not None:
            emulator.changes.listeners.append(soon)
        try:
            yield
        finally:
            ticker.cancel()
            if soon is not None:
                emulator.changes.listeners.remove(soon)
                soon.cancel()

    app = Starlette(
        routes=[Route(OPENAPI.path, openapi, methods=["GET"]), *(route for _, route in routes)],
        middleware=[
            Middleware(AccessGuard, policy=access, cors_origins=cors_origins),
            # Inside the guard: its refusals change nothing, and a 503 of a failed write gets CORS headers.
            *([Middleware(CommitBeforeReply, commit=commit)] if commit is not None else []),
            Middleware(ui.RootRedirect),
            Middleware(FireDueTimers, clock=emulator.clock),
        ],
        exception_handlers={HTTPException: http_error, Exception: server_error},
        lifespan=lifespan,
    )
    # /v3/verify/ is an unknown route (404), not a redirect. Starlette takes no router of one's own:
    # it is swapped before the first request builds the middleware stack around it.
    app.router = FixedPathRouter(routes=app.router.routes, redirect_slashes=False, lifespan=lifespan)
    app.state.emulator = emulator
    return app


async def _tick(emulator: Emulator) -> None:
    """Unfrozen, the clock follows real time: fire timers as they fall due."""
    while True:
        await asyncio.sleep(TICK_SECONDS)
        emulator.clock.fire_due()
