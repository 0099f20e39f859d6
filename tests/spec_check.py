"""Checks replies against the emulator's own /openapi.json, so the emulator cannot drift from it.

Every reply the Python suite receives through `prove_emulator.http` goes through `SpecChecker.check`:
its status must be documented for the operation, and a JSON body must match the documented schema.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_URI = "urn:prove-emulator:openapi"


def _pointer(*parts: str) -> str:
    return "/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


class SpecChecker:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.registry = Registry().with_resource(SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT202012))
        self.routes: list[tuple[str, re.Pattern[str], str]] = []
        for path, methods in spec["paths"].items():
            regex = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$")
            for method in methods:
                self.routes.append((method.upper(), regex, path))
        self.checked = 0

    def schema_validator(self, *pointer_parts: str) -> jsonschema.Draft202012Validator:
        reference = {"$ref": f"{SPEC_URI}#{_pointer(*pointer_parts)}"}
        return jsonschema.Draft202012Validator(reference, registry=self.registry,
                                               format_checker=jsonschema.FormatChecker())

    def find(self, method: str, path: str) -> str | None:
        matches = [template for m, regex, template in self.routes if m == method and regex.match(path)]
        # a literal path wins over a template (e.g. /x/schema over /x/{id})
        return min(matches, key=lambda t: t.count("{")) if matches else None

    def check(self, response: httpx.Response) -> None:
        response.read()
        request = response.request
        method, path = request.method, request.url.path
        if method == "OPTIONS":
            return
        template = self.find(method, path)
        content_type = response.headers.get("content-type", "")
        if template is None:
            assert response.status_code in (404, 405), f"{method} {path} is not in the spec but answered {response.status_code}"
            self._validate(response, "components", "schemas", "Error")
            return
        responses = self.spec["paths"][template][method.lower()]["responses"]
        status = str(response.status_code)
        key = status if status in responses else "default"
        assert key in responses, f"{method} {template} answered {status}, which the spec does not document"
        content = responses[key].get("content", {})
        if "application/json" in content:
            assert content_type.startswith("application/json"), f"{method} {path}: JSON documented, got {content_type}"
            self._validate(response, "paths", template, method.lower(), "responses", key, "content",
                           "application/json", "schema")
        self.checked += 1

    def _validate(self, response: httpx.Response, *pointer_parts: str) -> None:
        body = json.loads(response.content)
        errors = list(self.schema_validator(*pointer_parts).iter_errors(body))
        assert not errors, (
            f"{response.request.method} {response.request.url.path} -> {response.status_code} does not match "
            f"its spec: {errors[0].message} at {list(errors[0].absolute_path)}; body: {body}"
        )
