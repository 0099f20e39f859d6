"""/openapi.json describes every route the app serves, and parses as OpenAPI 3.1."""

from __future__ import annotations

import jsonschema
from starlette.routing import Route, WebSocketRoute

from emulator.faults import PERSONA_FAULT_ENDPOINTS, RUNTIME_FAULT_ENDPOINTS
from emulator.http.app import all_routes, create_app
from emulator.rules import json_schema
from emulator.service import Emulator


def test_every_route_is_in_the_spec():
    app = create_app(Emulator())
    spec_paths = {op.path for op, _ in all_routes()}
    for route in app.routes:
        assert isinstance(route, (Route, WebSocketRoute))
        assert route.path in spec_paths | {"/openapi.json"}, route.path


def test_spec_lists_methods_as_served(emu):
    spec = emu.http.get("/openapi.json").json()
    for operation, route in all_routes():
        assert operation.method.lower() in spec["paths"][operation.path]
        if isinstance(route, Route):
            assert operation.method in route.methods


def test_request_schemas_are_valid_json_schema():
    for operation, _ in all_routes():
        schema = json_schema(operation.request) if operation.request else operation.request_schema
        if schema is not None:
            jsonschema.Draft202012Validator.check_schema(schema)


def test_faultable_endpoints_are_real_routes():
    paths = {op.path for op, _ in all_routes()}
    assert set(PERSONA_FAULT_ENDPOINTS) <= paths
    assert set(RUNTIME_FAULT_ENDPOINTS) <= paths


def test_unknown_routes_and_methods_use_the_envelope(emu):
    missing = emu.http.get("/v3/nothing")
    assert missing.status_code == 404 and missing.json()["message"] == "no such route: /v3/nothing"
    wrong = emu.http.get("/v3/verify")
    assert wrong.status_code == 405 and wrong.json()["message"] == "method GET is not allowed on /v3/verify"
