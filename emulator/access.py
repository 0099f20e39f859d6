"""Who may call what: CORS per surface, and the control plane's Host, origin and admin-token checks.

Prove's `/token`, `/v3/*` and `/v1/server/*` are server-to-server: only the Web SDK's `/v1/client/*`
answer browsers (CONTRACT "CORS and the control plane"). The control plane hands out SMS codes,
webhook secrets and projects' client secrets, so it answers only requests that name the emulator in
their Host (DNS rebinding sends the attacker's name), never a page of another origin, and, when one
is set, only with the admin token.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from enum import Enum
from typing import Iterable

from emulator.errors import ProveError

CONTROL_SEGMENT = "__emulator"
DEVICE_PREFIX = "/v1/client/"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})
ADMIN_TOKEN_HEADER = "X-Emulator-Token"
CORS_API_FLAG = "--cors-api"
ALLOWED_HOSTS_FLAG = "--allowed-hosts"

_HOST = re.compile(r"(?P<name>\[[0-9a-f:.]+\]|[a-z0-9._-]+)(?::(?P<port>[0-9]{1,5}))?")


class Surface(Enum):
    API = "api"  # Prove's server-to-server API (and unknown routes)
    DEVICE = "device"  # the Web SDK's device channel: browsers call it cross-origin
    SPEC = "spec"  # /openapi.json: a public description, readable from anywhere
    HEALTH = "health"  # liveness: public too, so container and orchestrator probes need no secret
    LINK = "link"  # the Instant Link click: the customer's phone, which has no admin token
    UI = "ui"  # the web UI's static files: no secrets in them; the page's own calls send the admin token
    CONTROL = "control"  # everything else under /__emulator


def surface_of(path: str) -> Surface:
    segments = path.split("/")
    # At the root only: --path-prefix serves Prove's API alone under its prefix (emulator/http/prefix.py).
    if segments[:2] == ["", CONTROL_SEGMENT]:
        tail = segments[2:]
        if tail == ["health"]:
            return Surface.HEALTH
        if len(tail) == 2 and tail[0] == "link":
            return Surface.LINK
        if tail == ["ui"] or (len(tail) == 2 and tail[0] == "ui"):
            return Surface.UI
        return Surface.CONTROL
    if path == "/openapi.json":
        return Surface.SPEC
    if path.startswith(DEVICE_PREFIX) or path == DEVICE_PREFIX.rstrip("/"):
        return Surface.DEVICE
    return Surface.API


def host_name(host_header: str) -> str | None:
    """The name of a Host header value without its port ("[::1]:7768" -> "[::1]"); None if malformed."""
    match = _HOST.fullmatch(host_header.strip().lower())
    if match is None or (match["port"] is not None and int(match["port"]) > 65535):
        return None
    return match["name"].rstrip(".") or None


def origin_host(origin: str) -> str | None:
    """The host name of a serialized origin ("http://localhost:9000" -> "localhost")."""
    _, sep, authority = origin.partition("://")
    return host_name(authority) if sep else None


def check_host_names(names: Iterable[str]) -> tuple[str, ...]:
    """Validate --allowed-hosts entries: bare host names (any port is accepted for each)."""
    checked: list[str] = []
    for raw in names:
        name = raw.strip().lower()
        if not name:
            continue
        if host_name(name) != name.rstrip("."):
            raise ValueError(f"allowed host {raw!r} must be a bare host name, e.g. emulator or 192.168.1.5 "
                             "(no scheme, port or path: any port is accepted)")
        checked.append(name.rstrip("."))
    return tuple(checked)


def is_cross_origin(origin: str | None, own_origins: Iterable[str]) -> bool:
    """A browser's call from a page of another origin (non-browser clients send no Origin)."""
    return origin is not None and origin.strip().lower() not in {o.lower() for o in own_origins}


def area_of(path: str) -> str:
    """How the notes name the part of Prove's API a path is in ("/prove/v3/verify" -> "/prove/v3")."""
    for area in ("/v3", "/v1/server"):
        at = (path + "/").find(area + "/")
        if at >= 0:
            return path[:at] + area
    return path


@dataclass(frozen=True)
class AccessPolicy:
    cors_api: bool = False  # --cors-api: let browsers call /token, /v3/* and /v1/server/* too
    admin_token: str | None = None  # --admin-token: the control plane then requires it
    allowed_hosts: tuple[str, ...] = ()  # --allowed-hosts: more names the control plane answers to

    def host_names(self, public_origin: str | None) -> set[str]:
        names = set(LOOPBACK_HOSTS) | set(self.allowed_hosts)
        public = origin_host(public_origin) if public_origin else None
        if public:
            names.add(public)
        return names

    def control_refusal(self, surface: Surface, host: str | None, origin: str | None, token: str | None,
                        own_origins: Iterable[str], public_origin: str | None) -> ProveError | None:
        """Why the control plane refuses this call, or None. Checked in order: Host, origin, token."""
        if surface not in (Surface.CONTROL, Surface.LINK, Surface.UI):  # health and the spec are public
            return None
        names = self.host_names(public_origin)
        if host is None or host_name(host) not in names:
            return misdirected(host, sorted(names))
        if surface is Surface.LINK:
            return None  # opened by the customer's phone: no Origin to check, no admin token to send
        if surface is Surface.UI:
            return None  # static files a browser opens; without CORS headers no other origin can read them
        if is_cross_origin(origin, own_origins):
            return cross_origin_control(origin or "")
        if self.admin_token is not None and not (token and hmac.compare_digest(token.encode(), self.admin_token.encode())):
            return admin_token_needed(token is not None)
        return None


# -- the refusals ------------------------------------------------------------------------------------


def misdirected(host: str | None, names: list[str]) -> ProveError:
    shown = repr(host) if host is not None else "missing"
    return ProveError(
        421,
        8001,
        f"the Host header ({shown}) does not name this emulator: the control plane answers only "
        f"{', '.join(names)} (any port); add names with {ALLOWED_HOSTS_FLAG} or --public-url",
    )


def cross_origin_control(origin: str) -> ProveError:
    return ProveError(
        403,
        8003,
        f"cross-origin call refused: the control plane (/__emulator) never answers a web page of another "
        f"origin ({origin}); call it from your tests or tools",
    )


def admin_token_needed(presented: bool) -> ProveError:
    what = "the admin token sent is wrong" if presented else "the admin token is missing"
    return ProveError(
        401,
        8002,
        f"not authorized: {what}; the control plane needs the {ADMIN_TOKEN_HEADER} header with the token "
        "set by --admin-token (PROVE_EMULATOR_ADMIN_TOKEN)",
    )


def refused_preflight(path: str, origin: str) -> ProveError:
    return ProveError(403, 8003, refused_preflight_note(path, origin))


def refused_preflight_note(path: str, origin: str) -> str:
    return (f"cross-origin call refused (preflight from {origin}): {area_of(path)} is server-to-server at "
            f"Prove, so it gives no CORS allowance; {CORS_API_FLAG} opens it")


def withheld_reply_note(path: str, origin: str) -> str:
    return (f"cross-origin call refused (from {origin}; no CORS allowance, so the browser withholds this "
            f"reply from the page): {area_of(path)} is server-to-server at Prove; {CORS_API_FLAG} opens it")
