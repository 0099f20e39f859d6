"""Every published sandbox test user (reference §7) gets its documented outcome through its product.

The personas are read from the scenario files themselves (those whose `source` is prove), so a user
added there is tested here too. The outcome each one should get is what its scenario entry says:
`possession` (auto-success = short-term, no client SDK needed; otherwise the test plays the Web SDK),
`dataCheck` and `unify.mode`. Each product runs on a project narrowed to it, as in Prove's Portal.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from emulator.phone import normalize
from emulator.projects import PRODUCTS
from emulator.scenarios.loader import default_pack_dir, load_catalogue
from emulator.scenarios.model import Catalogue
from tests.prove_calls import auth_claims, ok, pass_mobile_auth, pass_otp, project_token, refused
from tests.soft_device import SoftDevice


@functools.cache
def default_catalogue() -> Catalogue:
    return load_catalogue([default_pack_dir()])


def _scenario_personas() -> list[dict[str, Any]]:
    personas: list[dict[str, Any]] = []
    for path in sorted(Path(default_pack_dir()).glob("*.yaml")):
        personas.extend(yaml.safe_load(path.read_text(encoding="utf-8"))["personas"])
    return personas


PROVE_PERSONAS = [persona for persona in _scenario_personas() if persona.get("source") == "prove"]

# Reference §7, by hand: every number Prove publishes, with the first name it gives.
# (Kurt Mathen's and Janek Ambrogio's numbers were unreadable, so they cannot be listed.)
REFERENCE_USERS = {
    # §7.1 Pre-Fill
    "2001001695": "Milo", "2001001693": "Marcia", "2001001688": "Nevin", "2001001687": "Agretha",
    "5550000000": "Cathee", "5555555555": "Van",
    # §7.2 Prove Identity
    "2001004000": "Martina", "2001004009": "Benji", "2001001698": "Enid", "2001001699": "Carney",
    "5551111111": "Lena", "5552222222": "Axe",
    # §7.3, §7.4 Verified Users and the newer /v3/verify users
    "2001004011": "Sheilakathryn", "447968900002": "Rozella",
    "2001004053": "Elena", "2001004049": "Bettina", "2001004051": "Ewen", "2001004052": "Hilary",
    # §7.5 Unify
    "2001004018": "Barbaraanne", "+2001004029": "Janos", "2001004014": "Lorant", "2001004015": "Laney",
    "+2001004025": "Bertie", "+2001004026": "Bonnie", "2001004016": "Inge", "2001004017": "Jesse",
    "2001004041": "Penny", "+2001004027": "Allissa", "+2001004028": "Wendy", "+2001004043": "Amii",
    # §7.6 Identity Manager (2001004032 is from Prove's batch example, not the table)
    "2001004031": "Merla", "2001004035": "Jaimie", "2001004036": "Stanly", "2001004032": None,
}


def _id(persona: dict[str, Any]) -> str:
    return f"{persona['phoneNumber']}-{persona['identity'].get('firstName', '')}"


def short_term(persona: dict[str, Any]) -> bool:
    return persona.get("possession") == "auto-success"


def data_ok(persona: dict[str, Any]) -> bool:
    return persona.get("dataCheck", "success") == "success"


def individual(persona: dict[str, Any]) -> dict[str, Any]:
    """The persona's identity as the complete request's `individual`."""
    identity = persona["identity"]
    out = {key: identity[key] for key in ("firstName", "lastName", "dob", "ssn") if key in identity}
    if identity.get("addresses"):
        out["addresses"] = [identity["addresses"][0]]
    if identity.get("emailAddresses"):
        out["emailAddresses"] = [identity["emailAddresses"][0]]
    return out


def possession(emu, persona: dict[str, Any], auth_token: str) -> None:
    """Short-term users need no client SDK; the others pass the OTP through the device channel."""
    if not short_term(persona):
        pass_otp(emu, auth_token)


# -- one flow per product ---------------------------------------------------------------------------------


def run_pre_fill(emu, persona: dict[str, Any], token: str) -> None:
    phone, identity = persona["phoneNumber"], persona["identity"]
    started = ok(emu.post("/v3/start", {"flowType": "mobile", "phoneNumber": phone}, token=token))
    possession(emu, persona, started["authToken"])
    correlation_id = started["correlationId"]
    validated = ok(emu.post("/v3/validate", {"correlationId": correlation_id}, token=token))
    assert validated == {"success": True, "challengeMissing": True, "phoneNumber": phone,
                         "next": {"v3-challenge": "/v3/challenge"}}
    challenged = ok(emu.post("/v3/challenge", {"correlationId": correlation_id, "dob": identity["dob"]}, token=token))
    assert challenged["success"] is True and challenged["next"] == {"v3-complete": "/v3/complete"}
    returned = challenged["individual"]
    assert (returned["firstName"], returned["lastName"], returned["ssn"]) == (
        identity["firstName"], identity["lastName"], identity["ssn"])
    assert returned["addresses"] == identity["addresses"]
    completed = ok(emu.post("/v3/complete", {"correlationId": correlation_id, "individual": individual(persona)},
                            token=token))
    assert completed == {"success": data_ok(persona), "next": {"done": "done"}}


def run_prove_identity(emu, persona: dict[str, Any], token: str) -> None:
    phone = persona["phoneNumber"]
    started = ok(emu.post("/v3/start", {"flowType": "mobile", "phoneNumber": phone}, token=token))
    possession(emu, persona, started["authToken"])
    correlation_id = started["correlationId"]
    validated = ok(emu.post("/v3/validate", {"correlationId": correlation_id}, token=token))
    assert validated == {"success": True, "challengeMissing": False, "phoneNumber": phone,
                         "next": {"v3-complete": "/v3/complete"}}
    completed = ok(emu.post("/v3/complete", {"correlationId": correlation_id, "individual": individual(persona)},
                            token=token))
    assert completed["success"] is data_ok(persona) and completed["next"] == {"done": "done"}
    assert completed["idv"]["multiCIPConfidence"] == ("high" if data_ok(persona) else "low")
    assert completed["idv"]["dataSource1"]["name"]["nameScore"] == 100
    assert completed["kyc"] == {"totalHits": 0}


def run_verified_users(emu, persona: dict[str, Any], token: str) -> None:
    identity = persona["identity"]
    body = {"firstName": identity["firstName"], "lastName": identity["lastName"],
            "phoneNumber": persona["phoneNumber"], "possessionType": "mobile"}
    verified = ok(emu.post("/v3/verify", body, token=token))
    assert (verified["success"], verified["possessionResult"], verified["verifyResult"]) == ("pending",) * 3
    possession(emu, persona, verified["authToken"])
    status = ok(emu.post("/v3/verify-status", {"correlationId": verified["correlationId"]}, token=token))
    if data_ok(persona):
        assert status.pop("identityId")
        assert status == {"success": "true", "possessionResult": "success", "verifyResult": "success"}
    else:
        assert status == {"success": "false", "possessionResult": "success", "verifyResult": "failed"}


def run_unify(emu, persona: dict[str, Any], token: str) -> None:
    """On mobile: short-term users need no client; Mobile Auth users start at mobile/instant (the
    carrier recognises them); the others at the Prove Key, whose registration OTP then binds."""
    phone = persona["phoneNumber"]
    started = ok(emu.post("/v3/unify", {"possessionType": "mobile", "phoneNumber": phone}, token=token))
    mobile_auth = "mobileAuth" in persona.get("unify", {})
    first_step = "mobile/otp" if short_term(persona) else "mobile/instant" if mobile_auth else "device/passive"
    assert started["success"] == "pending" and auth_claims(started["authToken"])["next"] == first_step
    device = SoftDevice()
    if first_step == "mobile/instant":
        assert pass_mobile_auth(emu, started["authToken"]) == {"next": "done"}  # no SMS
        assert emu.sms(correlation_id=started["correlationId"]) == []
    elif first_step == "device/passive":
        assert device.register(emu, started["authToken"])["next"] == "mobile/otp"
        pass_otp(emu, started["authToken"])
    status = ok(emu.post("/v3/unify-status", {"correlationId": started["correlationId"]}, token=token))
    assert status["success"] == "true" and status["phoneNumber"] == phone and status["proveId"]
    has_prove_key = persona.get("unify", {}).get("mode", "prove-key") == "prove-key"
    assert ("deviceId" in status) is has_prove_key  # short-term users create no Prove Key
    if first_step == "device/passive":
        assert status["deviceId"] == device.device_id  # the browser's own key


def run_identity_manager(emu, persona: dict[str, Any], token: str) -> None:
    phone = persona["phoneNumber"]
    enrolled = ok(emu.post("/v3/identity", {"phoneNumber": phone}, token=token))
    assert enrolled["success"] is True
    headers = {"Authorization": f"Bearer {token}"}
    record = ok(emu.http.get(f"/v3/identity/{enrolled['identityId']}", headers=headers))
    assert record["phoneNumber"] == phone and record["active"] is True
    assert ok(emu.http.get(f"/v3/identity/{phone}/lookup", headers=headers))["items"] == [record]


RUNS: dict[str, Callable[[Any, dict[str, Any], str], None]] = {
    "pre-fill": run_pre_fill,
    "prove-identity": run_prove_identity,
    "verified-users": run_verified_users,
    "unify": run_unify,
    "identity-manager": run_identity_manager,
}

PERSONA_PRODUCTS = [
    pytest.param(persona, product, id=f"{_id(persona)}-{product}")
    for persona in PROVE_PERSONAS
    for product in persona["products"]
]


@pytest.mark.parametrize(("persona", "product"), PERSONA_PRODUCTS)
def test_each_sandbox_user_gets_its_documented_outcome(emu, persona, product):
    RUNS[product](emu, persona, project_token(emu, f"{product}-only", product))


# -- without the client SDK ----------------------------------------------------------------------------------

START_PRODUCTS = [
    pytest.param(persona, product, id=f"{_id(persona)}-{product}")
    for persona in PROVE_PERSONAS
    for product in persona["products"]
    if product in ("pre-fill", "prove-identity")
]


@pytest.mark.parametrize(("persona", "product"), START_PRODUCTS)
def test_only_short_term_users_pass_validate_without_the_client_sdk(emu, persona, product):
    token = project_token(emu, f"{product}-only", product)
    started = ok(emu.post("/v3/start", {"flowType": "mobile", "phoneNumber": persona["phoneNumber"]}, token=token))
    validated = ok(emu.post("/v3/validate", {"correlationId": started["correlationId"]}, token=token))
    assert validated["success"] is short_term(persona)


@pytest.mark.parametrize("persona", PROVE_PERSONAS, ids=_id)
def test_short_term_users_and_only_they_are_described_as_such(persona):
    assert ("short-term" in persona["description"]) is short_term(persona)


# -- 8009 on a project narrowed to another product --------------------------------------------------------


def _first_call(product: str, phone: str) -> tuple[str, dict[str, Any]]:
    """The call that starts `product`'s flow for a number."""
    if product in ("pre-fill", "prove-identity"):
        return "/v3/start", {"flowType": "mobile", "phoneNumber": phone}
    if product == "verified-users":
        return "/v3/verify", {"firstName": "A", "lastName": "B", "phoneNumber": phone, "possessionType": "none"}
    if product == "unify":
        return "/v3/unify", {"possessionType": "none", "phoneNumber": phone}
    return "/v3/identity", {"phoneNumber": phone}


OTHER_PRODUCTS = [
    pytest.param(persona, product, id=f"{_id(persona)}-on-{product}")
    for persona in PROVE_PERSONAS
    for product in PRODUCTS
    if product not in persona["products"]
]


@pytest.mark.parametrize(("persona", "product"), OTHER_PRODUCTS)
def test_each_sandbox_user_is_refused_with_8009_by_another_product(emu, persona, product):
    token = project_token(emu, f"{product}-only", product)
    path, body = _first_call(product, persona["phoneNumber"])
    message = refused(emu.post(path, body, token=token), 403, 8009)
    assert persona["phoneNumber"] in message


# -- the default pack covers reference §7 -------------------------------------------------------------------


def test_every_prove_persona_serves_at_least_one_product():
    assert PROVE_PERSONAS and all(persona["products"] for persona in PROVE_PERSONAS)


@pytest.mark.parametrize(("phone", "first_name"), REFERENCE_USERS.items())
def test_the_default_pack_covers_every_published_number(phone, first_name):
    persona = default_catalogue().find(phone, ("default",))
    assert persona is not None and persona.source == "prove", phone
    assert persona.phone_number == normalize(phone)  # an exact entry, not a catch-all pattern
    if first_name is not None:
        assert persona.identity.first_name == first_name
