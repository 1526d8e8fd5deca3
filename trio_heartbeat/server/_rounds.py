"""The isAlive heartbeat rounds of a server, as pure data (no I/O, no clock).

This is the bookkeeping behind the Node ``ws`` pattern::

    setInterval(() => wss.clients.forEach(ws => {
        if (!ws.isAlive) return ws.terminate();
        ws.isAlive = false; ws.ping();
    }), 30000);

Every client starts *alive* when it connects. At each round, a client that has
not answered since the previous round is to be terminated; every other client
is marked not-alive and probed again. An answer (or, when ``any_traffic_proves_life``
is true, any inbound traffic) marks the client alive until the next round.

Consequence for timing: with rounds at ``t = k * interval``, a client that falls
silent at time ``s`` is terminated at the second round after ``s``, i.e. after at
least ``interval`` and at most ``2 * interval`` of silence.

Times are plain floats (seconds) passed in by the caller; client ids are ints.
"""

from __future__ import annotations

import attrs

from trio_heartbeat._core.deprecation import renamed
from trio_heartbeat.errors import UsageError

__all__ = ["ClientLiveness", "IsAliveRounds", "RoundResult"]


@attrs.frozen
class RoundResult:
    """What a heartbeat round decided.

    ``number`` counts rounds from 1, ``at`` is the round's time, ``terminate``
    lists the clients that did not answer since the previous round (they are
    already forgotten by the tracker; ``final`` holds their last liveness, in
    the same order) and ``probe`` the clients to send a heartbeat to now. Both
    id tuples are in connection order.
    """

    number: int
    at: float
    probe: tuple[int, ...]
    terminate: tuple[int, ...]
    final: tuple[ClientLiveness, ...] = ()


@attrs.frozen
class ClientLiveness:
    """A snapshot of one client's liveness.

    ``last_seen`` is the time of the last inbound traffic or answer (the
    connection time until then); ``rtt`` the round-trip time of the most recently
    measured heartbeat (seconds), None until one was measured; ``alive`` whether
    the client answered since the last round (true right after connecting).
    """

    connected_since: float
    last_seen: float
    rtt: float | None
    alive: bool


@attrs.define
class _State:
    connected_since: float
    last_seen: float
    alive: bool = True
    rtt: float | None = None
    probe_round: int | None = None
    probe_at: float | None = None


class IsAliveRounds:
    """Tracks which clients answered since the last round.

    ``any_traffic_proves_life`` (default true) makes any inbound traffic reported by
    :meth:`traffic` count as an answer; when false only :meth:`answer` does and
    :meth:`traffic` merely updates ``last_seen``. ``any_traffic_counts`` is its
    deprecated old name (a DeprecationWarning).
    """

    def __init__(
        self, *, any_traffic_proves_life: bool = True, any_traffic_counts: bool | None = None
    ) -> None:
        self._any_traffic_proves_life = renamed(
            "IsAliveRounds",
            "any_traffic_counts",
            "any_traffic_proves_life",
            any_traffic_counts,
            any_traffic_proves_life,
        )
        self._clients: dict[int, _State] = {}
        self._rounds = 0

    @property
    def rounds(self) -> int:
        """How many rounds :meth:`run_round` has run."""
        return self._rounds

    def __len__(self) -> int:
        return len(self._clients)

    def __contains__(self, client_id: object) -> bool:
        return client_id in self._clients

    def add(self, client_id: int, now: float) -> None:
        """Register a client that connected at ``now``; it starts alive.

        Raises UsageError if ``client_id`` is already registered.
        """
        if client_id in self._clients:
            raise UsageError(f"client {client_id} is already registered")
        self._clients[client_id] = _State(connected_since=now, last_seen=now)

    def remove(self, client_id: int) -> bool:
        """Forget a client; returns False if it was not registered."""
        return self._clients.pop(client_id, None) is not None

    def traffic(self, client_id: int, now: float) -> None:
        """Record inbound traffic from a client at ``now`` (unknown ids are ignored)."""
        state = self._clients.get(client_id)
        if state is None:
            return
        state.last_seen = now
        if self._any_traffic_proves_life:
            state.alive = True

    def answer(self, client_id: int, now: float, round_number: int | None = None) -> float | None:
        """Record a heartbeat answer from a client at ``now``; it is alive.

        If the client has an unanswered probe (and ``round_number`` is None or
        names that probe's round), the round-trip time ``now - probe time`` is
        stored and returned; otherwise returns None. Unknown ids are ignored.
        """
        state = self._clients.get(client_id)
        if state is None:
            return None
        state.last_seen = now
        state.alive = True
        if state.probe_at is None or round_number not in (None, state.probe_round):
            return None
        state.rtt = max(0.0, now - state.probe_at)
        state.probe_round = None
        state.probe_at = None
        return state.rtt

    def run_round(self, now: float) -> RoundResult:
        """Run one round at ``now``: decide who is terminated and who is probed.

        Terminated clients are removed from the tracker; probed clients are
        marked not-alive until they answer.
        """
        self._rounds += 1
        terminate = tuple(cid for cid, state in self._clients.items() if not state.alive)
        final = tuple(self.liveness(cid) for cid in terminate)
        for cid in terminate:
            del self._clients[cid]
        for state in self._clients.values():
            state.alive = False
            state.probe_round = self._rounds
            state.probe_at = now
        probe = tuple(self._clients)
        return RoundResult(
            number=self._rounds, at=now, probe=probe, terminate=terminate, final=final
        )

    def liveness(self, client_id: int) -> ClientLiveness:
        """Snapshot of a client's liveness; raises KeyError if unknown."""
        state = self._clients[client_id]
        return ClientLiveness(
            connected_since=state.connected_since,
            last_seen=state.last_seen,
            rtt=state.rtt,
            alive=state.alive,
        )
