"""The Verified Users flow as a state machine, driven without HTTP (the service object directly)."""

from __future__ import annotations

import pytest

from emulator.errors import ProveError
from emulator.projects import DEFAULT_PROJECT
from emulator.service import Emulator


@pytest.fixture
def emulator() -> Emulator:
    service = Emulator()
    service.clock.freeze()
    return service


def verify(emulator: Emulator, phone: str, possession: str, **extra) -> str:
    request = {"firstName": "Casey", "lastName": "Client", "phoneNumber": phone, "possessionType": possession,
               "finalTargetUrl": "https://app.example.com/done", **extra}
    return emulator.verified_users.verify(DEFAULT_PROJECT, request)["correlationId"]


def status(emulator: Emulator, correlation_id: str) -> tuple[str, str, str]:
    reply = emulator.verified_users.verify_status(DEFAULT_PROJECT, {"correlationId": correlation_id})
    return reply["success"], reply["possessionResult"], reply["verifyResult"]


def test_otp_success_then_final(emulator):
    flow_id = verify(emulator, "2025550100", "mobile")
    flow = emulator.flows.get(DEFAULT_PROJECT.client_id, flow_id)
    assert emulator.possession.otp_start(flow, {}).as_json() == {"next": "mobile/otp"}
    assert status(emulator, flow_id) == ("pending", "pending", "pending")
    assert emulator.possession.otp_finish(flow, {"otp": "1234"}).as_json() == {"next": "done"}
    assert status(emulator, flow_id) == ("true", "success", "success")
    # final results never change, whatever the client does afterwards
    emulator.possession.client_error(flow, {"message": "late cancel"}, flow.possession.method)
    emulator.possession.otp_finish(flow, {"otp": "0000"})
    assert status(emulator, flow_id) == ("true", "success", "success")


def test_wrong_code_without_retry_fails_at_once(emulator):
    flow_id = verify(emulator, "2025550100", "mobile")
    flow = emulator.flows.get(DEFAULT_PROJECT.client_id, flow_id)
    emulator.possession.otp_start(flow, {})
    reply = emulator.possession.otp_finish(flow, {"otp": "9999"}).as_json()
    assert reply == {"error": {"code": 10001, "message": "the code is incorrect"}, "next": "done"}
    assert status(emulator, flow_id) == ("false", "failed", "not_applicable")


def test_otp_expires_on_the_clock(emulator):
    flow_id = verify(emulator, "2025550100", "mobile")
    flow = emulator.flows.get(DEFAULT_PROJECT.client_id, flow_id)
    emulator.possession.otp_start(flow, {})
    emulator.clock.advance(120)
    assert status(emulator, flow_id) == ("false", "failed", "not_applicable")
    assert emulator.possession.otp_finish(flow, {"otp": "1234"}).error["message"] == "the code expired"


def test_instant_link_click_succeeds_and_tells_the_socket(emulator):
    flow_id = verify(emulator, "2025550100", "desktop")
    flow = emulator.flows.get(DEFAULT_PROJECT.client_id, flow_id)
    assert emulator.possession.instant_link_start(flow, {"sourceIp": None, "isMobile": False}, "data").as_json() == {
        "data": {}}
    link_id = flow.possession.link_id
    outcome, _, landing = emulator.possession.click(link_id)
    assert (outcome, landing) == ("succeeded", "https://app.example.com/done")
    told: list[tuple[str, bool]] = []
    emulator.channels.subscribe(flow.auth_id, lambda text, close: told.append((text, close)))
    assert told == [('{"next":"done"}', False)]
    assert status(emulator, flow_id) == ("true", "success", "success")


def test_flow_expiry_removes_the_flow(emulator):
    flow_id = verify(emulator, "2025550101", "mobile")
    emulator.clock.advance(15 * 60)
    with pytest.raises(ProveError) as caught:
        status(emulator, flow_id)
    assert caught.value.code == 8008
    assert len(emulator.flows) == 0 and emulator.possession.links == {}
