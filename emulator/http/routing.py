"""Starlette's router with a dict in front of its scan.

Starlette tries routes in order, one regular expression each: with a hundred routes, a request for
one of the last paths paid for a hundred matches, more than the rest of the request. A fixed path
(no parameters) that no earlier route could take goes straight to its route here; everything else
(parameters, 404, 405, WebSockets) takes Starlette's scan, in order, as before. A path ending in a
newline is no route at all (404).
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import Receive, Scope, Send


def fixed_paths(routes: list[BaseRoute]) -> dict[tuple[str, str], Route]:
    """(path, method) -> the route Starlette's scan would pick for it, for paths without parameters."""
    fixed: dict[tuple[str, str], Route] = {}
    for index, route in enumerate(routes):
        if not isinstance(route, Route) or route.param_convertors or route.methods is None:
            continue
        for method in route.methods:
            scope = {"type": "http", "path": route.path, "root_path": "", "method": method}
            earlier = (other.matches(scope)[0] for other in routes[:index])
            if not any(match is Match.FULL for match in earlier):
                fixed.setdefault((route.path, method), route)
    return fixed


class FixedPathRouter(Router):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._fixed = fixed_paths(self.routes)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and scope["path"].endswith("\n"):
            # Starlette's patterns end in `$`, which also matches before a last newline: /v3/verify%0A
            # is no route of Prove's, and the device channel signs the path it was sent.
            await self.not_found(scope, receive, send)
            return
        route = self._fixed.get((scope["path"], scope["method"])) if scope["type"] == "http" and not scope.get(
            "root_path") else None
        if route is None:
            await super().app(scope, receive, send)
            return
        scope.setdefault("router", self)
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        scope["path_params"] = {}
        await route.handle(scope, receive, send)
