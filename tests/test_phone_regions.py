"""Phone numbers read as Prove reads them (issue 9 item 6): the forms Prove accepts, each number's
region (libphonenumber, with Prove's sandbox ranges as US), and the rules that depend on it:
webhooks only for US numbers, Verified Users for Canadian numbers only with MNO consent, Pre-Fill
and Prove Identity only for US and Canadian numbers, Identity Manager's countryCode."""

from __future__ import annotations

from typing import Any

import phonenumbers
import pytest

from emulator.identities import EnrolledIdentity
from emulator.phone import normalize, region
from emulator.scenarios.model import Identity, Persona
from tests.prove_calls import ok, refused
from tests.webhook_receiver import WebhookReceiver

SHEILAKATHRYN = {"firstName": "Sheilakathryn", "lastName": "Butrimovich"}  # 2001004011, US short-term
ROZELLA = {"firstName": "Rozella", "lastName": "Kimpton"}  # 447968900002, international short-term
TORONTO = "4165550123"  # a Canadian number (no test user: the projects below take the default persona)
UK = "+447700900123"  # a UK number (Ofcom's drama range: libphonenumber calls it invalid, still GB)
US_OWN = "2025550101"  # the emulator's backend-only happy path


def lenient_project(emu, client_id: str, **settings: Any) -> str:
    """A project that serves any number (the default persona), so Canadian and UK numbers get through."""
    emu.put_project(client_id, clientSecret=f"{client_id}-secret", unknownNumbers="default-persona", **settings)
    return emu.access_token(client_id, f"{client_id}-secret")


def possession_verify(emu, phone: str, token: str | None = None, **names: str):
    body = {"firstName": "Casey", "lastName": "Client", **names, "phoneNumber": phone, "possessionType": "none"}
    return emu.post("/v3/verify", body, token=token)


def current_verify(emu, phone: str, kind: str = "verifiedUser", token: str | None = None):
    return emu.post("/v3/verify", {"phoneNumber": phone, "verificationType": kind,
                                   "firstName": "Casey", "lastName": "Client"}, token=token)


# -- forms and regions ------------------------------------------------------------------------------------


@pytest.mark.parametrize("written", ["2001004011", "12001004011", "+12001004011", " 2001004011 "])
def test_every_north_american_form_is_one_number(written):
    assert normalize(written) == "2001004011"
    assert region(written) == "US"


@pytest.mark.parametrize("number, expected", [
    ("2001004011", "US"),    # Prove's 200-100-xxxx sandbox range
    ("2005550123", "US"),    # Prove's example number (Jordan Lee)
    ("5550000000", "US"),    # Prove's 555 Mobile Auth users
    ("2025550101", "US"),    # the emulator's 202-555-01xx numbers
    (TORONTO, "CA"), ("+1" + TORONTO, "CA"), ("1" + TORONTO, "CA"),
    ("447968900002", "GB"),  # Rozella Kimpton: Prove writes her without '+'
    ("+447968900002", "GB"), (UK, "GB"),
    ("+2001004025", "EG"),   # '+' and country code 20: why Prove calls the Unify users international
    ("+33612345678", "FR"),
    ("+999123456789", "ZZ"),  # no such country code
    ("+80012345678", "ZZ"),   # international freephone: no country (libphonenumber's "001")
])
def test_the_region_of_each_number(number, expected):
    assert region(number) == expected


def test_the_sandbox_ranges_are_us_although_libphonenumber_calls_them_invalid():
    for number in ("2001004011", "2001001695", "2005550123", "5551111111"):
        assert not phonenumbers.is_valid_number(phonenumbers.parse("+1" + number))
        assert region(number) == "US"


def test_the_normal_form_stays_what_identities_and_the_catalogue_key_by():
    assert [normalize(n) for n in ("+2001004029", "447968900002", "+447968900002", "12001004011", "+14165550123")] \
        == ["2001004029", "447968900002", "447968900002", "2001004011", "4165550123"]


def test_every_accepted_form_finds_the_test_user_over_http(emu):
    for written in ("2001004011", "12001004011", "+12001004011"):
        assert ok(possession_verify(emu, written, **SHEILAKATHRYN))["success"] == "true", written
    for written in ("447968900002", "+447968900002"):  # international, no consent needed
        assert ok(possession_verify(emu, written, **ROZELLA))["success"] == "true", written


# -- webhooks: US numbers only ----------------------------------------------------------------------------


def _enrol(emu, phone: str, token: str | None = None, **names: str) -> str:
    reply = ok(possession_verify(emu, phone, token=token, **names))
    assert reply["success"] == "true", reply
    return ok(emu.post("/v3/verify-status", {"correlationId": reply["correlationId"]}, token=token))["identityId"]


def _trigger(emu, identity_id: str) -> dict[str, Any]:
    return ok(emu.http.post(f"/__emulator/identities/{identity_id}/events", json={"eventType": "DISCONNECT"}))


def test_webhooks_are_sent_for_us_numbers_and_suppressed_for_others_with_the_reason(emu):
    token = lenient_project(emu, "hooks-abroad", consentCountries=["CA"])
    with WebhookReceiver() as receiver:
        ok(emu.http.put("/__emulator/projects/hooks-abroad/webhook", json={"url": receiver.url}))
        us = _trigger(emu, _enrol(emu, US_OWN, token=token))
        abroad = {phone: _trigger(emu, _enrol(emu, phone, token=token, **names))
                  for phone, names in (("447968900002", ROZELLA), (TORONTO, {}), ("+33612345678", {}))}
        [request] = receiver.wait_for(1)
        assert request.json()[0]["phoneNumber"] == US_OWN
        assert us["status"] in ("scheduled", "sending", "delivered")
    for phone, delivery in abroad.items():
        assert delivery["status"] == "suppressed", delivery
        assert delivery["reason"].startswith("webhook notifications are only available for US-based phone numbers")
        assert phone in delivery["reason"]
    logged = ok(emu.http.get("/__emulator/webhooks/deliveries", params={"project": "hooks-abroad", "wait": 5}))
    assert sorted(d["status"] for d in logged["deliveries"]) == ["delivered", "suppressed", "suppressed", "suppressed"]


# -- Verified Users: Canadian numbers need MNO consent ---------------------------------------------------


@pytest.mark.parametrize("call", [possession_verify, current_verify], ids=["possession-based", "current"])
def test_a_canadian_number_needs_the_projects_consent(emu, call):
    without = lenient_project(emu, "no-consent")
    for written in (TORONTO, "+1" + TORONTO, "1" + TORONTO):
        message = refused(call(emu, written, token=without), 403, 8009)
        assert "MNO" in message and "consent" in message and "consentCountries" in message and "CA" in message
    assert ok(call(emu, US_OWN, token=without))["success"] == "true"  # US numbers need none
    with_consent = lenient_project(emu, "ca-consent", consentCountries=["CA"])
    assert ok(call(emu, TORONTO, token=with_consent))["success"] == "true"


def test_a_refused_canadian_number_leaves_no_flow(emu):
    token = lenient_project(emu, "no-consent")
    refused(possession_verify(emu, TORONTO, token=token), 403, 8009)
    refused(current_verify(emu, TORONTO, token=token), 403, 8009)
    assert ok(emu.http.get("/__emulator/flows", params={"project": "no-consent"}))["flows"] == []
    ok(possession_verify(emu, US_OWN, token=token))
    assert len(ok(emu.http.get("/__emulator/flows", params={"project": "no-consent"}))["flows"]) == 1


def test_a_batch_answers_a_canadian_number_without_consent_in_its_item(emu):
    token = lenient_project(emu, "no-consent")
    items = [{"phoneNumber": TORONTO, "firstName": "A", "lastName": "B"},
             {"phoneNumber": US_OWN, "firstName": "A", "lastName": "B"}]
    canadian, american = ok(emu.post("/v3/verify/batch", {"items": items}, token=token))["results"]
    assert canadian["success"] == "false" and "MNO" in canadian["error"]
    assert american["success"] == "true"


def test_consent_countries_are_a_project_setting(emu):
    created = emu.put_project("ca-consent", clientSecret="s", consentCountries=["CA"])
    assert created["consentCountries"] == ["CA"]
    assert ok(emu.http.get("/__emulator/projects/ca-consent"))["consentCountries"] == ["CA"]
    assert emu.put_project("plain", clientSecret="s")["consentCountries"] == []
    for bad in (["ca"], ["Canada"], "CA", [1]):
        reply = emu.http.put("/__emulator/projects/bad", json={"clientSecret": "s", "consentCountries": bad})
        assert "consentCountries" in refused(reply, 400, 8001)


# -- Pre-Fill and Prove Identity: US and Canadian numbers only -------------------------------------------


@pytest.mark.parametrize("phone", ["+447968900002", UK, "447968900002"])
def test_start_refuses_uk_numbers(emu, phone):
    token = lenient_project(emu, "uk-start")  # +447700900123 is no test user: the default persona takes it
    message = refused(emu.post("/v3/start", {"flowType": "mobile", "phoneNumber": phone}, token=token), 400, 8001)
    assert "'phoneNumber'" in message and "US or Canadian" in message and phone in message


def test_start_takes_us_and_canadian_numbers(emu):
    assert ok(emu.post("/v3/start", {"flowType": "mobile", "phoneNumber": "+12001001695"}))["correlationId"]
    token = lenient_project(emu, "canada")
    assert ok(emu.post("/v3/start", {"flowType": "mobile", "phoneNumber": TORONTO}, token=token))["correlationId"]


def test_a_uk_number_typed_into_the_web_sdk_is_refused_with_a_reprompt(emu):
    token = lenient_project(emu, "typed")
    started = ok(emu.post("/v3/start", {"flowType": "mobile"}, token=token))
    reply = emu.client(started["authToken"], "mobile/otp/start", {"mobileNumber": UK})
    assert set(reply) == {"data"} and "US or Canadian" in reply["data"]["message"]


def test_the_current_verifys_prefill_types_refuse_uk_numbers(emu):
    token = lenient_project(emu, "prefill-abroad")
    for kind in ("prefill", "prefillForBiz"):
        assert "US or Canadian" in refused(current_verify(emu, UK, kind, token=token), 400, 8001)


# -- Identity Manager: countryCode --------------------------------------------------------------------------


def test_country_code_is_the_numbers_region_unless_the_persona_says(emu):
    token = lenient_project(emu, "countries")
    expected = {"2001004031": "US", TORONTO: "CA", "+1" + TORONTO: "CA", UK: "GB"}
    for phone, country in expected.items():
        identity_id = ok(emu.post("/v3/identity", {"phoneNumber": phone}, token=token))["identityId"]
        record = ok(emu.http.get(f"/v3/identity/{identity_id}", headers={"Authorization": f"Bearer {token}"}))
        assert record["countryCode"] == country, phone
    rozella = _enrol(emu, "447968900002", **ROZELLA)  # her persona says GB
    assert ok(emu.http.get(f"/v3/identity/{rozella}",
                           headers={"Authorization": f"Bearer {emu.token}"}))["countryCode"] == "GB"


def test_a_personas_own_country_code_wins_over_the_numbers_region():
    said = Persona(key="said", identity=Identity(country_code="MX"))
    assert EnrolledIdentity("id-1", "p", "2025550101", said, 0.0).as_json()["countryCode"] == "MX"
    unsaid = Persona(key="unsaid")
    assert EnrolledIdentity("id-2", "p", "2025550101", unsaid, 0.0).as_json()["countryCode"] == "US"
