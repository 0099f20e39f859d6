"""Small helpers shared by the product tests (Pre-Fill, Unify, Identity Manager, personas).

They sit on top of the `emu` fixture of conftest.py, so every reply is still checked against
/openapi.json; they only shorten the assertions each test would otherwise repeat.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import httpx

OTP = "1234"  # Prove's sandbox code (reference §7)
IL_START = {"sourceIp": None, "isMobile": False}  # the desktop Web SDK's first Instant Link start
# The command's ready line (tests that start `prove-emulator` in a subprocess).
READY = re.compile(r"ready at (http://127\.0\.0\.1:\d+) \(client_id=sandbox-client-id client_secret=sandbox-client-secret")


def ok(reply: httpx.Response) -> dict[str, Any]:
    assert reply.status_code == 200, reply.text
    return reply.json()


def refused(reply: httpx.Response, status: int, code: int) -> str:
    """Assert a Prove error envelope with this status and code; returns its message."""
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert set(body) == {"code", "message"} and body["code"] == code, body
    return body["message"]


def project_token(emu, client_id: str, product: str) -> str:
    """An access token of a new project narrowed to one product (as Prove's Portal projects are)."""
    secret = f"{client_id}-secret"
    emu.put_project(client_id, clientSecret=secret, product=product)
    return emu.access_token(client_id, secret)


def auth_claims(auth_token: str) -> dict[str, Any]:
    """The authToken's `auth` claims, decoded the way the Web SDK does (standard base64, no check)."""
    segment = auth_token.split(".")[1]
    return json.loads(base64.b64decode(segment + "=" * (-len(segment) % 4), validate=True))["auth"]


def pass_otp(emu, auth_token: str, mobile_number: str | None = None) -> None:
    """Possession through the device channel, as the Web SDK does it: OTP start, then finish 1234."""
    body = {"mobileNumber": mobile_number} if mobile_number else {}
    assert emu.client(auth_token, "mobile/otp/start", body) == {"next": "mobile/otp"}
    assert emu.client(auth_token, "mobile/otp/finish", {"otp": OTP}) == {"next": "done"}


def pass_mobile_auth(emu, auth_token: str) -> dict[str, Any]:
    """Mobile Auth through the device channel, as the Web SDK does it over http: start, then finish with
    the vfp that the redirectUrl's testVfp hook hands the mobile-auth library. Returns finish's reply."""
    started = emu.client(auth_token, "mobile/instant/start", {"cellularIp": None, "implementation": "fetch"})
    vfp = httpx.URL(started["data"]["redirectUrl"]).params["testVfp"]
    return emu.client(auth_token, "mobile/instant/finish", {"vfp": vfp})


def click_instant_link(emu, auth_token: str, phone: str) -> httpx.Response:
    """The desktop Web SDK sends the Instant Link; the customer's phone opens it."""
    assert emu.client(auth_token, "mobile/instantlink/start", IL_START) == {"data": {}}
    return emu.click(emu.latest_link(phone))
