"""emulator.ids.new_id: the text str(uuid.uuid4()) writes, from fresh random bytes each time."""

from __future__ import annotations

import uuid

from emulator.ids import new_id


def test_an_id_is_a_version_4_uuid_as_uuid_writes_it():
    for _ in range(2000):
        text = new_id()
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_ids_are_random_in_every_free_digit():
    ids = [new_id().replace("-", "") for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for position in range(32):
        digits = {text[position] for text in ids}
        if position == 12:
            assert digits == {"4"}  # the version
        elif position == 16:
            assert digits == set("89ab")  # the variant: 10xx
        else:
            assert digits == set("0123456789abcdef"), position
