"""The visitor's flow, kept on the server: a session cookie names the correlationId, which the page
never sees (Prove's guides keep it on the backend)."""

from __future__ import annotations

import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse


class FlowSessions:
    def __init__(self, cookie: str) -> None:
        self.cookie = cookie
        self._flows: dict[str, str] = {}  # session cookie -> correlationId

    def started(self, reply: dict[str, Any]) -> JSONResponse:
        """The page's answer to a started flow: its authToken, with the session cookie set."""
        session = secrets.token_urlsafe(16)
        self._flows[session] = reply["correlationId"]
        response = JSONResponse({"authToken": reply["authToken"], "correlationId": reply["correlationId"]})
        response.set_cookie(self.cookie, session, httponly=True, samesite="lax")
        return response

    def flow_of(self, request: Request) -> str | None:
        return self._flows.get(request.cookies.get(self.cookie, ""))
