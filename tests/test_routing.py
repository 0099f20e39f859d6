"""The router's dict of fixed paths picks exactly the route Starlette's scan in order would."""

from __future__ import annotations

from starlette.routing import Match, Route
from starlette.testclient import TestClient

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


def test_a_path_with_a_last_newline_is_no_route():
    # Starlette's `$` matches before a final newline; the route's path is what the device channel signs.
    client = TestClient(create_app(Emulator()), base_url="http://127.0.0.1")
    for path in ("/v3/verify", "/v1/client/device/unregister", "/__emulator/health"):
        reply = client.post(path + "%0A", json={}) if "health" not in path else client.get(path + "%0A")
        assert (reply.status_code, reply.json()) == (404, {"code": 8001, "message": f"no such route: {path}\n"}), path
    assert client.get("/__emulator/health").status_code == 200
    assert client.post("/v3/verify", json={}).status_code == 401  # the route itself is there
