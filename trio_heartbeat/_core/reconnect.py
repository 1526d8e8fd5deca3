"""Reconnect policy: backoff schedule and the close-code / HTTP-status table.

Pure: no trio, no clock, no global random. :class:`ReconnectPolicy` is the
frozen configuration; :class:`Backoff` is the state of one managed connection's
retries, fed with ``now`` and the error that ended each attempt, answering with a
:class:`ReconnectAfter` or a :class:`StopReconnecting` decision.

Give-up vocabulary: the policy decides :class:`StopReconnecting`; the
connection then emits the :class:`~trio_heartbeat._core.events.GaveUp` state
change and raises :class:`~trio_heartbeat.errors.ReconnectGaveUp`.
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Mapping
from types import MappingProxyType

import attrs

from trio_heartbeat._core import validate as v
from trio_heartbeat._core.close_codes import CloseCode
from trio_heartbeat._core.deprecation import warn_renamed
from trio_heartbeat.errors import (
    ConnectionLost,
    HandshakeRejected,
    PeerUnresponsive,
    SessionEnded,
    TLSVerificationFailed,
    UsageError,
)

__all__ = [
    "DEFAULT_CLOSE_CODES",
    "DEFAULT_ERROR_TYPES",
    "DEFAULT_HTTP_STATUSES",
    "Backoff",
    "CloseAction",
    "GiveUp",
    "ReconnectAfter",
    "ReconnectPolicy",
    "StopReconnecting",
]


#: Lateness (seconds) of a backoff wait that is trio's own scheduling, not a stall.
STALL_TOLERANCE = 0.001


class CloseAction(enum.Enum):
    """What to do after a connection ended or an attempt failed."""

    RETRY = "retry"  #: reconnect after the backoff delay
    RETRY_LATER = "retry_later"  #: reconnect after at least ``retry_later_delay`` (or Retry-After)
    STOP = "stop"  #: give up and raise


DEFAULT_CLOSE_CODES: Mapping[int, CloseAction] = MappingProxyType(
    {
        CloseCode.PROTOCOL_ERROR: CloseAction.STOP,
        CloseCode.UNSUPPORTED_DATA: CloseAction.STOP,
        CloseCode.INVALID_FRAME_PAYLOAD_DATA: CloseAction.STOP,
        CloseCode.POLICY_VIOLATION: CloseAction.STOP,
        CloseCode.MESSAGE_TOO_BIG: CloseAction.STOP,
        CloseCode.MANDATORY_EXT: CloseAction.STOP,
        CloseCode.TRY_AGAIN_LATER: CloseAction.RETRY_LATER,
    }
)
"""Close codes not listed here (NORMAL_CLOSURE, GOING_AWAY, ABNORMAL_CLOSURE,
INTERNAL_ERROR, SERVICE_RESTART, 3xxx, 4xxx...) are retried."""

DEFAULT_HTTP_STATUSES: Mapping[int, CloseAction] = MappingProxyType(
    {
        401: CloseAction.STOP,
        403: CloseAction.STOP,
        404: CloseAction.STOP,
        429: CloseAction.RETRY_LATER,
        503: CloseAction.RETRY_LATER,
    }
)
"""HTTP statuses not listed: other 4xx stop, everything else is retried."""

DEFAULT_ERROR_TYPES: Mapping[type[BaseException], CloseAction] = MappingProxyType(
    {
        PeerUnresponsive: CloseAction.RETRY,  # whatever the table says of 1006
        SessionEnded: CloseAction.STOP,  # the server ended it on purpose
        TLSVerificationFailed: CloseAction.STOP,  # configuration, not weather
        UsageError: CloseAction.STOP,  # found while connecting: retrying cannot help
    }
)
"""Errors decided by their class, before the close-code and HTTP-status tables."""


def _freeze_table(value: Mapping[int, CloseAction]) -> Mapping[int, CloseAction]:
    return MappingProxyType(dict(value)) if isinstance(value, Mapping) else value


def _check_table(
    inst: object, attr: attrs.Attribute[Mapping[int, CloseAction]], value: Mapping[int, object]
) -> None:
    v.check(inst, attr, isinstance(value, Mapping), "a mapping of int codes to CloseAction", value)
    for key, action in value.items():
        if not isinstance(key, int) or not isinstance(action, CloseAction):
            raise UsageError(
                f"ReconnectPolicy.{attr.name} maps int codes to CloseAction, "
                f"got {key!r}: {action!r}"
            )


def _freeze_types(
    value: Mapping[type[BaseException], CloseAction],
) -> Mapping[type[BaseException], CloseAction]:
    return MappingProxyType(dict(value))


def _check_error_types(
    inst: object,
    attr: attrs.Attribute[Mapping[type[BaseException], CloseAction]],
    value: Mapping[type[BaseException], object],
) -> None:
    for key, action in value.items():
        if not (isinstance(key, type) and issubclass(key, BaseException)) or not isinstance(
            action, CloseAction
        ):
            raise UsageError(
                f"{attr.name} maps exception classes to CloseAction, got {key!r}: {action!r}"
            )


@attrs.frozen(kw_only=True)
class ReconnectPolicy:
    """When and whether to reconnect. All durations in seconds.

    The n-th retry in a row (n = 1, 2, ...) waits
    ``min(wait_max, wait_initial * wait_exp_base ** (n - 1))``, then, with
    ``full_jitter``, a uniform random time between 0 and that, plus a uniform
    extra of up to ``wait_jitter``, capped at ``wait_max``. The same policy
    applies to the very first connect.

    The count of retries resets only after a connection stayed up for
    ``min_uptime``, so a server that accepts and closes at once cannot cause a
    reconnect storm. ``max_attempts`` (connection attempts in a row) and
    ``max_total_time`` (seconds since the outage began) bound the retries; None
    means forever. ``connect_timeout`` is a deprecated alias of
    ``ConnectionOptions.connect_timeout`` (the one owner of link timeouts):
    when given, it overrides that, with a DeprecationWarning.

    ``close_codes`` and ``http_statuses`` override entries of
    :data:`DEFAULT_CLOSE_CODES` and :data:`DEFAULT_HTTP_STATUSES`;
    ``error_types`` those of :data:`DEFAULT_ERROR_TYPES` (exception classes,
    consulted first: the most specific class of the error listed decides, e.g.
    ``{TLSVerificationFailed: CloseAction.RETRY}``).

    ``RETRY_LATER`` waits at least ``retry_later_delay``, or the server's
    Retry-After (seconds or an HTTP-date) capped at ``retry_after_max``: a
    server cannot park the client for longer than that.

    ``stall_spread`` keeps jitter working when the process stalls (a garbage
    collector pass over many connections, a blocking call, a starved CPU):
    every wait due during the stall ends at the same instant, after it, and
    the connections of one process would all reconnect together. With jitter
    (``full_jitter`` or ``wait_jitter``), a wait that ended ``lateness``
    seconds late (more than :data:`STALL_TOLERANCE`) waits a further uniform
    random time of up to ``stall_spread * lateness`` seconds, at most the
    range that wait was drawn from. The attempts a stall held back then leave
    over about ``stall_spread`` times its length: simulated, a stall raises
    the peak reconnect rate by about ``1 / stall_spread`` (1.7x without). 0
    turns it off; without jitter the schedule stays exact.
    """

    wait_initial: float = attrs.field(default=0.5, validator=v.non_negative)
    wait_max: float = attrs.field(default=30.0, validator=v.non_negative)
    wait_exp_base: float = attrs.field(default=2.0, validator=v.number(ge=1))
    wait_jitter: float = attrs.field(default=0.0, validator=v.non_negative)
    full_jitter: bool = attrs.field(default=True, validator=v.instance_of(bool))
    max_attempts: int | None = attrs.field(
        default=None, validator=v.optional(v.number(ge=1, integer=True))
    )
    max_total_time: float | None = attrs.field(default=None, validator=v.optional(v.positive))
    min_uptime: float = attrs.field(default=5.0, validator=v.non_negative)
    connect_timeout: float | None = attrs.field(default=None, validator=v.optional(v.positive))
    retry_later_delay: float = attrs.field(default=10.0, validator=v.non_negative)
    retry_after_max: float = attrs.field(default=300.0, validator=v.non_negative)
    stall_spread: float = attrs.field(default=6.0, validator=v.non_negative)
    close_codes: Mapping[int, CloseAction] = attrs.field(
        factory=dict, converter=_freeze_table, validator=_check_table
    )
    http_statuses: Mapping[int, CloseAction] = attrs.field(
        factory=dict, converter=_freeze_table, validator=_check_table
    )
    error_types: Mapping[type[BaseException], CloseAction] = attrs.field(
        factory=dict, converter=_freeze_types, validator=_check_error_types
    )

    def __attrs_post_init__(self) -> None:
        if self.connect_timeout is not None:
            warn_renamed(
                "ReconnectPolicy(connect_timeout=...)", "ConnectionOptions(connect_timeout=...)"
            )
        if self.wait_initial > self.wait_max:
            raise UsageError(
                f"ReconnectPolicy.wait_initial ({self.wait_initial:g}) "
                f"must not exceed wait_max ({self.wait_max:g})"
            )

    @classmethod
    def fixed(cls, delay: float, **kwargs: object) -> ReconnectPolicy:
        """Always wait exactly ``delay`` seconds (the "reconnect after 3 s" pattern)."""
        return cls(
            wait_initial=delay,
            wait_max=delay,
            wait_exp_base=1.0,
            full_jitter=False,
            **kwargs,  # type: ignore[arg-type]
        )

    @classmethod
    def never(cls) -> ReconnectPolicy:
        """Connect once; any failure ends the managed connection."""
        return cls(max_attempts=1)

    # -- pure decisions --------------------------------------------------------

    def base_delay(self, retry: int) -> float:
        """The un-jittered delay before retry number ``retry`` (1-based)."""
        exponent = max(retry - 1, 0)
        try:
            raw = self.wait_initial * self.wait_exp_base**exponent
        except OverflowError:
            raw = math.inf
        return min(self.wait_max, raw)

    def delay(self, retry: int, rng: random.Random) -> float:
        """The jittered delay before retry number ``retry``, drawn from ``rng``."""
        delay = self.base_delay(retry)
        if self.full_jitter:
            delay = rng.uniform(0.0, delay)
        if self.wait_jitter:
            delay += rng.uniform(0.0, self.wait_jitter)
        return min(self.wait_max, delay)

    def stall_extension(self, lateness: float, retry: int, rng: random.Random) -> float:
        """Seconds to wait on after the wait before retry ``retry`` ended ``lateness``
        seconds late (see ``stall_spread``), drawn from ``rng``; 0.0 when not jittered."""
        if (
            not self.stall_spread
            or lateness <= STALL_TOLERANCE
            or not (self.full_jitter or self.wait_jitter)
        ):
            return 0.0
        drawn_from = min(self.wait_max, self.base_delay(retry) + self.wait_jitter)
        return rng.uniform(0.0, min(self.stall_spread * lateness, drawn_from))

    def action_for_close(self, code: int) -> CloseAction:
        """The action for a connection closed with WebSocket ``code``."""
        return self.close_codes.get(code) or DEFAULT_CLOSE_CODES.get(code, CloseAction.RETRY)

    def action_for_status(self, status: int) -> CloseAction:
        """The action for a handshake rejected with HTTP ``status``."""
        action = self.http_statuses.get(status) or DEFAULT_HTTP_STATUSES.get(status)
        if action is not None:
            return action
        return CloseAction.STOP if 400 <= status < 500 else CloseAction.RETRY

    def action_for(self, error: BaseException) -> CloseAction:
        """The action for the error that ended an attempt or a connection.

        First ``error_types`` / :data:`DEFAULT_ERROR_TYPES` by class (most
        specific first): liveness timeouts are retried; ``SessionEnded``,
        ``TLSVerificationFailed`` and ``UsageError`` (a misconfiguration found
        while connecting, e.g. a SOCKS proxy without python-socks: retrying
        cannot help) are not. Then close codes and HTTP statuses
        follow their tables. Everything else is retried: network errors,
        connect timeouts, bad handshakes, protocol errors (broken frames,
        ``MessageTooBig``) and failures of the ``on_connect`` step.
        """
        for kind in type(error).__mro__:
            action = self.error_types.get(kind) or DEFAULT_ERROR_TYPES.get(kind)
            if action is not None:
                return action
        if isinstance(error, ConnectionLost):
            return self.action_for_close(error.code)
        if isinstance(error, HandshakeRejected):
            return self.action_for_status(error.status)
        return CloseAction.RETRY


@attrs.frozen
class ReconnectAfter:
    """Reconnect after ``delay`` seconds; it will be attempt number ``attempt``."""

    delay: float
    attempt: int


@attrs.frozen
class StopReconnecting:
    """The policy's decision: stop reconnecting, for the reason ``why``."""

    why: str


GiveUp = StopReconnecting
"""The former name of :class:`StopReconnecting` (kept as an alias)."""


class Backoff:
    """Retry state of one managed connection under ``policy``, jitter drawn from ``rng``.

    Without ``rng``, a ``random.Random()`` of its own is made at the first
    retry (not before: its state costs 2.5 KiB, per connection).
    """

    def __init__(self, policy: ReconnectPolicy, rng: random.Random | None = None) -> None:
        self._policy = policy
        self._rng = rng
        self._failures = 0  # failed attempts / short-lived connections in a row
        self._outage_start: float | None = None
        self._connected_at: float | None = None
        self.attempts = 0  # connection attempts made in all

    @property
    def outage_started_at(self) -> float | None:
        """When the current outage began (None before the first attempt)."""
        return self._outage_start

    @property
    def next_attempt(self) -> int:
        """The number (1-based, within the current outage) of the next attempt."""
        return self._failures + 1

    def attempt_started(self, now: float) -> None:
        """A connection attempt begins at ``now``."""
        self.attempts += 1
        if self._outage_start is None:
            self._outage_start = now

    def connected(self, now: float) -> None:
        """The attempt succeeded at ``now`` (handshake and on-connect step done)."""
        self._connected_at = now

    def failed(self, now: float, error: BaseException) -> ReconnectAfter | StopReconnecting:
        """The attempt or connection ended at ``now`` with ``error``: what next?"""
        policy = self._policy
        if self._connected_at is not None:
            uptime = now - self._connected_at
            self._connected_at = None
            if uptime >= policy.min_uptime:
                self._failures = 0
                self._outage_start = now
        if self._outage_start is None:
            self._outage_start = now
        self._failures += 1
        action = policy.action_for(error)
        if action is CloseAction.STOP:
            return StopReconnecting(f"{type(error).__name__} is not retried by the policy")
        if policy.max_attempts is not None and self._failures >= policy.max_attempts:
            return StopReconnecting(f"max_attempts={policy.max_attempts} reached")
        if self._rng is None:
            self._rng = random.Random()
        delay = policy.delay(self._failures, self._rng)
        if action is CloseAction.RETRY_LATER:
            retry_after = error.retry_after if isinstance(error, HandshakeRejected) else None
            if retry_after is None:
                delay = max(delay, policy.retry_later_delay)
            else:
                delay = max(delay, min(retry_after, policy.retry_after_max))
        if (
            policy.max_total_time is not None
            and now + delay - self._outage_start > policy.max_total_time
        ):
            return StopReconnecting(f"max_total_time={policy.max_total_time:g} s would be exceeded")
        return ReconnectAfter(delay, self._failures + 1)

    def waited_late(self, lateness: float) -> float:
        """The wait the last :meth:`failed` asked for ended ``lateness`` seconds
        late: how many seconds more to wait (see ``ReconnectPolicy.stall_spread``)."""
        if self._rng is None or self._failures == 0:
            return 0.0
        return self._policy.stall_extension(lateness, self._failures, self._rng)
