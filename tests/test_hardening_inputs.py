"""Issue 9 hardening, inputs: the clock's range, finite numbers, clients that leave mid-body, and one
declaration for the spec and the validator.

- The clock shows instants from 1970-01-01T00:00:00Z to 9000-01-01T00:00:00Z; a move outside is
  400/8001 naming `set` or `advance`, and nothing of the move is applied.
- NaN, Infinity, -Infinity and numbers beyond a double (1e400) are refused with 400/8001 naming the
  field, on every endpoint family; no reply can carry them.
- A client that disconnects mid-body is journaled as 499 (the client's doing): no 5xx, no traceback.
- `GET /v1/client/status` without Upgrade answers what the spec says (426).
- For every declared rule of every operation, the served /openapi.json request schema and
  `rules.validate` agree on generated samples: valid ones pass both, a sample breaking one rule
  is refused by both.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import math
import re
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import ValidationError

from emulator import strict_json
from emulator.clock import (
    EARLIEST,
    LATEST,
    Clock,
    ClockRangeError,
    parse_rfc3339,
    rfc3339,
)
from emulator.errors import ProveError
from emulator.http.api import json_response
from emulator.http.app import all_routes
from emulator.projects import ProjectsFileError, load_projects_file
from emulator.rules import Array, Choice, Flag, Int, Obj, Text, validate
from tests.prove_calls import refused

NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1E+999", "2" + "0" * 308, "9" * 400]


# -- the clock's range ---------------------------------------------------------------------------------


def clock_move(emu, **body: Any):
    return emu.http.post("/__emulator/clock", json=body)


def test_the_clock_refuses_a_set_past_its_range_and_stays_readable(emu):
    before = emu.clock(freeze=True)
    message = refused(clock_move(emu, set="9999-12-31T23:59:59Z"), 400, 8001)
    assert message.startswith("field 'set' must be an instant from 1970-01-01T00:00:00Z to 9000-01-01T00:00:00Z")
    assert emu.clock() == before
    for path in ("/__emulator/clock", "/__emulator/health", "/__emulator/flows"):
        assert emu.http.get(path).status_code == 200


def test_the_clock_stops_at_its_last_instant(emu):
    assert emu.clock(freeze=True, set="9000-01-01T00:00:00Z")["now"] == "9000-01-01T00:00:00.000Z"
    message = refused(clock_move(emu, advance=1), 400, 8001)
    assert message.startswith("field 'advance' would move the clock past 9000-01-01T00:00:00Z")
    assert emu.clock()["now"] == "9000-01-01T00:00:00.000Z"
    assert emu.http.get("/__emulator/health").json()["now"] == "9000-01-01T00:00:00.000Z"
    emu.verify("2025550100")  # a flow's deadlines lie past the last instant, and still read
    flows = emu.http.get("/__emulator/flows")
    assert flows.status_code == 200 and flows.json()["flows"][0]["expiresAt"] == "9000-01-01T00:15:00.000Z"


def test_the_clock_refuses_instants_before_1970_and_writes_four_digit_years(emu):
    emu.freeze()
    message = refused(clock_move(emu, set="0189-12-10T12:27:57Z"), 400, 8001)
    assert message.startswith("field 'set' must be an instant from 1970-01-01T00:00:00Z") and "0189-12-10" in message
    assert emu.clock(set="1970-01-01T00:00:00Z")["now"] == "1970-01-01T00:00:00.000Z"
    assert emu.clock(set="1999-12-31T23:00:00-01:00")["now"] == "2000-01-01T00:00:00.000Z"


def test_a_move_that_leaves_the_range_applies_nothing(emu):
    before = emu.clock(freeze=False)
    reply = clock_move(emu, freeze=True, set="8999-12-31T23:59:59Z", advance=2)
    assert refused(reply, 400, 8001).startswith("field 'advance' would move the clock past")
    after = emu.clock()
    assert after["frozen"] is False and parse_rfc3339(after["now"]) - parse_rfc3339(before["now"]) < 60


@pytest.mark.parametrize("text", ["2026-01-01T00:00Z", "20260101T000000Z", "2026-01-01", "2026-01-01T00:00:00",
                                  "2026-13-01T00:00:00Z", "2026-01-01T00:00:60Z", "+2026-01-01T00:00:00Z"])
def test_the_clock_takes_rfc3339_date_times_only(emu, text):
    assert refused(clock_move(emu, set=text), 400, 8001).startswith("field 'set' must be an RFC 3339 timestamp")


def test_clock_moves_are_all_or_nothing():
    clock = Clock(lambda: 1_000_000.0)
    fired: list[float] = []
    clock.call_at(LATEST, lambda: fired.append(clock.now()))
    with pytest.raises(ClockRangeError) as caught:
        clock.move(freeze=True, instant=LATEST - 1, advance=2)
    assert caught.value.argument == "advance" and not clock.frozen and clock.now() == 1_000_000.0 and not fired
    with pytest.raises(ClockRangeError) as caught:
        clock.set(EARLIEST - 0.001)
    assert caught.value.argument == "set"
    for seconds in (float("nan"), float("inf"), -1.0):
        with pytest.raises(ClockRangeError):
            clock.advance(seconds)
    clock.move(freeze=True, instant=LATEST - 1, advance=1)
    assert clock.frozen and clock.now() == LATEST and fired == [LATEST]


def test_rfc3339_writes_every_instant_as_rfc3339():
    assert rfc3339(LATEST) == "9000-01-01T00:00:00.000Z"
    assert rfc3339(-5_679_000_000) == "1790-01-14T20:00:00.000Z"
    assert rfc3339(-60_000_000_000) == "0068-09-03T13:20:00.000Z"  # four digits, where strftime writes "68"
    assert rfc3339(1e300) == "9999-12-31T23:59:59.999Z"  # a deadline beyond year 9999 reads as its last instant
    assert rfc3339(float("-inf")) == "0001-01-01T00:00:00.000Z"
    assert parse_rfc3339(rfc3339(1_800_000_000.25)) == 1_800_000_000.25


# -- numbers: finite doubles only ----------------------------------------------------------------------


def raw_with(body: dict[str, Any], number: str) -> bytes:
    """`body` as JSON text with the string "<N>" replaced by the raw number text (which json.dumps cannot write)."""
    return json.dumps(body).replace('"<N>"', number).encode()


@pytest.mark.parametrize("number", NON_FINITE)
def test_prove_api_refuses_numbers_that_are_not_finite(emu, number):
    body = {"phoneNumber": "2025550100", "possessionType": "mobile", "firstName": "Casey", "lastName": "Client",
            "clientCustomerId": "<N>"}
    reply = emu.http.post("/v3/verify", content=raw_with(body, number),
                          headers={"Authorization": f"Bearer {emu.token}", "Content-Type": "application/json"})
    message = refused(reply, 400, 8001)
    assert message.startswith("field 'clientCustomerId' in the request body is not a finite number"), message
    assert emu.http.get("/__emulator/flows").json()["flows"] == []


@pytest.mark.parametrize("number", NON_FINITE[:4])
def test_the_device_channel_refuses_them_in_its_envelope(emu, number):
    flow = emu.verify("2025550100")
    reply = emu.http.post("/v1/client/mobile/otp/start", content=raw_with({"extra": {"n": ["<N>"]}}, number),
                          headers={"Authorization": f"Bearer {flow['authToken']}", "Content-Type": "application/json"})
    assert reply.status_code == 200
    body = reply.json()
    assert set(body) == {"error"}, body  # the envelope of a refused body (web-sdk-protocol §3.3)
    assert body["error"]["message"].startswith("field 'extra.n[0]' in the request body is not a finite number")
    assert emu.sms() == []


@pytest.mark.parametrize(("method", "path", "body", "field"), [
    ("POST", "/__emulator/clock", {"advance": "<N>"}, "advance"),
    ("PUT", "/__emulator/projects/team-n", {"clientSecret": "s", "rateLimit": "<N>"}, "rateLimit"),
    ("POST", "/__emulator/faults", {"endpoint": "/v3/verify", "status": 500, "times": "<N>"}, "times"),
    ("POST", "/__emulator/reset", {"project": "<N>"}, "project"),
    ("PUT", "/__emulator/projects/sandbox-client-id/webhook",
     {"url": "http://127.0.0.1:9/hook", "retrySchedule": [0, "<N>"]}, "retrySchedule[1]"),
])
@pytest.mark.parametrize("number", ["NaN", "-Infinity", "1e400"])
def test_the_control_plane_refuses_them(emu, method, path, body, field, number):
    before = emu.clock(freeze=True)
    reply = emu.http.request(method, path, content=raw_with(body, number), headers={"Content-Type": "application/json"})
    assert refused(reply, 400, 8001).startswith(f"field '{field}' in the request body is not a finite number")
    assert emu.http.get("/__emulator/projects/team-n").status_code == 404
    assert emu.http.get("/__emulator/projects/sandbox-client-id/webhook").status_code == 404
    assert emu.http.get("/__emulator/faults").json()["faults"] == []
    assert emu.clock() == before
    assert emu.http.get("/__emulator/webhooks/deliveries").status_code == 200


def test_a_trigger_event_cannot_put_them_into_a_webhook_body(emu):
    flow = emu.verify("2025550101", "none")
    identity_id = emu.status(flow["correlationId"])["identityId"]
    reply = emu.http.post(f"/__emulator/identities/{identity_id}/events",
                          content=raw_with({"eventType": "DISCONNECT", "details": {"score": "<N>"}}, "Infinity"),
                          headers={"Content-Type": "application/json"})
    assert refused(reply, 400, 8001).startswith("field 'details.score' in the request body is not a finite number")


def test_webhook_retry_delays_are_bounded_in_the_projects_file_and_at_run_time(emu, tmp_path):
    path = tmp_path / "projects.yaml"
    for schedule in ("[0, .inf]", "[0, .nan]", "[0, 1e300]", "[86401]"):
        path.write_text(f"projects:\n  - {{clientId: a, clientSecret: b, webhook: {{url: 'http://x', "
                        f"retrySchedule: {schedule}}}}}\n")
        with pytest.raises(ProjectsFileError, match=r"webhook\.retrySchedule: must be a list of 1 to 10 delays"):
            load_projects_file(path)
    reply = emu.http.put("/__emulator/projects/sandbox-client-id/webhook",
                         json={"url": "http://127.0.0.1:9/hook", "retrySchedule": [0, 1e300]})
    assert "retrySchedule: must be a list of 1 to 10 delays in seconds (0 to 86400)" in refused(reply, 400, 8001)
    emu.http.put("/__emulator/projects/sandbox-client-id/webhook",
                 json={"url": "http://127.0.0.1:9/hook", "retrySchedule": [0, 86400]}).raise_for_status()


def test_strict_json_reads_finite_numbers_and_names_the_others():
    assert strict_json.loads(b'{"a": [1, 2.5, -0.0, 1e308, 123456789012345678901234567890]}') == {
        "a": [1, 2.5, -0.0, 1e308, 123456789012345678901234567890]}
    for text, path in (("NaN", ""), ('{"a": {"b": [0, Infinity]}}', "a.b[1]"), ('[{"x": -1e999}]', "[0].x"),
                       ('{"big": ' + "1" * 5000 + "}", "big")):
        with pytest.raises(strict_json.NumberOutOfRange) as caught:
            strict_json.loads(text)
        assert caught.value.path == path



def test_strict_json_refuses_an_integer_past_a_double_at_any_length():
    assert strict_json.loads(f"[{10 ** 308}]") == [10 ** 308]  # 309 digits, in range
    assert strict_json.loads(f"[-{2 * 10 ** 307}]") == [-2 * 10 ** 307]
    for number in (2 * 10 ** 308, 10 ** 309, -(10 ** 320)):
        with pytest.raises(strict_json.NumberOutOfRange):
            strict_json.loads(f'{{"n": {number}}}'.encode())
    for encoding in ("utf-16", "utf-16-le", "utf-32"):  # json reads these too, where 1e400 is not b"1e400"
        with pytest.raises(strict_json.NumberOutOfRange):
            strict_json.loads('{"n": 1e400}'.encode(encoding))
        with pytest.raises(strict_json.NumberOutOfRange):
            strict_json.loads(f'{{"n": {10 ** 309}}}'.encode(encoding))
        assert strict_json.loads('{"n": 1.5e3}'.encode(encoding)) == {"n": 1500.0}



def test_strict_json_answers_a_doubled_bom_as_json_does_either_way():
    for body in (b'\xef\xbb\xbf\xef\xbb\xbf{"n": 1}', b'\xef\xbb\xbf\xef\xbb\xbf{"n": 1e5}'):
        with pytest.raises(json.JSONDecodeError) as caught:
            strict_json.loads(body)
        with pytest.raises(json.JSONDecodeError) as plain:
            json.loads(body)
        assert str(caught.value) == str(plain.value)


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.text(max_size=8) | st.integers(min_value=-(10 ** 320), max_value=10 ** 320)
    | st.floats(allow_nan=True, allow_infinity=True),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=12,
)


def _all_finite(value: Any) -> bool:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return True
    if isinstance(value, (int, float)):
        try:
            return math.isfinite(float(value))
        except OverflowError:
            return False
    items = value.values() if isinstance(value, dict) else value
    return all(_all_finite(item) for item in items)


@settings(max_examples=300, deadline=None)
@given(value=_JSON_VALUES, as_bytes=st.booleans())
def test_strict_json_reads_what_json_reads_unless_a_number_is_not_a_finite_double(value: Any, as_bytes: bool):
    text = json.dumps(value)  # writes NaN and Infinity, as a careless client would
    sent: str | bytes = text.encode() if as_bytes else text
    if _all_finite(value):
        assert json.dumps(strict_json.loads(sent)) == text
    else:
        with pytest.raises(strict_json.NumberOutOfRange):
            strict_json.loads(sent)

def test_no_reply_can_carry_nan_or_infinity():
    for value in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(ValueError):
            json_response({"x": [value]})


# -- a client that leaves mid-body -------------------------------------------------------------------


@contextlib.contextmanager
def logged_errors() -> Iterator[list[logging.LogRecord]]:
    """Records at ERROR or above from the server's loggers (uvicorn's do not reach pytest's caplog)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = records.append  # type: ignore[method-assign]
    loggers = [logging.getLogger(name) for name in ("uvicorn", "uvicorn.error", "emulator", "")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield records
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


def send_half_a_body(emu, path: str, headers: dict[str, str]) -> None:
    """Promise 400 bytes of body, send 12, and hang up."""
    url = urlsplit(emu.base_url)
    with socket.create_connection((url.hostname, url.port), timeout=5) as connection:
        head = [f"POST {path} HTTP/1.1", f"Host: {url.netloc}", "Content-Type: application/json",
                "Content-Length: 400", *(f"{name}: {value}" for name, value in headers.items())]
        connection.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + b'{"phoneNumb')


def journaled(emu, path: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        entries = emu.requests(path=path)
        if entries:
            return entries
        time.sleep(0.02)
    return []


@pytest.mark.parametrize("surface", ["prove api", "device channel", "control plane"])
def test_a_client_that_disconnects_mid_body_is_journaled_as_its_own_doing(emu, surface):
    with logged_errors() as errors:
        if surface == "prove api":
            path = "/v3/verify"
            send_half_a_body(emu, path, {"Authorization": f"Bearer {emu.token}"})
        elif surface == "device channel":
            path = "/v1/client/mobile/otp/start"
            send_half_a_body(emu, path, {"Authorization": f"Bearer {emu.verify('2025550100')['authToken']}"})
        else:
            path = "/__emulator/faults"
            send_half_a_body(emu, path, {})
        if surface != "control plane":  # the control plane is not journaled
            entries = journaled(emu, path)
            assert [entry["status"] for entry in entries] == [499], entries
            assert "closed the connection before its request body was complete" in entries[0]["responseBody"]
        time.sleep(0.2)  # the server has handled the hang-up (a traceback would be logged by now)
        assert emu.http.get("/__emulator/health").status_code == 200
        assert emu.http.get("/__emulator/faults").json()["faults"] == []
    assert not errors, [record.getMessage() for record in errors]


# -- /v1/client/status without Upgrade -------------------------------------------------------------------


def test_a_plain_get_of_the_status_socket_is_told_to_upgrade(emu):
    flow = emu.verify("2025550100", "desktop")
    reply = emu.http.get("/v1/client/status", params={"token": flow["authToken"]})
    assert refused(reply, 426, 8001).startswith("/v1/client/status is a WebSocket")
    assert reply.headers["upgrade"] == "websocket"
    documented = emu.http.get("/openapi.json").json()["paths"]["/v1/client/status"]["get"]["responses"]
    assert "426" in documented


# -- one declaration: the served schema and the validator agree ------------------------------------------
#
# Every declared rule of every operation is a site below; each site gets generated samples that break
# that rule only (in an otherwise valid body), and each operation gets valid samples. The schema is
# read as JSON Schema defines it: patterns are ECMA-262 expressions, where `$` is the end of the text.
# (Python's jsonschema uses re.search, whose `$` also matches before a final newline.)

_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
# Valid samples combine every field's choices (absent, null, "", a value): they get more examples;
# a breaking sample aims at one rule, which a few examples reach.
AGREEMENT = settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=_QUIET)
BREAKING = settings(max_examples=6, deadline=None, derandomize=True, suppress_health_check=_QUIET)


def _ecma_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not re.search(re.sub(r"(?<!\\)\$", r"\\Z", pattern), instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


EcmaValidator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": _ecma_pattern})


@dataclasses.dataclass(frozen=True)
class Case:
    """A body declaration and where the served spec has its schema."""

    label: str
    rules: Obj | Choice
    pointer: tuple[Any, ...]  # into /openapi.json


def _cases() -> list[Case]:
    found: dict[str, Case] = {}
    for operation, _ in all_routes():
        if operation.request is None:
            continue
        pointer = ("paths", operation.path, operation.method.lower(), "requestBody", "content", "application/json",
                   "schema")
        label = f"{operation.method} {operation.path}"
        found[label] = Case(label, operation.request, pointer)
        # A batch answers each item on its own: the items' rules are checked against the items' schema.
        for obj, where in _objects(operation.request, pointer):
            for item in obj.fields:
                if isinstance(item, Array) and item.per_item and isinstance(item.item, Obj):
                    item_pointer = (*where, "properties", item.name, *(() if item.required else ("anyOf", 0)), "items")
                    found[f"{label} {item.name}[]"] = Case(f"{label} {item.name}[]", item.item, item_pointer)
    return list(found.values())


def _objects(rules: Obj | Choice, pointer: tuple[Any, ...]) -> list[tuple[Obj, tuple[Any, ...]]]:
    if isinstance(rules, Choice):
        return [(spec, (*pointer, "oneOf", index)) for index, (_, _, spec) in enumerate(rules.options)]
    return [(rules, pointer)]


@dataclasses.dataclass(frozen=True)
class Site:
    """One rule of one field: `path` leads from the body to the field (0 = an array's first item)."""

    case: Case
    option: int | None  # the Choice shape the body takes
    path: tuple[str | int, ...]
    rule: str

    def __str__(self) -> str:
        shape = "" if self.option is None else f" shape {self.option}"
        return f"{self.case.label}{shape} {dotted(self.path) or '(body)'}: {self.rule}"


# Rules a sample keeps (both must accept it); every other rule name is one a sample breaks.
ACCEPTED = ("valid", "a valid value", "not sent", "a whole number written 3.0")


def _field_rules(item: Any) -> list[str]:
    rules = ["a valid value", "wrong type"]
    if not item.required:
        rules.append("not sent")  # null or "": as if absent
    if isinstance(item, Int):
        rules.append("a whole number written 3.0")
    if item.required:
        rules += ["missing", "null", "empty"]
    if isinstance(item, Text):
        if item.required_when:
            rules.append("missing when required")
        if item.enum:
            rules.append("not in enum")
            if item.ignore_case:
                rules.append("non-ASCII case")
        if item.max_length is not None:
            rules.append("too long")
        if item.pattern is not None:
            rules += ["pattern", "trailing newline"]
    if isinstance(item, Int):
        rules += [rule for rule, bound in (("below minimum", item.minimum), ("above maximum", item.maximum))
                  if bound is not None]
    if isinstance(item, Array):
        if item.max_items is not None:
            rules.append("too many items")
        if not item.per_item:
            rules.append("bad item")
    return rules


def _sites_of(case: Case, option: int | None, spec: Obj, path: tuple[str | int, ...]) -> list[Site]:
    sites = [Site(case, option, path, "unknown field")] if spec.closed else []
    for item in spec.fields:
        here = (*path, item.name)
        sites += [Site(case, option, here, rule) for rule in _field_rules(item)]
        if isinstance(item, Obj):
            sites += _sites_of(case, option, item, here)
        if isinstance(item, Array) and isinstance(item.item, Obj) and not item.per_item:
            sites += _sites_of(case, option, item.item, (*here, 0))
    return sites


def all_sites() -> list[Site]:
    sites = []
    for case in _cases():
        if isinstance(case.rules, Choice):
            sites += [Site(case, None, (), "two shapes at once"), Site(case, None, (), "no shape")]
            for index, (_, _, spec) in enumerate(case.rules.options):
                sites += [Site(case, index, (), "valid")] + _sites_of(case, index, spec, ())
        else:
            sites += [Site(case, None, (), "valid")] + _sites_of(case, None, case.rules, ())
    return sites


SITES = all_sites()


# -- the rules as the validator reads them ---------------------------------------------------------------


def _present(value: Any) -> bool:
    return value is not None and value != ""


def _fold(text: str) -> str | None:
    return text.lower() if text.isascii() else None


def _triggered(spec: Obj, item: Text, body: dict[str, Any]) -> bool:
    other, trigger = item.required_when  # type: ignore[misc]
    triggers = (trigger,) if isinstance(trigger, str) else trigger
    value = body.get(other)
    sibling = next((f for f in spec.fields if isinstance(f, Text) and f.name == other), None)
    if sibling is not None and sibling.ignore_case and isinstance(value, str):
        return _fold(value) in {_fold(t) for t in triggers}
    return value in triggers


def without_checks(rules: Any) -> Any:
    """The field rules alone: the schema publishes Checks (rules across fields) as prose only."""
    if isinstance(rules, Choice):
        return dataclasses.replace(rules, options=tuple((f, l, without_checks(s)) for f, l, s in rules.options))
    if isinstance(rules, Obj):
        return dataclasses.replace(rules, checks=(), fields=tuple(without_checks(f) for f in rules.fields))
    if isinstance(rules, Array):
        return dataclasses.replace(rules, item=without_checks(rules.item))
    return rules


def check_problems(spec: Obj, cleaned: dict[str, Any]) -> list[str]:
    """What the declared Checks say about a body that passed the field rules."""
    found = [problem for check in spec.checks if (problem := check.test(cleaned))]
    for item in spec.fields:
        value = cleaned.get(item.name)
        if isinstance(item, Obj) and isinstance(value, dict):
            found += check_problems(item, value)
        if isinstance(item, Array) and isinstance(item.item, Obj) and not item.per_item and isinstance(value, list):
            for element in value:
                found += check_problems(item.item, element)
    return found


# -- generated values ---------------------------------------------------------------------------------------


@functools.cache
def any_case(value: str) -> st.SearchStrategy[str]:
    return st.lists(st.booleans(), min_size=len(value), max_size=len(value)).map(
        lambda flips: "".join(c.swapcase() if flip else c for c, flip in zip(value, flips)))


@functools.cache  # the strategies are built once per rule: building them is most of the cost
def valid_text(item: Text) -> st.SearchStrategy[str]:
    longest = item.max_length if item.max_length is not None else 40
    if item.enum:
        return st.sampled_from(item.enum).flatmap(any_case) if item.ignore_case else st.sampled_from(item.enum)
    if item.pattern is not None:
        return st.from_regex(item.pattern.regex, fullmatch=True).filter(lambda text: 0 < len(text) <= longest)
    return st.text(min_size=1, max_size=min(longest, 40))


@functools.cache
def valid_value(item: Any, force: tuple[str | int, ...] = ()) -> st.SearchStrategy[Any]:
    """A value that passes `item`'s rules and is present (not null, not ""); `force` keeps a path in it."""
    if isinstance(item, Text):
        return valid_text(item)
    if isinstance(item, Flag):
        return st.booleans()
    if isinstance(item, Int):
        whole = st.integers(item.minimum, item.maximum)
        return st.one_of(whole, whole.filter(lambda n: abs(n) < 2**53).map(float))  # 3.0 is the integer 3
    if isinstance(item, Obj):
        return valid_object(item, force)
    longest = min(item.max_items if item.max_items is not None else 3, 3)
    if force:
        return st.tuples(valid_value(item.item, force[1:]), st.lists(valid_value(item.item), max_size=longest - 1)).map(
            lambda parts: [parts[0], *parts[1]])
    return st.lists(valid_value(item.item), max_size=longest)


@functools.cache
def unknown_key(spec: Obj, avoid: frozenset[str]) -> st.SearchStrategy[str]:
    declared = {item.name for item in spec.fields} | avoid
    return st.text(min_size=1, max_size=8).filter(lambda key: key not in declared)


@st.composite
def valid_object(draw: st.DrawFn, spec: Obj, force: tuple[str | int, ...] = (),
                 avoid: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A body that passes the field rules: optional fields absent, null, "" or valid; `avoid` keys never sent."""
    body: dict[str, Any] = {}
    for item in spec.fields:
        forced = bool(force) and force[0] == item.name
        if item.required or forced:
            body[item.name] = draw(valid_value(item, force[1:] if forced else ()))
            continue
        how = draw(st.sampled_from(["absent", "null", "empty", "value"]))
        if how != "absent":
            body[item.name] = {"null": None, "empty": ""}.get(how) if how != "value" else draw(valid_value(item))
    for item in spec.fields:
        if isinstance(item, Text) and item.required_when and _triggered(spec, item, body) and not _present(
                body.get(item.name)):
            body[item.name] = draw(valid_text(item))
    if not spec.closed and draw(st.booleans()):  # a key the rules do not know: both ignore it (open bodies)
        body[draw(unknown_key(spec, avoid))] = draw(st.none() | st.integers() | st.text(max_size=5) | st.booleans())
    return body


@functools.cache
def wrong_type(item: Any) -> st.SearchStrategy[Any]:
    """A value of another JSON type than the field's (never null or "", which read as not sent)."""
    strings = st.text(min_size=1, max_size=5)
    fractions = st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: not x.is_integer())
    others = {
        Text: [st.integers(), fractions, st.booleans(), st.lists(st.integers(), max_size=2), st.just({})],
        Flag: [st.integers(), fractions, strings, st.just([]), st.just({"a": 1})],
        Int: [strings, st.integers(0, 9).map(str), st.booleans(), fractions, st.just([1]), st.just({})],
        Obj: [st.integers(), strings, st.booleans(), st.just([{}])],
        Array: [st.integers(), strings, st.booleans(), st.just({"0": 1})],
    }
    return st.one_of(others[type(item)])


@functools.cache
def breaking_value(item: Any, rule: str) -> st.SearchStrategy[Any]:
    if rule == "wrong type":
        return wrong_type(item)
    if rule == "null":
        return st.none()
    if rule == "empty":
        return st.just("")
    if rule == "not in enum":
        known = {_fold(value) for value in item.enum} if item.ignore_case else set(item.enum)
        return st.text(min_size=1, max_size=20).filter(
            lambda text: (_fold(text) if item.ignore_case else text) not in known)
    if rule == "non-ASCII case":  # the Kelvin sign casefolds to k, the long s to s: "in any case" is ASCII's
        return st.sampled_from(item.enum).map(_unicode_case)
    if rule == "too long":
        return st.integers(item.max_length + 1, item.max_length + 50).map(lambda n: "a" * n)
    if rule == "pattern":
        return st.text(min_size=1, max_size=40).filter(lambda text: not item.pattern.matches(text))
    if rule == "trailing newline":
        return valid_text(item).map(lambda text: text + "\n")
    if rule == "below minimum":
        return st.integers(max_value=item.minimum - 1)
    if rule == "above maximum":
        return st.integers(min_value=item.maximum + 1)
    if rule == "too many items":
        return valid_value(item.item).map(lambda value: [value] * (item.max_items + 1))
    if rule == "bad item":
        return wrong_type(item.item).map(lambda value: [value])
    raise AssertionError(rule)


def _unicode_case(value: str) -> str:
    spelled = value.replace("k", "\u212a").replace("K", "\u212a").replace("s", "\u017f").replace("S", "\u017f")
    return spelled if spelled != value else value + "\u212a"


def _declared(spec: Obj, path: tuple[str | int, ...]) -> tuple[Obj, Any]:
    """The object rules holding the field at `path`, and the field's rule."""
    parent: Any = spec
    for step in path[:-1]:
        if isinstance(step, int):
            parent = parent.item
        else:
            parent = next(item for item in parent.fields if item.name == step)
    return parent, next(item for item in parent.fields if item.name == path[-1])


def _container(body: Any, path: tuple[str | int, ...]) -> dict[str, Any]:
    for step in path[:-1]:
        body = body[step]
    return body


def dotted(path: tuple[str | int, ...]) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text


@st.composite
def breaking_sample(draw: st.DrawFn, site: Site) -> tuple[dict[str, Any], str]:
    """(a body breaking the site's rule only, text the validator's message must contain); for an
    accepted rule, a body that keeps every rule with the site's field sent that way."""
    rules = site.case.rules
    if site.rule in ("two shapes at once", "no shape"):
        assert isinstance(rules, Choice)
        index = draw(st.integers(0, len(rules.options) - 1))
        field, _, spec = rules.options[index]
        body = draw(valid_object(spec, avoid=frozenset(f for f, _, _ in rules.options)))
        if site.rule == "no shape":
            body.pop(field)
            return body, f"field '{field}' is required"
        other_field, _, other = rules.options[(index + 1) % len(rules.options)]
        body[other_field] = draw(valid_value(next(item for item in other.fields if item.name == other_field)))
        return body, "are both given"
    spec, avoid = _shape(site)
    if site.rule == "unknown field":  # a closed body (the control plane's): a key it does not declare
        assert not site.path, "closed bodies are top-level ones"
        body = draw(valid_object(spec, avoid=avoid))
        body[draw(unknown_key(spec, avoid))] = draw(st.none() | st.integers() | st.text(max_size=5))
        return body, "unknown field"
    body = draw(valid_object(spec, force=site.path[:-1], avoid=avoid))
    parent_rules, item = _declared(spec, site.path)
    holder = _container(body, site.path)
    name = site.path[-1]
    if site.rule in ACCEPTED:
        if site.rule == "not sent":
            holder[name] = draw(st.sampled_from([None, ""]))
            if isinstance(item, Text) and item.required_when and _triggered(parent_rules, item, holder):
                other, trigger = item.required_when  # not sent is allowed where its trigger is not
                sibling = next(f for f in parent_rules.fields if f.name == other)
                triggers = (trigger,) if isinstance(trigger, str) else trigger
                holder[other] = draw(st.sampled_from([value for value in sibling.enum if value not in triggers]))
        elif site.rule == "a whole number written 3.0":
            holder[name] = float(draw(st.integers(item.minimum, item.maximum).filter(lambda n: abs(n) < 2**53)))
        else:
            holder[name] = draw(valid_value(item))
        _send_what_is_now_required(draw, parent_rules, holder, item)  # e.g. possessionType desktop: finalTargetUrl
        return body, ""
    if site.rule == "missing when required":
        other, trigger = item.required_when
        sibling = next((f for f in parent_rules.fields if f.name == other), None)
        triggers = st.sampled_from((trigger,) if isinstance(trigger, str) else trigger)
        # An enum in any case triggers in any case (VERIFIEDUSER needs names as verifiedUser does).
        holder[other] = draw(triggers.flatmap(any_case) if isinstance(sibling, Text) and sibling.ignore_case
                             else triggers)
        _send_what_is_now_required(draw, parent_rules, holder, item)  # only this one is missing
        how = draw(st.sampled_from(["absent", "null", "empty"]))
        holder.pop(name, None)
        if how != "absent":
            holder[name] = None if how == "null" else ""
        return body, f"field '{dotted(site.path)}'"
    if site.rule == "missing":
        holder.pop(name, None)
    else:
        holder[name] = draw(breaking_value(item, site.rule))
    named = dotted(site.path) + ("[0]" if site.rule == "bad item" else "")
    if isinstance(rules, Choice) and len(site.path) == 1 and name == rules.options[site.option][0] and \
            site.rule in ("missing", "null", "empty"):
        return body, "exactly one of them"  # without its discriminating field, the body takes no shape
    return body, f"field '{named}'"


def _send_what_is_now_required(draw: st.DrawFn, spec: Obj, holder: dict[str, Any], but: Any) -> None:
    for sibling in spec.fields:
        if isinstance(sibling, Text) and sibling.required_when and sibling is not but and _triggered(
                spec, sibling, holder) and not _present(holder.get(sibling.name)):
            holder[sibling.name] = draw(valid_text(sibling))


def _shape(site: Site) -> tuple[Obj, frozenset[str]]:
    rules = site.case.rules
    if isinstance(rules, Choice):
        return rules.options[site.option][2], frozenset(f for f, _, _ in rules.options)
    return rules, frozenset()


_VALIDATORS: dict[str, Any] = {}


def _served_validator(spec: dict[str, Any], case: Case) -> jsonschema.Draft202012Validator:
    if case.label not in _VALIDATORS:
        schema: Any = spec
        for step in case.pointer:
            schema = schema[step]
        _VALIDATORS[case.label] = EcmaValidator(schema)
    return _VALIDATORS[case.label]


def _refusal(rules: Any, body: Any) -> ProveError | None:
    try:
        validate(rules, body)
    except ProveError as error:
        assert error.status == 400 and error.code == 8001, error.body()
        return error
    return None


@pytest.mark.parametrize("site", [site for site in SITES if site.rule == "valid"], ids=str)
@AGREEMENT
@given(data=st.data())
def test_valid_samples_pass_the_served_schema_and_the_validator(spec_checker, site: Site, data: st.DataObject) -> None:
    schema = _served_validator(spec_checker.spec, site.case)
    shape, avoid = _shape(site)
    body = data.draw(valid_object(shape, avoid=avoid), label="body")
    assert schema.is_valid(body), next(iter(schema.iter_errors(body))).message
    assert _refusal(without_checks(site.case.rules), body) is None
    # The declared Checks are the only further refusals; the schema has them in its description.
    problems = check_problems(shape, validate(without_checks(shape), body))
    refusal = _refusal(site.case.rules, body)
    assert (refusal is None) == (not problems), (problems, refusal and refusal.message)
    if refusal is not None:
        assert any(problem in refusal.message for problem in problems), refusal.message


@pytest.mark.parametrize("site", [site for site in SITES if site.rule not in ("valid", *ACCEPTED)], ids=str)
@BREAKING
@given(data=st.data())
def test_a_sample_breaking_one_rule_fails_the_served_schema_and_the_validator(
    spec_checker, site: Site, data: st.DataObject
) -> None:
    schema = _served_validator(spec_checker.spec, site.case)
    body, named = data.draw(breaking_sample(site), label="body")
    assert not schema.is_valid(body), f"the schema accepts {body!r}"
    refusal = _refusal(without_checks(site.case.rules), body)
    assert refusal is not None, f"the validator accepts {body!r}"
    assert named in refusal.message, refusal.message


@pytest.mark.parametrize("site", [site for site in SITES if site.rule in ACCEPTED[1:]], ids=str)
@BREAKING
@given(data=st.data())
def test_each_field_sent_as_its_rules_allow_passes_both(spec_checker, site: Site, data: st.DataObject) -> None:
    schema = _served_validator(spec_checker.spec, site.case)
    body, _ = data.draw(breaking_sample(site), label="body")
    assert schema.is_valid(body), next(iter(schema.iter_errors(body))).message
    assert _refusal(without_checks(site.case.rules), body) is None


def test_a_type_in_any_case_requires_what_the_type_requires(emu):
    # Read as verifiedUser, which needs names; the validator used to compare the raw spelling (and the
    # handler then failed with a 500 on the missing name).
    message = refused(emu.post("/v3/verify", {"phoneNumber": "2001004053", "verificationType": "VERIFIEDUSER"}),
                      400, 8001)
    assert message == "field 'firstName' is required when verificationType is verifiedUser or accountOpening"


def test_every_operation_with_rules_is_walked():
    walked = {site.case.label for site in SITES}
    declared = {f"{operation.method} {operation.path}" for operation, _ in all_routes() if operation.request}
    assert declared <= walked and len(SITES) > 300
