"""JSON as the emulator reads it from clients: every number a finite double.

Python's json module reads NaN, Infinity and -Infinity (not JSON at all, RFC 8259 §6) and turns a
number too large for a double (1e400) into infinity; echoed back, any of them makes the reply
invalid JSON. `loads` refuses them, naming where in the body they are, so no endpoint can store
one. Integers are kept exact, as long as a double can hold their size (|n| < 1.8e308): larger ones
overflow every client that reads numbers as doubles, as JavaScript does.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

# An integer written with more digits than this is out of a double's range anyway: it is marked
# without converting it (Python refuses to convert over 4300 digits, and it would be slow).
_MAX_INTEGER_DIGITS = 310


class NumberOutOfRange(ValueError):
    """A number in the body is not a finite double; `path` names it (e.g. "retrySchedule[1]")."""

    def __init__(self, path: str) -> None:
        where = f"field '{path}' in the request body is" if path else "the request body is"
        super().__init__(
            f"{where} not a finite number: NaN, Infinity and numbers beyond a double's range "
            f"(about ±1.8e308, e.g. 1e400) are not accepted"
        )
        self.path = path


# Where a number can leave a double's range: an exponent (1e400) or a run of 309 digits. A body
# without either is parsed by one decoder made once; NaN and Infinity still send it the long way.
_MAYBE_UNBOUNDED = re.compile(r"[0-9][eE]|[0-9]{309}")


class _Constant(Exception):
    pass


def _refuse_constant(name: str) -> float:
    raise _Constant(name)


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def loads(raw: bytes | str) -> Any:
    """Parse JSON; raises json.JSONDecodeError (or ValueError) for bad JSON, NumberOutOfRange for a
    number that is not a finite double."""
    text = _text(raw)
    if _MAYBE_UNBOUNDED.search(text) is None:
        try:
            return _DECODER.decode(text)
        except _Constant:
            pass
    return _loads_checking_numbers(text)


def _text(raw: bytes | str) -> str:
    """The text json.loads would read: bytes in UTF-8, -16 or -32; a str starting with a BOM refused."""
    if isinstance(raw, str):
        if raw.startswith("\ufeff"):
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", raw, 0)
        return raw
    return raw.decode(json.detect_encoding(raw), "surrogatepass")


def _loads_checking_numbers(text: str) -> Any:
    unbounded = False  # the parser saw one: only then is the body walked to name where it is

    def integer(text: str) -> int | float:
        nonlocal unbounded
        if len(text.lstrip("-")) > _MAX_INTEGER_DIGITS:
            unbounded = True
            return math.inf  # found by first_unbounded_number, like an overflowing 1e400
        number = int(text)
        unbounded = unbounded or not _fits_a_double(number)
        return number

    def real(text: str) -> float:
        nonlocal unbounded
        number = float(text)
        unbounded = unbounded or not math.isfinite(number)
        return number

    def constant(name: str) -> float:  # NaN, Infinity, -Infinity
        nonlocal unbounded
        unbounded = True
        return float(name)

    # A decoder, not json.loads: the text is decoded already, and a BOM left in it is json's to refuse
    # as any other character (as when json.loads read the bytes).
    value = json.JSONDecoder(parse_int=integer, parse_float=real, parse_constant=constant).decode(text)
    if unbounded:
        raise NumberOutOfRange(first_unbounded_number(value) or "")
    return value


def first_unbounded_number(value: Any) -> str | None:
    """The path of the first number that is not a finite double, or None. Walks without recursion:
    a body may be nested as deeply as the parser allows."""
    pending: list[tuple[str, Any]] = [("", value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, bool):
            continue
        if isinstance(item, float) and not math.isfinite(item):
            return path
        if isinstance(item, int) and not _fits_a_double(item):
            return path
        if isinstance(item, dict):
            pending.extend((f"{path}.{key}" if path else str(key), child) for key, child in reversed(item.items()))
        elif isinstance(item, list):
            pending.extend((f"{path}[{index}]", child) for index, child in reversed(list(enumerate(item))))
    return None


def _fits_a_double(number: int) -> bool:
    try:
        float(number)
    except OverflowError:
        return False
    return True


_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)  # made once: json.dumps makes one per call


def dumps(value: Any) -> str:
    """Compact, ASCII-only, strict JSON (ValueError rather than writing NaN or Infinity)."""
    return _ENCODER.encode(value)
