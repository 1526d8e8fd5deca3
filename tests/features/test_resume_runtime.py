"""Resume after reconnect, in virtual time, against a server that replays overlapping ranges."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

import pytest
import trio
import trio.testing
import trio_websocket

import trio_heartbeat as th
from tests.core.memserver import MemoryServer

LAST = 12


def seq(message: str | bytes) -> int | None:
    text = message if isinstance(message, str) else message.decode()
    return int(text[4:]) if text.startswith("seq:") else None


class ReplayServer:
    """Numbers its feed 1..LAST. Each connection reads ``resume N`` (or ``resume None``),
    replays from ``overlap`` positions before N, sends ``per_link`` messages and closes
    with 1012 (the last connection stays open)."""

    def __init__(self, per_link: int = 5, overlap: int = 3) -> None:
        self.per_link = per_link
        self.overlap = overlap
        self.requests: list[str] = []

    async def handle(self, ws: trio_websocket.WebSocketConnection) -> None:
        request = str(await ws.get_message())
        self.requests.append(request)
        after = request.split(" ")[1]
        start = 1 if after == "None" else max(int(after) - self.overlap, 0) + 1
        end = min(start + self.per_link - 1, LAST)
        for n in range(start, end + 1):
            await ws.send_message(f"seq:{n}")
        if end < LAST:
            await ws.aclose(1012, "restart")
        else:
            await trio.sleep_forever()


async def ask_to_resume(link: th.LiveLink) -> None:
    await link.send(f"resume {link.resume_position}")


def open_client(
    srv: MemoryServer, resume: th.Resume[int]
) -> AbstractAsyncContextManager[th.ManagedWebSocket]:
    return th.open_managed_websocket(
        "ws://x/",
        heartbeat=th.Heartbeat.disabled(),
        reconnect=th.ReconnectPolicy.fixed(1.0),
        dial=srv.dial,
        on_connect=ask_to_resume,
        resume=resume,
    )


async def test_each_message_once_in_order_across_overlapping_replays(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    server = ReplayServer()
    srv = MemoryServer(nursery, server.handle)
    got: list[str | bytes] = []
    with trio.fail_after(60.0):
        async with open_client(srv, th.Resume(position_of=seq)) as ws:
            while len(got) < LAST:
                got.append(await ws.receive())
            stats = ws.statistics()
            assert ws.resume_position == LAST
    assert got == [f"seq:{n}" for n in range(1, LAST + 1)]
    # the on-connect step asked for the last delivered position every time
    assert server.requests == ["resume None", "resume 5", "resume 7", "resume 9", "resume 11"]
    assert srv.dial_times == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert stats.duplicates_dropped == 3 * 4  # three replayed per reconnect
    assert stats.messages_in == LAST + 3 * 4


async def test_queued_but_undelivered_messages_are_not_queued_twice(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """The application reads nothing until the second link: resume asks from the
    delivered position (None), and the replay of what sits in the inbox is dropped."""
    server = ReplayServer(per_link=8, overlap=0)
    srv = MemoryServer(nursery, server.handle)
    async with open_client(srv, th.Resume(position_of=seq)) as ws:
        await trio.sleep(1.5)  # link 1 sent 1..8 and closed, link 2 replays 1..8 and 9..12
        assert server.requests == ["resume None", "resume None"]
        got = [await ws.receive() for _ in range(LAST)]
        assert ws.statistics().duplicates_dropped == 8
    assert got == [f"seq:{n}" for n in range(1, LAST + 1)]


async def test_start_position_is_sent_first_and_older_messages_dropped(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    server = ReplayServer(per_link=LAST, overlap=2)
    srv = MemoryServer(nursery, server.handle)
    async with open_client(srv, th.Resume(position_of=seq, start=6)) as ws:
        got = [await ws.receive() for _ in range(LAST - 6)]
        assert ws.statistics().duplicates_dropped == 2
    assert server.requests == ["resume 6"]
    assert got == [f"seq:{n}" for n in range(7, LAST + 1)]


async def test_without_resume_the_replays_come_through(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """The control: the same server without ``resume=`` delivers replays twice."""
    srv = MemoryServer(nursery, ReplayServer().handle)
    async with th.open_managed_websocket(
        "ws://x/",
        heartbeat=th.Heartbeat.disabled(),
        reconnect=th.ReconnectPolicy.fixed(1.0),
        dial=srv.dial,
        on_connect=ask_to_resume,
    ) as ws:
        got = [await ws.receive() for _ in range(8)]
        assert ws.statistics().duplicates_dropped == 0
    assert got[5:8] == ["seq:1", "seq:2", "seq:3"]  # resume None: replayed from the start


def test_resume_must_be_a_resume() -> None:
    with pytest.raises(th.UsageError):
        th.ManagedWebSocket(
            "ws://x/",
            heartbeat=th.Heartbeat.disabled(),
            reconnect=th.ReconnectPolicy(),
            options=th.ConnectionOptions(),
            on_connect=None,
            dial=None,
            rng=None,
            resume=seq,  # type: ignore[arg-type]
        )
