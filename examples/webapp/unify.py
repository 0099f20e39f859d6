"""The example app's Unify page: /unify, and two backend calls that talk to Prove.

As Prove's Unify guide wires it: the backend starts the flow with /v3/unify (possessionType mobile
on a phone, desktop on a computer) and hands the authToken to the page; the Web SDK then runs the
steps the token starts at (the Prove Key and OTP, Mobile Auth, or Instant Link); once the page's
AuthFinishStep runs, the backend asks /v3/unify-status. The correlationId stays on the server, in
the visitor's session cookie.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from examples.webapp.prove import ProveClient
from examples.webapp.sessions import FlowSessions

SESSION_COOKIE = "webapp_unify_session"
# What the page may pass on to /v3/unify; finalTargetUrl is the backend's to set.
UNIFY_FIELDS = ("phoneNumber", "possessionType", "allowOTPRetry", "rebind")


Endpoint = Callable[[Request], Awaitable[Response]]
AskProve = Callable[[Awaitable[httpx.Response]], Awaitable[tuple[int, dict[str, Any]]]]


def unify_routes(prove: ProveClient, page: Callable[[str], Endpoint], ask_prove: AskProve) -> list[Route]:
    """The routes; `page(file_name)` serves one of the app's pages, `ask_prove(call)` answers Prove's
    (status, JSON reply) of a call (app.py has both)."""
    sessions = FlowSessions(SESSION_COOKIE)

    async def unify(request: Request) -> Response:
        body = await request.json()
        fields: dict[str, Any] = {key: body[key] for key in UNIFY_FIELDS if key in body}
        if fields.get("possessionType") == "desktop":
            fields["finalTargetUrl"] = str(request.url_for("landing"))
        status, started = await ask_prove(prove.unify(fields))
        if status != 200:
            return JSONResponse(started, status_code=status)
        return sessions.started(started)

    async def unify_status(request: Request) -> Response:
        correlation_id = sessions.flow_of(request)
        if correlation_id is None:
            return JSONResponse({"message": "no Unify flow was started in this browser"}, status_code=400)
        status, reply = await ask_prove(prove.unify_status(correlation_id))
        return JSONResponse(reply, status_code=status)

    return [
        Route("/unify", page("unify.html")),
        Route("/api/unify", unify, methods=["POST"]),
        Route("/api/unify-status", unify_status, methods=["POST"]),
    ]

