"""The router's dict of fixed paths picks exactly the route Starlette's scan in order would."""

from __future__ import annotations

from starlette.routing import Match, Route

from emulator.http.app import create_app
from emulator.http.routing import FixedPathRouter, fixed_paths
from emulator.service import Emulator


def scanned(routes, path: str, method: str):
    scope = {"type": "http", "path": path, "root_path": "", "method": method}
    return next((route for route in routes if route.matches(scope)[0] is Match.FULL), None)


def test_every_fixed_path_goes_where_the_scan_would():
    for prefix in ("", "/prove"):
        router = create_app(Emulator(), path_prefix=prefix).router
        assert isinstance(router, FixedPathRouter)
        fixed = fixed_paths(router.routes)
        assert len(fixed) > 50  # most of the emulator's paths have no parameters
        for (path, method), route in fixed.items():
            assert scanned(router.routes, path, method) is route, (path, method)


def test_an_earlier_route_with_parameters_keeps_its_precedence():
    def endpoint(request):  # never called
        raise AssertionError

    routes = [Route("/items/{name}", endpoint, methods=["GET"]), Route("/items/batch", endpoint, methods=["GET", "POST"])]
    fixed = fixed_paths(routes)
    assert ("/items/batch", "GET") not in fixed  # the scan gives GET to /items/{name}
    assert fixed[("/items/batch", "POST")] is routes[1]
