"""The emulator's web UI: its static files (emulator/ui/), and `/` sending a browser there.

The files hold no secrets, so they are served without the admin token (emulator/access.py
`Surface.UI`; the Host check still applies); the page's own calls send the token. They are read on
each request (a few KB, no build step) and carry an ETag, so a reload costs a 304.

The page comes with its style sheet and script inlined, each allowed by its hash in the page's CSP: a
fresh browser then asks for data after one round trip instead of two, which took some 70 ms off the
first page's time to usable on the 2-core development machine (bench/ui_first_page.py). The files
stay plain files, served on their own too, and index.html as written (linking them) works unchanged.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from emulator.errors import not_found
from emulator.http.api import Operation, Param, control_api
from emulator.http.control import PREFIX

STATIC = Path(__file__).resolve().parent.parent / "ui"
PAGE_PATH = PREFIX + "/ui"
ASSETS = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}
TAG = "Web UI"
# The page runs only its own script and style (inlined, by their hashes) and talks only to the emulator;
# no other site may frame it (its buttons change state).
CSP = ("default-src 'none'; script-src 'self'{script}; style-src 'self'{style}; connect-src 'self'; "
       "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
# How index.html links its files, and what each becomes inlined.
INLINED = {
    "app.css": ('<link rel="stylesheet" href="/__emulator/ui/app.css">', "style"),
    "app.js": ('<script src="/__emulator/ui/app.js"></script>', "script"),
}
_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_NOT_MODIFIED = {"304": {"description": "Unchanged since the ETag sent in If-None-Match."}}

PAGE = Operation(
    method="GET", path=PAGE_PATH, tag=TAG,
    summary="The web UI: the phone (SMS as they arrive, customer actions), flows, test numbers, webhooks, clock. "
            "Served without the admin token; the page asks for it (or reads #token=...) when one is set.",
    other_responses={"200": {"description": "The page.", "content": {"text/html": {}}}, **_NOT_MODIFIED},
)
ASSET = Operation(
    method="GET", path=PAGE_PATH + "/{asset}", tag=TAG, summary="The web UI's script and style sheet.",
    params=(Param("asset", "path", {"enum": list(ASSETS)}, required=True),),
    other_responses={"200": {"description": "The file.", "content": {"text/javascript": {}, "text/css": {}}},
                     **_NOT_MODIFIED, "404": {"description": "No such file.", "content": _ERROR}},
)
# Served by RootRedirect below, not by a route: every other request to / keeps its 404.
ROOT = Operation(
    method="GET", path="/", tag=TAG, summary="A browser (Accept: text/html) is sent to the web UI; others get 404.",
    other_responses={"307": {"description": f"To {PAGE_PATH}."}, "404": {"description": "Not a browser.",
                                                                         "content": _ERROR}},
)


def _source_hash(text: str) -> str:
    return f" 'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"


def inlined_page() -> tuple[bytes, str]:
    """index.html with its files inlined where it links them, and the CSP that allows exactly those."""
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    hashes = {"script": "", "style": ""}
    for name, (link, tag) in INLINED.items():
        text = (STATIC / name).read_text(encoding="utf-8")
        if link in page and f"</{tag}" not in text.lower():  # else it could end its element early: linked
            page = page.replace(link, f"<{tag}>{text}</{tag}>")
            hashes[tag] += _source_hash(text)
    return page.encode(), CSP.format(**hashes)


def _reply(body: bytes, media_type: str, policy: str, request: Request) -> Response:
    etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache", "Content-Security-Policy": policy, **SECURITY_HEADERS}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


async def page(request: Request) -> Response:
    body, policy = inlined_page()
    return _reply(body, "text/html; charset=utf-8", policy, request)


async def asset(request: Request) -> Response:
    name = request.path_params["asset"]
    if name not in ASSETS:
        raise not_found(request.url.path)
    return _reply((STATIC / name).read_bytes(), ASSETS[name], CSP.format(script="", style=""), request)


def wants_html(headers: Headers) -> bool:
    return "text/html" in headers.get("accept", "").lower()


class RootRedirect:
    """`GET /` from a browser goes to the UI; curl and every other method still get the 404."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["path"] == "/" and scope["method"] in ("GET", "HEAD")
                and wants_html(Headers(scope=scope))):
            await RedirectResponse(PAGE_PATH, status_code=307)(scope, receive, send)
            return
        await self.app(scope, receive, send)


ROUTES: list[tuple[Operation, BaseRoute]] = [(PAGE, control_api(PAGE, page)), (ASSET, control_api(ASSET, asset))]
