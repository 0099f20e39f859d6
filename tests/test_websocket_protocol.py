"""The lean parts of the server's WebSocket protocol (emulator/protocols.py): what replaces uvicorn's
per-socket asyncio.Queue and Event must behave as they did for uvicorn."""

from __future__ import annotations

import asyncio

from emulator.protocols import _Flag, _Inbox


def test_the_inbox_hands_messages_in_order_and_wakes_a_waiting_reader():
    async def scenario() -> list[str]:
        inbox = _Inbox()
        inbox.put_nowait("ready")
        first = await inbox.get()
        reader = asyncio.ensure_future(inbox.get())
        await asyncio.sleep(0)
        assert not reader.done() and inbox.empty()
        inbox.put_nowait("a")
        inbox.put_nowait("b")
        return [first, await asyncio.wait_for(reader, 5), await inbox.get()]

    assert asyncio.run(scenario()) == ["ready", "a", "b"]


def test_a_cancelled_read_loses_no_message():
    async def scenario() -> str:
        inbox = _Inbox()
        reader = asyncio.ensure_future(inbox.get())
        await asyncio.sleep(0)
        inbox.put_nowait("kept")
        reader.cancel()  # before it resumed: the message stays for the next read
        await asyncio.gather(reader, return_exceptions=True)
        return await asyncio.wait_for(inbox.get(), 5)

    assert asyncio.run(scenario()) == "kept"


def test_the_writable_flag_holds_senders_until_set():
    async def scenario() -> None:
        flag = _Flag()
        flag.set()
        await flag.wait()  # set: at once
        flag.clear()  # the transport's buffer is full
        senders = [asyncio.ensure_future(flag.wait()) for _ in range(2)]
        await asyncio.sleep(0)
        assert not any(sender.done() for sender in senders)
        flag.set()  # drained
        await asyncio.wait_for(asyncio.gather(*senders), 5)

    asyncio.run(scenario())
