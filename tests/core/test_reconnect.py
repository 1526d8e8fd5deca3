"""Reconnect behaviour in virtual time: backoff, give-up, handshake failures, on_connect."""

from __future__ import annotations

import itertools
import random

import pytest
import trio
import trio.testing
import trio_websocket

import trio_heartbeat as th
from tests.core.memserver import MemoryServer


def drain_events(ws: th.ManagedWebSocket) -> list[th.StateChange]:
    out: list[th.StateChange] = []
    while True:
        try:
            out.append(ws.state_changes.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel):
            return out


async def test_backoff_delays_within_jitter_bounds(
    echo_server: MemoryServer, autojump_clock: trio.testing.MockClock
) -> None:
    echo_server.refuse = True
    policy = th.ReconnectPolicy(wait_initial=1.0, wait_max=16.0, min_uptime=5.0)
    async with th.open_managed_websocket(
        "ws://x/", reconnect=policy, dial=echo_server.dial, rng=random.Random(7)
    ) as ws:
        await trio.sleep(120.0)
        events = drain_events(ws)
    times = echo_server.dial_times
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) >= 6
    for n, gap in enumerate(gaps, start=1):
        assert 0.0 <= gap <= min(16.0, 2.0 ** (n - 1)) + 1e-9
    waits = [e for e in events if isinstance(e, th.WaitingToReconnect)]
    assert [w.attempt for w in waits[:4]] == [2, 3, 4, 5]
    assert all(abs(w.delay - g) < 1e-9 for w, g in zip(waits, gaps, strict=False))


async def test_backoff_resets_after_min_uptime_only(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    lifetimes = iter([1.0, 1.0, 1.0, 10.0, 1.0])

    async def short_lived(ws: trio_websocket.WebSocketConnection) -> None:
        await trio.sleep(next(lifetimes, 100.0))
        await ws.aclose(1011, "bye")

    srv = MemoryServer(nursery, short_lived)
    policy = th.ReconnectPolicy(wait_initial=1.0, wait_max=60.0, full_jitter=False, min_uptime=5.0)
    async with th.open_managed_websocket(
        "ws://x/", heartbeat=th.Heartbeat.disabled(), reconnect=policy, dial=srv.dial
    ) as ws:
        await trio.sleep(40.0)
        events = drain_events(ws)
    delays = [e.delay for e in events if isinstance(e, th.WaitingToReconnect)]
    # up 1 s each time: 1, 2, 4; then up 10 s resets: 1 again
    assert delays[:4] == [1.0, 2.0, 4.0, 8.0][:3] + [1.0]
    assert srv.dial_times[:5] == [0.0, 2.0, 5.0, 10.0, 21.0]
    lost = [e for e in events if isinstance(e, th.Disconnected)]
    assert lost[0].code == 1011 and lost[0].reason == "bye" and lost[0].was_connected


async def test_unauthorized_handshake_gives_up_with_clear_error(
    echo_server: MemoryServer, autojump_clock: trio.testing.MockClock
) -> None:
    echo_server.reject_status = 401
    with pytest.raises(th.ReconnectGaveUp) as info:
        async with th.open_managed_websocket("ws://x/", dial=echo_server.dial) as ws:
            ws.send_nowait("queued")
            await ws.receive()
    assert isinstance(info.value.last_error, th.HandshakeRejected)
    assert info.value.last_error.status == 401
    assert info.value.undelivered == ("queued",)
    assert echo_server.dials == 1


async def test_503_retry_after_is_honoured(
    echo_server: MemoryServer, autojump_clock: trio.testing.MockClock
) -> None:
    echo_server.reject_status = 503
    echo_server.reject_headers = [(b"Retry-After", b"7")]
    async with th.open_managed_websocket(
        "ws://x/", reconnect=th.ReconnectPolicy(wait_initial=0.1), dial=echo_server.dial
    ) as ws:
        await trio.sleep(7.5)
        echo_server.reject_status = None
        await ws.wait_connected()
        await ws.send("ok")
        assert await ws.receive() == "ok"
    assert echo_server.dial_times[:2] == [0.0, 7.0]


async def test_unanswered_upgrade_is_bounded_by_connect_timeout(
    echo_server: MemoryServer, autojump_clock: trio.testing.MockClock
) -> None:
    echo_server.black_hole_handshake = True
    policy = th.ReconnectPolicy(max_attempts=2, wait_initial=1.0, full_jitter=False)
    options = th.ConnectionOptions(connect_timeout=4.0)
    with pytest.raises(th.ReconnectGaveUp) as info:
        async with th.open_managed_websocket(
            "ws://x/", reconnect=policy, options=options, dial=echo_server.dial
        ) as ws:
            await ws.receive()
    assert isinstance(info.value.last_error, th.ConnectTimeout)
    assert echo_server.dial_times == [0.0, 5.0]
    assert trio.current_time() == 9.0


async def test_stream_closed_during_handshake_fails_fast(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def dial() -> trio.abc.Stream:
        client, server = trio.testing.memory_stream_pair()
        await server.aclose()
        return client

    policy = th.ReconnectPolicy(max_attempts=1)
    options = th.ConnectionOptions(connect_timeout=30.0)
    with pytest.raises(th.ReconnectGaveUp) as info:
        async with th.open_managed_websocket(
            "ws://x/", reconnect=policy, options=options, dial=dial
        ) as ws:
            await ws.receive()
    assert isinstance(info.value.last_error, th.ConnectError)
    assert trio.current_time() == 0.0


@pytest.mark.parametrize("resend", [False, True])
async def test_on_connect_runs_before_buffered_flush_on_every_connect(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, resend: bool
) -> None:
    received: list[list[str | bytes]] = []

    async def server(ws: trio_websocket.WebSocketConnection) -> None:
        mine: list[str | bytes] = []
        received.append(mine)
        while True:
            message = await ws.get_message()
            mine.append(message)
            if message == "auth:secret":
                await ws.send_message("auth-ok")

    srv = MemoryServer(nursery, server)
    hook_calls: list[int] = []

    async def authorize(link: th.LiveLink) -> None:
        hook_calls.append(link.attempt)
        await link.send("auth:secret")
        assert await link.receive() == "auth-ok"  # the app never sees this reply

    async with th.open_managed_websocket(
        "ws://x/",
        heartbeat=th.Heartbeat.ping(interval=1.0, reply_timeout=1.0),
        reconnect=th.ReconnectPolicy.fixed(2.0),
        on_connect=authorize,
        options=th.ConnectionOptions(resend_unconfirmed=resend),
        dial=srv.dial,
    ) as ws:
        await ws.wait_connected()
        await ws.send("m0")
        await trio.sleep(1.5)  # the pong to the ping at 1.0 confirms m0
        srv.last.freeze()  # half-open: detected at 3.0, reconnect at 5.0
        for i in range(1, 4):
            await ws.send(f"m{i}")  # written into the dead link: unconfirmed
        await trio.sleep(2.0)
        assert ws.state == "waiting"
        for i in range(4, 7):
            await ws.send(f"m{i}")  # buffered while down
        await trio.sleep(3.0)
        await ws.drain()
        lost = [e for e in drain_events(ws) if isinstance(e, th.Disconnected)]
    assert received[0][:2] == ["auth:secret", "m0"]
    assert lost[0].unconfirmed == ("m1", "m2", "m3")
    if resend:
        assert received[1] == ["auth:secret", "m1", "m2", "m3", "m4", "m5", "m6"]
    else:
        assert received[1] == ["auth:secret", "m4", "m5", "m6"]
    assert hook_calls == [1, 2]  # up < min_uptime: the retry count did not reset


async def test_failing_on_connect_fails_the_attempt(
    echo_server: MemoryServer, autojump_clock: trio.testing.MockClock
) -> None:
    async def broken(link: th.LiveLink) -> None:
        raise RuntimeError("token expired")

    policy = th.ReconnectPolicy(max_attempts=3, wait_initial=1.0, full_jitter=False)
    with pytest.raises(th.ReconnectGaveUp) as info:
        async with th.open_managed_websocket(
            "ws://x/", reconnect=policy, on_connect=broken, dial=echo_server.dial
        ) as ws:
            await ws.receive()
    assert isinstance(info.value.last_error, RuntimeError)
    assert info.value.attempts == 3
    assert echo_server.dial_times == [0.0, 1.0, 3.0]


async def test_on_connect_context_manager_spans_the_link(
    echo_server: MemoryServer, autojump_clock: trio.testing.MockClock
) -> None:
    from collections.abc import AsyncIterator
    from contextlib import asynccontextmanager

    log: list[tuple[str, float]] = []

    @asynccontextmanager
    async def subscription(link: th.LiveLink) -> AsyncIterator[None]:
        log.append(("enter", trio.current_time()))
        try:
            yield
        finally:
            log.append(("exit", trio.current_time()))

    async with th.open_managed_websocket(
        "ws://x/",
        heartbeat=th.Heartbeat.ping(interval=1.0, reply_timeout=1.0),
        reconnect=th.ReconnectPolicy.fixed(1.0),
        on_connect=subscription,
        dial=echo_server.dial,
    ) as ws:
        await ws.wait_connected()
        await trio.sleep(0.5)
        echo_server.last.freeze()
        await trio.sleep(3.5)  # dead at 2.0, back at 3.0
        assert ws.state == "connected"
    assert log == [("enter", 0.0), ("exit", 2.0), ("enter", 3.0), ("exit", 4.0)]


async def test_server_close_1008_stops_with_clear_error(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def strict(ws: trio_websocket.WebSocketConnection) -> None:
        await ws.get_message()
        await ws.aclose(1008, "forbidden content")

    srv = MemoryServer(nursery, strict)
    with pytest.raises(th.ReconnectGaveUp) as info:
        async with th.open_managed_websocket("ws://x/", dial=srv.dial) as ws:
            await ws.send("bad")
            await ws.receive()
    err = info.value.last_error
    assert isinstance(err, th.ConnectionLost)
    assert (err.code, err.reason) == (1008, "forbidden content")


async def test_oversized_inbound_message_closes_1009_and_is_retried(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """Both engines: close 1009 sent, a counted MessageTooBig, the policy retries it."""
    codes: list[int | None] = []

    async def big(ws: trio_websocket.WebSocketConnection) -> None:
        await ws.send_message("x" * 2000)
        try:
            await ws.get_message()
        except trio_websocket.ConnectionClosed as exc:
            codes.append(exc.reason.code if exc.reason is not None else None)

    srv = MemoryServer(nursery, big)
    policy = th.ReconnectPolicy.fixed(1.0, max_attempts=3)
    with pytest.raises(th.ReconnectGaveUp) as info:
        async with th.open_managed_websocket(
            "ws://x/",
            reconnect=policy,
            options=th.ConnectionOptions(max_message_size=1000),
            dial=srv.dial,
        ) as ws:
            await ws.receive()
    await trio.testing.wait_all_tasks_blocked()  # the server has read the last close
    err = info.value.last_error
    assert isinstance(err, th.MessageTooBig) and err.limit == 1000
    assert "max_message_size (1000)" in str(err)
    assert info.value.attempts == 3 and srv.dial_times == [0.0, 1.0, 2.0]
    assert ws.statistics().protocol_errors == 3
    assert codes == [1009, 1009, 1009]


async def test_set_silence_timeout_needs_a_deadline_to_move(
    echo_server: MemoryServer, autojump_clock: trio.testing.MockClock
) -> None:
    async def adjust(link: th.LiveLink) -> None:
        link.set_silence_timeout(5.0)

    with pytest.raises(th.ReconnectGaveUp) as info, trio.fail_after(100):
        async with th.open_managed_websocket(
            "ws://x/",
            heartbeat=th.Heartbeat.disabled(),  # no deadline at all: nothing to move
            reconnect=th.ReconnectPolicy.never(),
            on_connect=adjust,
            dial=echo_server.dial,
        ) as ws:
            await ws.receive()
    assert isinstance(info.value.last_error, th.UsageError)


async def test_a_kept_failure_no_longer_holds_the_dead_link(
    echo_server: MemoryServer, autojump_clock: trio.testing.MockClock
) -> None:
    """Unread state changes keep their errors, not the finished link those errors'
    frames referred to (a reconnect storm of 1,000 clients otherwise keeps every
    dead link alive until ``state_changes`` is read)."""
    import gc
    import traceback
    import weakref

    policy = th.ReconnectPolicy(max_attempts=2, wait_initial=1.0, full_jitter=False)
    with pytest.raises(th.ReconnectGaveUp):
        async with th.open_managed_websocket(
            "ws://x/",
            heartbeat=th.Heartbeat.ping(interval=1.0, reply_timeout=1.0),
            reconnect=policy,
            dial=echo_server.dial,
        ) as ws:
            await ws.wait_connected()
            assert ws._session is not None
            link = weakref.ref(ws._session.link)
            echo_server.refuse = True
            echo_server.last.freeze()
            await ws.receive()
    events = drain_events(ws)  # read only now: they were held all along
    lost = [e for e in events if isinstance(e, th.Disconnected)]
    assert isinstance(lost[0].cause, th.PeerUnresponsive)
    gc.collect()
    assert link() is None
    # It still says what failed; the library's own frames are gone from it.
    text = "".join(traceback.format_exception(lost[0].cause))
    assert "PeerUnresponsive" in text and "no inbound traffic within 1 s" in text
    assert "in _attempt" not in text


async def test_a_kept_failure_keeps_the_applications_frames(
    echo_server: MemoryServer, autojump_clock: trio.testing.MockClock
) -> None:
    """Only the library's frames are cleared: an on_connect step's locals stay."""
    import traceback

    async def broken(link: th.LiveLink) -> None:
        secret_for_the_debugger = "kept"
        raise RuntimeError(f"token expired ({len(secret_for_the_debugger)})")

    policy = th.ReconnectPolicy(max_attempts=1)
    with pytest.raises(th.ReconnectGaveUp) as info:
        async with th.open_managed_websocket(
            "ws://x/", reconnect=policy, on_connect=broken, dial=echo_server.dial
        ) as ws:
            await ws.receive()
    error = info.value.last_error
    assert error is not None
    frames = [frame for frame, _ in traceback.walk_tb(error.__traceback__)]
    assert any(f.f_locals.get("secret_for_the_debugger") == "kept" for f in frames)
