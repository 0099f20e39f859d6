"""`--path-prefix`: Prove's server API served under a path as well, for a serverURL like .../prove.

An SDK with `serverURL` http://127.0.0.1:7768/prove sends operations to /prove/v3/...; its
client-credentials hook resolves `/token` against the origin and drops the prefix, while a direct
`v3TokenRequest()` keeps it (current-generation §10.2), so `/token` is served at both places.
The Web SDK's device channel stays at the root: it follows the authToken's `auth.endp`, which has to
be a bare origin for the Instant Link WebSocket's origin check (web-sdk-protocol §2.4). The control
plane and /openapi.json are the emulator's own and stay at the root too.
"""

from __future__ import annotations

import re
from dataclasses import replace

from starlette.routing import BaseRoute, Route

from emulator.http.api import Operation

MAX_PREFIX_LENGTH = 100
# First segments the emulator serves at the root: a prefix starting with one would blur which
# surface (Prove's API, the device channel, the control plane) a path belongs to.
RESERVED_SEGMENTS = ("v1", "v3", "token", "openapi.json", "__emulator")
_SEGMENT = re.compile(r"[A-Za-z0-9_~-][A-Za-z0-9._~-]*")  # RFC 3986 unreserved, no dot segments


def normalize_path_prefix(text: str) -> str:
    """'' (none) or '/seg[/seg...]' without a trailing slash; ValueError with a one-line reason."""
    prefix = text.strip()
    if prefix == "":
        return ""
    example = "e.g. /prove or /prove/api"
    if not prefix.startswith("/") or prefix.strip("/") == "":
        raise ValueError(f"path prefix {text!r} must start with / and name at least one segment, {example}")
    prefix = prefix.rstrip("/")  # "/prove/" is "/prove": a serverURL often ends with a slash
    if len(prefix) > MAX_PREFIX_LENGTH:
        raise ValueError(f"path prefix is {len(prefix)} characters; it must be at most {MAX_PREFIX_LENGTH}")
    segments = prefix[1:].split("/")
    for segment in segments:
        if not _SEGMENT.fullmatch(segment):
            raise ValueError(
                f"path prefix {text!r}: segment {segment!r} must be letters, digits, '-', '_', '~' or '.' "
                f"(a dot not first; no empty segment, no percent-encoding), {example}"
            )
    if segments[0] in RESERVED_SEGMENTS:
        raise ValueError(
            f"path prefix {text!r} must not start with a path the emulator serves at the root "
            f"({', '.join('/' + s for s in RESERVED_SEGMENTS)})"
        )
    return prefix


def is_prove_api(operation: Operation) -> bool:
    """Prove's server API: /token, /v3/* and /v1/server/* (not the device channel, not the control plane)."""
    path = operation.path
    return path == "/token" or path.startswith("/v3/") or path.startswith("/v1/server/")


def prefixed_routes(routes: list[tuple[Operation, BaseRoute]], prefix: str) -> list[tuple[Operation, BaseRoute]]:
    """Prove's API routes again under `prefix`: the same endpoints (body rules, faults, rate limit,
    journal), each declared at its prefixed path so /openapi.json lists it."""
    if not prefix:
        return []
    extra: list[tuple[Operation, BaseRoute]] = []
    for operation, route in routes:
        if is_prove_api(operation) and isinstance(route, Route):
            path = prefix + operation.path
            extra.append((replace(operation, path=path), Route(path, route.endpoint, methods=[operation.method])))
    return extra
