"""The fault switchboard shared by the in-memory network and the loopback proxy.

A :class:`Faults` object holds the faults in force. Every relay that was given
the switchboard consults it for each unit of the byte stream it reads (the HTTP
head, then each WebSocket frame), so a fault switched on mid-test applies at once
to every current connection and to every later one. Fault methods never block:
call them from a test body, a task, or a :class:`FaultStep` run by
:meth:`Faults.run_script`. They must be called from inside ``trio.run`` (they read
``trio.current_time()``).

Granularity: faults that drop bytes (black holes, dropped heartbeats) drop whole
units. Whether a unit is delivered is decided when its first byte is read, so a
frame that was already partly delivered when a black hole starts is completed,
and a frame whose head was swallowed is swallowed to its end even if the fault is
healed meanwhile. The WebSocket stream therefore stays well-formed across
``black_hole()`` / ``heal()``: the peer sees messages go missing, never garbage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal

import attrs
import trio

from trio_heartbeat._core import validate as v
from trio_heartbeat._core.close_codes import CloseCode
from trio_heartbeat.errors import UsageError
from trio_heartbeat.testing._frames import OPCODE_PING, OPCODE_PONG, Piece
from trio_heartbeat.testing._verdicts import (
    DIRECTIONS,
    ConnectionStats,
    Direction,
    Kill,
    RelayedConnection,
    RelayedLink,
    UnitFate,
    Verdict,
)

__all__ = [
    "ConnectionStats",
    "RelayedConnection",
    "Direction",
    "FaultStatistics",
    "FaultStep",
    "Faults",
]


@attrs.frozen(kw_only=True)
class FaultStatistics:
    """A snapshot of the switchboard: the faults in force and what they did.

    ``black_holed`` / ``heartbeats_dropped`` are the directions with that fault on
    (``Direction(0)`` for none); latencies are seconds, trickle rates bytes per
    second (``None`` = unlimited). ``handshake_fault`` is ``"refuse"``,
    ``"reject"``, ``"close_after_handshake"`` or ``None``; ``handshake_fault_remaining``
    the connections it still applies to and ``handshake_fault_deadline`` when it
    lapses (``None`` = until healed). Counters are totals since creation.
    """

    black_holed: Direction
    heartbeats_dropped: Direction
    latency_to_server: float
    latency_to_client: float
    trickle_to_server: int | None
    trickle_to_client: int | None
    handshake_fault: Literal["refuse", "reject", "close_after_handshake"] | None
    handshake_fault_remaining: int | None
    handshake_fault_deadline: float | None
    connections_total: int
    connections_open: int
    bytes_black_holed: int
    heartbeat_frames_dropped: int
    refused: int
    rejected: int
    closed_after_handshake: int
    close_frames_injected: int
    dropped: int
    aborted: int


@attrs.frozen(kw_only=True)
class FaultStep:
    """One step of a fault script: at ``at`` seconds after the script starts, call
    ``action(faults)``, e.g. ``FaultStep(at=5.0, action=Faults.heal)`` or
    ``FaultStep(at=2.0, action=lambda f: f.black_hole(Direction.TO_CLIENT))``."""

    at: float = attrs.field(validator=v.non_negative)
    action: Callable[[Faults], object]


@attrs.define
class _HandshakeRule:
    kind: Literal["refuse", "reject", "close_after_handshake"]
    status: int
    retry_after: int | None
    remaining: int | None
    deadline: float | None


@attrs.define
class _DirectionState:
    black_hole: bool = False
    latency: float = 0.0
    drop_heartbeats: bool = False
    trickle: int | None = None


_count = v.optional(v.positive_int)
_retry_after = v.optional(v.number(ge=0, integer=True))
_duration = v.optional(v.positive)
_RULE_METHODS = {
    "refuse": "refuse_handshakes",
    "reject": "reject_handshakes",
    "close_after_handshake": "close_after_handshake",
}


class Faults:
    """Switchboard of faults for every connection relayed through it.

    Create one, hand it to :func:`open_memory_network` or :func:`serve_fault_proxy`
    (several networks or proxies may share it), then switch faults on and off from
    the test. :meth:`statistics` and :attr:`connections` show the state and what
    the faults did.
    """

    def __init__(self) -> None:
        self._dirs = {d: _DirectionState() for d in DIRECTIONS}
        self._rule: _HandshakeRule | None = None
        self._links: list[RelayedLink] = []
        self._next_id = 0
        self._changed = trio.Event()
        self._bytes_black_holed = 0
        self._heartbeats_dropped = 0
        self._refused = 0
        self._rejected = 0
        self._closed_after_handshake = 0
        self._close_frames = 0
        self._dropped = 0
        self._aborted = 0

    # ----------------------------------------------------------- byte faults

    def black_hole(self, direction: Direction = Direction.BOTH) -> None:
        """Swallow every unit read in ``direction`` from now on (until healed).

        The sockets stay open and nothing is sent to the other side: the
        half-open case. Swallowed bytes are counted and never delivered later;
        an end of stream read while black-holed is swallowed too.
        """
        for d in self._split(direction):
            self._dirs[d].black_hole = True
        self._notify()

    def set_latency(self, delay: float, direction: Direction = Direction.BOTH) -> None:
        """Deliver each chunk read in ``direction`` ``delay`` seconds after it was
        read (0 restores no added latency). Order is kept; bytes already queued
        keep the delivery time computed when they were read."""
        v.argument("Faults.set_latency(delay=...)", v.non_negative, delay)
        for d in self._split(direction):
            self._dirs[d].latency = delay
        self._notify()

    def trickle(self, bytes_per_second: int, direction: Direction = Direction.BOTH) -> None:
        """Deliver at most ``bytes_per_second`` in ``direction``.

        The relay writes slices of at most ``max(1, bytes_per_second // 10)``
        bytes and, after a slice of ``n`` bytes, writes nothing more in that
        direction for ``n / bytes_per_second`` seconds. Applies to bytes written
        from now on, including bytes already queued.
        """
        v.argument("Faults.trickle(bytes_per_second=...)", v.positive_int, bytes_per_second)
        for d in self._split(direction):
            self._dirs[d].trickle = bytes_per_second
        self._notify()

    def drop_heartbeats(self, direction: Direction = Direction.BOTH) -> None:
        """Drop RFC 6455 Ping (0x9) and Pong (0xA) frames in ``direction``; data
        and close frames still pass.

        ``Direction.TO_CLIENT`` makes the server look like it stops answering the
        client's pings (its pongs vanish); ``Direction.TO_SERVER`` drops the
        client's pings before the server sees them. Frames are recognised only
        after the HTTP head of that direction.
        """
        for d in self._split(direction):
            self._dirs[d].drop_heartbeats = True
        self._notify()

    # ------------------------------------------------ actions on open links

    def close(
        self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "", *, grace_delay: float = 0.5
    ) -> None:
        """End every open connection with a WebSocket close frame.

        The relay stops relaying, sends the client an unmasked close frame with
        ``code`` and ``reason`` and closes the server side at once (the server sees
        the TCP connection end without a close frame). It then reads and discards
        what the client sends (its closing reply) for up to ``grace_delay``
        seconds or until the client shuts down, and closes the client side. When
        the frame cannot be injected cleanly (the client has not had the whole
        handshake yet, or a frame is half-written to it) the
        connection is dropped without a frame (``close_frame_sent`` stays False).
        Raises :class:`UsageError` for a code that may not be sent or a reason
        over 123 bytes.
        """
        v.argument("Faults.close(code=...)", v.close_code, code)
        v.argument("Faults.close(reason=...)", v.instance_of(str), reason)
        if len(reason.encode("utf-8")) > 123:
            raise UsageError("Faults.close(reason=...) must be at most 123 bytes of UTF-8")
        v.argument("Faults.close(grace_delay=...)", v.non_negative, grace_delay)
        self._kill_open(Kill(kind="close", code=code, reason=reason, grace_delay=grace_delay))

    def drop(self) -> None:
        """Close both TCP sides of every open connection at once, no close frame."""
        self._kill_open(Kill(kind="drop"))

    def abort(self) -> None:
        """Reset every open connection: real sockets are closed with SO_LINGER
        {1, 0} (the peer reads ECONNRESET, trio's ``BrokenResourceError``); in
        memory both user-side streams raise ``BrokenResourceError`` from then on."""
        self._kill_open(Kill(kind="abort"))

    # ------------------------------------------------- new-connection faults

    def refuse_handshakes(self, *, count: int | None = None, duration: float | None = None) -> None:
        """Close new connections at once, without contacting the server.

        Applies to the next ``count`` connections and/or for ``duration`` seconds
        from now, whichever ends first (both ``None``: until healed). Replaces any
        other handshake fault.
        """
        self._set_rule("refuse", 0, None, count, duration)

    def reject_handshakes(
        self,
        status: int = 503,
        *,
        retry_after: int | None = None,
        count: int | None = None,
        duration: float | None = None,
    ) -> None:
        """Answer new connections' HTTP upgrade with ``status`` ourselves.

        The relay reads the client's request head, replies e.g.
        ``HTTP/1.1 503 Service Unavailable\\r\\nRetry-After: 5\\r\\nContent-Length:
        0\\r\\n\\r\\n`` (``retry_after`` in whole seconds, header left out when
        ``None``) and closes; the server is never contacted. ``count``/``duration``
        as for :meth:`refuse_handshakes`.
        """
        v.argument("Faults.reject_handshakes(status=...)", v.http_status(200), status)
        v.argument("Faults.reject_handshakes(retry_after=...)", _retry_after, retry_after)
        self._set_rule("reject", status, retry_after, count, duration)

    def close_after_handshake(
        self, *, count: int | None = None, duration: float | None = None
    ) -> None:
        """Let new connections complete the handshake, then drop them.

        Bytes are relayed until the server's whole HTTP response (the 101) was
        written to the client; then both sides are closed without a close frame.
        ``count``/``duration`` as for :meth:`refuse_handshakes`.
        """
        self._set_rule("close_after_handshake", 0, None, count, duration)

    # ------------------------------------------------------------ the rest

    def heal(self) -> None:
        """Clear every fault in force: black holes, latency, trickle, dropped
        heartbeats and handshake faults. Counters and connections are kept."""
        for d in DIRECTIONS:
            self._dirs[d] = _DirectionState()
        self._rule = None
        self._notify()

    async def run_script(self, steps: Iterable[FaultStep]) -> None:
        """Apply each step's action at ``at`` seconds after this call, in order of
        ``at`` (ties in the given order), then return. Run it in a nursery:
        ``nursery.start_soon(faults.run_script, [FaultStep(at=5.0, action=...)])``.
        Exact under trio's ``MockClock``."""
        start = trio.current_time()
        for step in sorted(steps, key=lambda s: s.at):
            await trio.sleep_until(start + step.at)
            step.action(self)

    async def wait_until(self, predicate: Callable[[Faults], bool]) -> None:
        """Return once ``predicate(self)`` is true; it is re-checked whenever a
        fault changes or a relay moves bytes or opens or closes a connection."""
        while not predicate(self):
            await self._changed.wait()

    @property
    def connections(self) -> tuple[RelayedConnection, ...]:
        """Snapshots of every connection relayed through this switchboard, oldest
        first, open and closed."""
        return tuple(link.snapshot() for link in self._links)

    def statistics(self) -> FaultStatistics:
        """A snapshot of the faults in force and the counters."""
        now = trio.current_time()
        rule = self._current_rule(now)
        to_server, to_client = self._dirs[Direction.TO_SERVER], self._dirs[Direction.TO_CLIENT]
        return FaultStatistics(
            black_holed=self._flags(lambda s: s.black_hole),
            heartbeats_dropped=self._flags(lambda s: s.drop_heartbeats),
            latency_to_server=to_server.latency,
            latency_to_client=to_client.latency,
            trickle_to_server=to_server.trickle,
            trickle_to_client=to_client.trickle,
            handshake_fault=rule.kind if rule else None,
            handshake_fault_remaining=rule.remaining if rule else None,
            handshake_fault_deadline=rule.deadline if rule else None,
            connections_total=len(self._links),
            connections_open=sum(1 for link in self._links if link.is_open),
            bytes_black_holed=self._bytes_black_holed,
            heartbeat_frames_dropped=self._heartbeats_dropped,
            refused=self._refused,
            rejected=self._rejected,
            closed_after_handshake=self._closed_after_handshake,
            close_frames_injected=self._close_frames,
            dropped=self._dropped,
            aborted=self._aborted,
        )

    # --------------------------------------------- used by the relay (private)

    def _register(self, link: RelayedLink) -> int:
        self._links.append(link)
        self._next_id += 1
        self._notify()
        return self._next_id

    def _admit(self) -> Verdict:
        """Decide the fate of a connection that just arrived (consumes a count)."""
        rule = self._current_rule(trio.current_time())
        if rule is None:
            return Verdict("relayed")
        if rule.remaining is not None:
            rule.remaining -= 1
            if rule.remaining == 0:
                self._rule = None
        self._notify()
        if rule.kind == "refuse":
            self._refused += 1
            return Verdict("refused")
        if rule.kind == "reject":
            self._rejected += 1
            return Verdict("rejected", rule.status, rule.retry_after)
        self._closed_after_handshake += 1
        return Verdict("closed_after_handshake")

    def _unit_fate(self, direction: Direction, piece: Piece) -> UnitFate:
        state = self._dirs[direction]
        if state.black_hole:
            return "black_hole"
        if (
            state.drop_heartbeats
            and piece.header is not None
            and piece.header.opcode in (OPCODE_PING, OPCODE_PONG)
        ):
            return "heartbeat"
        return "deliver"

    def _eof_swallowed(self, direction: Direction) -> bool:
        return self._dirs[direction].black_hole

    def _latency(self, direction: Direction) -> float:
        return self._dirs[direction].latency

    def _trickle(self, direction: Direction) -> int | None:
        return self._dirs[direction].trickle

    def _count_dropped(self, fate: UnitFate, nbytes: int, new_unit: bool) -> None:
        if fate == "black_hole":
            self._bytes_black_holed += nbytes
        elif new_unit:
            self._heartbeats_dropped += 1
        self._notify()

    def _count_kill(self, kind: Literal["close_frame", "drop", "abort"]) -> None:
        if kind == "close_frame":
            self._close_frames += 1
        elif kind == "drop":
            self._dropped += 1
        else:
            self._aborted += 1
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    # --------------------------------------------------------------- helpers

    def _kill_open(self, kill: Kill) -> None:
        for link in self._links:
            if link.is_open:
                link.request_kill(kill)
        self._notify()

    def _set_rule(
        self,
        kind: Literal["refuse", "reject", "close_after_handshake"],
        status: int,
        retry_after: int | None,
        count: int | None,
        duration: float | None,
    ) -> None:
        where = f"Faults.{_RULE_METHODS[kind]}"
        v.argument(f"{where}(count=...)", _count, count)
        v.argument(f"{where}(duration=...)", _duration, duration)
        deadline = None if duration is None else trio.current_time() + duration
        self._rule = _HandshakeRule(kind, status, retry_after, count, deadline)
        self._notify()

    def _current_rule(self, now: float) -> _HandshakeRule | None:
        rule = self._rule
        if rule is not None and rule.deadline is not None and now >= rule.deadline:
            self._rule = rule = None
        return rule

    def _flags(self, test: Callable[[_DirectionState], bool]) -> Direction:
        result = Direction(0)
        for d in DIRECTIONS:
            if test(self._dirs[d]):
                result |= d
        return result

    @staticmethod
    def _split(direction: Direction) -> list[Direction]:
        v.argument("direction", v.instance_of(Direction), direction)
        return [d for d in DIRECTIONS if d in direction]
