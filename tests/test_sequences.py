"""Outcome sequences over successive flows of a number, and persona faults counted per flow.

A persona's `sequence` lays each step's keys over the persona for the next `flows` flows of the
number in a project; after the last step the persona is as written. Flows count when they start
(verify, start, unify, auth start, or a number the customer types); lookups never count, and
POST /__emulator/reset restarts the counts. Persona faults count per flow (issue 9).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from emulator.personas import Personas
from emulator.projects import DEFAULT_CLIENT_ID, ProjectRegistry
from emulator.scenarios.loader import ScenarioError, default_pack_dir, load_catalogue
from emulator.service import Emulator
from tests.conftest import DESKTOP, MOBILE
from tests.prove_calls import OTP, ok, pass_otp, refused

FAILS_TWICE = "2025550128"  # the default pack: possession fails by itself twice, then succeeds
DATA_FAILS_FIRST = "2025550129"  # the default pack: the first flow's data check fails
STATUS_500 = "2025550110"  # the default pack: the first status call of every flow answers 500

# Numbers of this file's own scenario (outside the default pack's ranges).
OTP_REJECTED_TWICE = "3035550101"
UNIFY_FAILS_FIRST = "3035550102"
START_503 = "3035550103"
STEP_FAULT = "3035550104"
PATTERN_PREFIX = "30355502"

SCENARIO = f"""
personas:
  - id: otp-rejected-twice
    phoneNumber: "{OTP_REJECTED_TWICE}"
    checkName: false
    sequence:
      - {{flows: 2, possession: client-rejected}}   # flows 1 and 2: even 1234 is refused
  - id: unify-fails-first
    phoneNumber: "{UNIFY_FAILS_FIRST}"
    checkName: false
    possession: auto-success
    sequence: [{{unify: {{mode: fail}}}}]
  - id: start-503
    phoneNumber: "{START_503}"
    checkName: false
    possession: auto-success
    faults: [{{endpoint: /v3/verify, status: 503}}]
  - id: step-fault
    phoneNumber: "{STEP_FAULT}"
    checkName: false
    possession: auto-success
    sequence:
      - {{faults: [{{endpoint: /v3/verify-status, status: 500}}]}}
  - id: pattern-sequence
    pattern: "{PATTERN_PREFIX}[0-9]{{2}}"
    checkName: false
    possession: auto-success
    sequence: [{{possession: auto-failed}}]
"""

POSSESSION_FAILED = {"success": "false", "possessionResult": "failed", "verifyResult": "not_applicable"}
SUCCEEDED = {"success": "true", "possessionResult": "success", "verifyResult": "success"}


@pytest.fixture
def scenario(prove_emulator_server, tmp_path: Path) -> Iterator[None]:
    """This file's scenario loaded into the session's emulator, for one test."""
    emulator = prove_emulator_server.emulator
    (tmp_path / "sequences.yaml").write_text(SCENARIO)
    emulator.scenario_dirs.append(tmp_path)
    emulator.reload_scenarios()
    try:
        yield
    finally:
        emulator.scenario_dirs.remove(tmp_path)
        emulator.reload_scenarios()


def verify_results(emu, phone: str, possession: str = MOBILE) -> dict[str, str]:
    """One backend-only possession-based flow: verify, then verify-status's results."""
    started = emu.verify(phone, possession)
    return results(emu.status(started["correlationId"]))


def results(reply: dict[str, Any]) -> dict[str, str]:
    return {key: reply[key] for key in ("success", "possessionResult", "verifyResult")}


def current_verify(emu, phone: str) -> dict[str, Any]:
    return ok(emu.post("/v3/verify", {"phoneNumber": phone, "verificationType": "verifiedUser",
                                      "firstName": "Casey", "lastName": "Client"}))


def prefill_validate(emu, phone: str) -> dict[str, Any]:
    started = ok(emu.post("/v3/start", {"flowType": "mobile", "phoneNumber": phone}))
    return ok(emu.post("/v3/validate", {"correlationId": started["correlationId"]}))


# -- the scenario format -------------------------------------------------------------------------------


def load(tmp_path: Path, text: str):
    (tmp_path / "s.yaml").write_text(text)
    return load_catalogue([tmp_path])


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        load(tmp_path, text)
    return caught.value.problems


def test_each_step_covers_its_flows_then_the_persona_is_as_written(tmp_path):
    catalogue = load(tmp_path, """
personas:
  - phoneNumber: "3035550100"
    id: mixed
    possession: auto-success
    verification: {types: [verifiedUser], assuranceLevel: AL3}
    sequence:
      - {flows: 2, possession: auto-failed}
      - {}
      - {dataCheck: failed, verification: {success: false}}
""")
    persona = catalogue.find("3035550100", ("default",))
    steps = [persona.for_flow(n) for n in range(1, 7)]
    assert [step.possession.value for step in steps] == ["auto-failed"] * 2 + ["auto-success"] * 4
    assert [step.data_check for step in steps] == ["success"] * 3 + ["failed"] + ["success"] * 2
    assert persona.sequence_length == 4 and {step.key for step in steps} == {"mixed"}
    # A step's verification is laid over the persona's key by key: the types and level stay.
    fourth = steps[3]
    assert fourth.verification_types == {"verifiedUser"}
    assert fourth.verification["verifiedUser"].success is False
    assert fourth.verification["verifiedUser"].assurance_level == "AL3"


def test_bad_steps_are_reported_with_file_and_path(tmp_path):
    found = problems(tmp_path, """
personas:
  - phoneNumber: "3035550100"
    sequence:
      - {flows: 0}
      - {possession: sometimes}
      - {identity: {firstName: Ada}}
      - {faults: [{endpoint: /v9/nothing, status: 500}]}
  - phoneNumber: "3035550101"
    sequence: []
""")
    path = tmp_path / "s.yaml"
    assert f"{path}: personas[0].sequence[0].flows: 0 is less than the minimum of 1" in found
    assert any(p.startswith(f"{path}: personas[0].sequence[1].possession: 'sometimes' is not one of") for p in found)
    assert any(p.startswith(f"{path}: personas[0].sequence[2]: unknown key(s): identity (known: flows, possession,")
               for p in found)
    assert any(p.startswith(f"{path}: personas[1].sequence: [] should be non-empty") for p in found), found


def test_a_step_s_fault_endpoint_is_checked(tmp_path):
    found = problems(tmp_path, """
personas:
  - phoneNumber: "3035550100"
    sequence: [{}, {faults: [{endpoint: /v9/nothing, status: 500}]}]
""")
    assert len(found) == 1
    assert found[0].startswith(f"{tmp_path / 's.yaml'}: personas[0].sequence[1].faults[0].endpoint: "
                               "'/v9/nothing' is not an endpoint")


# -- sequences in every product ------------------------------------------------------------------------


def test_possession_based_verify_fails_twice_then_succeeds(emu):
    assert [verify_results(emu, FAILS_TWICE) for _ in range(4)] == [POSSESSION_FAILED] * 2 + [SUCCEEDED] * 2


def test_reset_restarts_the_sequence(emu):
    assert verify_results(emu, FAILS_TWICE) == POSSESSION_FAILED
    assert verify_results(emu, FAILS_TWICE) == POSSESSION_FAILED
    assert verify_results(emu, FAILS_TWICE) == SUCCEEDED
    emu.reset()
    assert verify_results(emu, FAILS_TWICE, DESKTOP) == POSSESSION_FAILED


def test_counts_are_per_project_and_a_project_reset_restarts_only_its_own(emu):
    emu.put_project("team-seq", clientSecret="seq")
    other = emu.access_token("team-seq", "seq")

    def other_results() -> dict[str, str]:
        started = ok(emu.post("/v3/verify", {"firstName": "A", "lastName": "B", "phoneNumber": FAILS_TWICE,
                                             "possessionType": "mobile"}, token=other))
        return results(ok(emu.post("/v3/verify-status", {"correlationId": started["correlationId"]}, token=other)))

    assert [verify_results(emu, FAILS_TWICE) for _ in range(2)] == [POSSESSION_FAILED] * 2
    assert other_results() == POSSESSION_FAILED  # the other project's first flow
    emu.reset("team-seq")
    assert [other_results() for _ in range(3)] == [POSSESSION_FAILED] * 2 + [SUCCEEDED]
    assert verify_results(emu, FAILS_TWICE) == SUCCEEDED  # the default project went on counting


def test_current_verify_data_check_fails_in_the_first_flow_only(emu):
    first, second = current_verify(emu, DATA_FAILS_FIRST), current_verify(emu, DATA_FAILS_FIRST)
    assert first["success"] == "false" and first["identity"]["assuranceLevel"] == "AL-1"
    assert second["success"] == "true"


def test_possession_based_verify_data_check_fails_in_the_first_flow_only(emu):
    failed = {"success": "false", "possessionResult": "success", "verifyResult": "failed"}
    assert [verify_results(emu, DATA_FAILS_FIRST) for _ in range(2)] == [failed, SUCCEEDED]


def test_pre_fill_validate_fails_twice_then_succeeds(emu):
    assert [prefill_validate(emu, FAILS_TWICE)["success"] for _ in range(3)] == [False, False, True]


def test_pre_fill_complete_follows_the_data_check_step(emu):
    def complete() -> bool:
        started = ok(emu.post("/v3/start", {"flowType": "mobile", "phoneNumber": DATA_FAILS_FIRST,
                                            "dob": "1990-04-12"}))
        cid = started["correlationId"]
        assert ok(emu.post("/v3/validate", {"correlationId": cid}))["success"] is True
        ok(emu.post("/v3/challenge", {"correlationId": cid}))
        individual = {"firstName": "Casey", "lastName": "Client", "dob": "1990-04-12", "ssn": "123456789"}
        return ok(emu.post("/v3/complete", {"correlationId": cid, "individual": individual}))["success"]

    assert [complete(), complete()] == [False, True]


def test_prove_auth_finish_fails_twice_then_succeeds(emu):
    def finish() -> str:
        started = ok(emu.post("/v1/server/auth/start", {"requestId": "req-1", "subjects": {"mobile": {
            "claim": {"mobileNumber": FAILS_TWICE}, "authenticators": {"otp": {"messageText": "#### is your code"}}}}}))
        subject = ok(emu.post("/v1/server/auth/finish", {"authId": started["authId"]}))["subjects"]["mobile"]
        return "success" if "success" in subject else str(subject["error"]["code"])

    assert [finish() for _ in range(3)] == ["10001", "10001", "success"]


def test_unify_status_fails_in_the_first_flow_then_succeeds(emu, scenario):
    def unify_status() -> str:
        started = ok(emu.post("/v3/unify", {"possessionType": "desktop", "phoneNumber": UNIFY_FAILS_FIRST,
                                            "finalTargetUrl": "https://app.example.com/done"}))
        return ok(emu.post("/v3/unify-status", {"correlationId": started["correlationId"]}))["success"]

    assert [unify_status(), unify_status()] == ["false", "true"]


def test_the_web_sdk_s_otp_is_refused_twice_then_accepted(emu, scenario):
    outcomes = []
    for _ in range(3):
        flow = emu.verify(OTP_REJECTED_TWICE, MOBILE)
        assert emu.client(flow["authToken"], "mobile/otp/start", {}) == {"next": "mobile/otp"}
        reply = emu.client(flow["authToken"], "mobile/otp/finish", {"otp": OTP})
        outcomes.append("error" not in reply and reply == {"next": "done"})
    assert outcomes == [False, False, True]


def test_a_number_typed_in_the_web_sdk_counts_as_one_of_its_flows(emu, scenario):
    # Pre-Fill without a number: the customer types it, so this flow is the number's first.
    started = ok(emu.post("/v3/start", {"flowType": "mobile"}))
    typed = emu.client(started["authToken"], "mobile/otp/start", {"mobileNumber": OTP_REJECTED_TWICE})
    assert typed == {"next": "mobile/otp"}
    assert "error" in emu.client(started["authToken"], "mobile/otp/finish", {"otp": OTP})
    second = emu.verify(OTP_REJECTED_TWICE, MOBILE)  # the second flow: still refused
    assert emu.client(second["authToken"], "mobile/otp/start", {}) == {"next": "mobile/otp"}
    assert "error" in emu.client(second["authToken"], "mobile/otp/finish", {"otp": OTP})
    third = emu.verify(OTP_REJECTED_TWICE, MOBILE)
    pass_otp(emu, third["authToken"])


def test_lookups_and_refused_calls_do_not_count(emu):
    for _ in range(3):  # Identity Manager looks the persona up; no flow starts
        ok(emu.post("/v3/identity", {"phoneNumber": DATA_FAILS_FIRST}))
    # Refused after the persona was looked up (an unknown proveId): no flow started.
    unknown = {"phoneNumber": DATA_FAILS_FIRST, "verificationType": "verifiedUser", "firstName": "Casey",
               "lastName": "Client", "proveId": "no-such-identity"}
    refused(emu.post("/v3/verify", unknown), 400, 8001)
    assert current_verify(emu, DATA_FAILS_FIRST)["success"] == "false"  # still the first flow
    assert current_verify(emu, DATA_FAILS_FIRST)["success"] == "true"


def test_a_pattern_persona_counts_each_number_apart(emu, scenario):
    first, second = PATTERN_PREFIX + "01", PATTERN_PREFIX + "02"
    assert verify_results(emu, first) == POSSESSION_FAILED
    assert verify_results(emu, second) == POSSESSION_FAILED
    assert verify_results(emu, first) == SUCCEEDED
    assert verify_results(emu, "+1" + second) == SUCCEEDED  # one number, however it is written


def test_counted_numbers_are_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr("emulator.personas.MAX_COUNTED_NUMBERS", 3)
    catalogue = load(tmp_path, """
personas:
  - pattern: "30355502[0-9]{2}"
    possession: auto-success
    sequence: [{possession: auto-failed}]
""")
    personas = Personas(ProjectRegistry(declared=[]), catalogue)
    project = "sandbox-client-id"

    def start(number: str) -> str:
        persona = personas.resolve(project, number)
        personas.count_flow(project, number, persona)
        return persona.possession.value

    numbers = [PATTERN_PREFIX + f"{n:02}" for n in range(6)]
    assert [start(number) for number in numbers[:5]] == ["auto-failed"] * 5
    assert len(personas._flows) == 3  # numbers 2, 3, 4
    assert start(numbers[2]) == "auto-success"  # still counted, and now the latest used
    assert start(numbers[5]) == "auto-failed"  # a new number: the least recently used (3) goes
    assert start(numbers[2]) == "auto-success"
    assert start(numbers[3]) == "auto-failed"  # dropped: its sequence started again
    assert len(personas._flows) == 3


# -- resent codes --------------------------------------------------------------------------------------


def test_a_random_code_never_repeats_one_the_flow_sent(monkeypatch):
    emulator = Emulator(catalogue=load_catalogue([default_pack_dir()]))
    project = emulator.projects.get(DEFAULT_CLIENT_ID)
    assert project is not None
    reply = emulator.verified_users.verify(project, {"firstName": "A", "lastName": "B", "phoneNumber": "2025550109",
                                                     "possessionType": "mobile"})
    flow = emulator.flows.get(DEFAULT_CLIENT_ID, reply["correlationId"])
    assert flow is not None and flow.possession is not None
    digits = iter("1111" "1111" "2222")  # the draw repeats the first code once
    monkeypatch.setattr("emulator.flows.possession.secrets.choice", lambda _: next(digits))
    emulator.possession.otp_start(flow, {})
    assert flow.possession.code == "1111"
    emulator.possession.otp_start(flow, {})  # the resend draws 1111 again: drawn anew
    assert flow.possession.code == "2222"


# -- persona faults count per flow ------------------------------------------------------------------------


def test_the_first_verify_status_of_every_flow_answers_500(emu):
    # Two flows at once: each flow's own first status call is faulted, whatever the other did.
    flows = [emu.verify(STATUS_500, MOBILE)["correlationId"] for _ in range(2)]
    for correlation_id in flows:
        refused(emu.post("/v3/verify-status", {"correlationId": correlation_id}), 500, 8000)
    for correlation_id in flows:
        assert emu.status(correlation_id)["success"] == "true"  # the flow's second call
    later = emu.verify(STATUS_500, MOBILE)["correlationId"]
    refused(emu.post("/v3/verify-status", {"correlationId": later}), 500, 8000)


def test_the_first_validate_of_every_flow_answers_500(emu):
    flows = [ok(emu.post("/v3/start", {"flowType": "mobile", "phoneNumber": STATUS_500}))["correlationId"]
             for _ in range(2)]
    for correlation_id in flows:
        refused(emu.post("/v3/validate", {"correlationId": correlation_id}), 500, 8000)
    for correlation_id in flows:
        assert ok(emu.post("/v3/validate", {"correlationId": correlation_id}))["success"] is True


def test_the_first_unify_status_of_every_flow_answers_500(emu):
    flows = [ok(emu.post("/v3/unify", {"possessionType": "desktop", "phoneNumber": STATUS_500,
                                       "finalTargetUrl": "https://app.example.com/done"}))["correlationId"]
             for _ in range(2)]
    for correlation_id in flows:
        refused(emu.post("/v3/unify-status", {"correlationId": correlation_id}), 500, 8000)
    for correlation_id in flows:
        assert ok(emu.post("/v3/unify-status", {"correlationId": correlation_id}))["success"] == "true"


def test_a_faulted_start_starts_no_flow_so_the_retry_goes_through_and_the_next_flow_is_faulted_again(emu, scenario):
    body = {"firstName": "A", "lastName": "B", "phoneNumber": START_503, "possessionType": "mobile"}
    for _ in range(2):
        refused(emu.post("/v3/verify", body), 503, 8000)
        ok(emu.post("/v3/verify", body))


def test_a_step_s_faults_apply_to_its_flows_only(emu, scenario):
    first = emu.verify(STEP_FAULT, MOBILE)
    refused(emu.post("/v3/verify-status", {"correlationId": first["correlationId"]}), 500, 8000)
    second = emu.verify(STEP_FAULT, MOBILE)
    assert emu.status(second["correlationId"])["success"] == "true"
    assert emu.status(first["correlationId"])["success"] == "true"


def test_a_flow_s_fault_counts_go_when_it_expires(emu, prove_emulator_server):
    faults = prove_emulator_server.emulator.faults
    emu.freeze()
    started = emu.verify(STATUS_500, MOBILE)
    refused(emu.post("/v3/verify-status", {"correlationId": started["correlationId"]}), 500, 8000)
    assert faults.counted_flows == 1
    emu.advance(15 * 60)
    assert faults.counted_flows == 0
