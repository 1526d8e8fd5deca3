"""Misuse of the server's, the test kit's and the connect plan's settings: one short
UsageError naming the field (or argument) and the value, from the shared validators."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import trio_heartbeat as th
from tests.unit.test_usage_errors import _bad
from trio_heartbeat._core.codec import PlainCodec
from trio_heartbeat._core.delivery import DeliveryLedger
from trio_heartbeat._core.ratelimit import TokenBucket
from trio_heartbeat.adapters.sockjs import sockjs_url
from trio_heartbeat.errors import UsageError
from trio_heartbeat.server import (
    Accept,
    FullQueue,
    InvalidMessage,
    Reject,
    ServerHeartbeat,
    ServerOptions,
)
from trio_heartbeat.server._rounds import IsAliveRounds
from trio_heartbeat.testing import Direction, Faults, FaultStep
from trio_heartbeat.testing._frames import encode_frame

NAN = float("nan")
INF = float("inf")


SERVER_OPTIONS = [
    ({"handshake_timeout": 0}, ["ServerOptions.handshake_timeout", "> 0", "got 0"]),
    ({"handshake_timeout": INF}, ["handshake_timeout", "a finite number", "got inf"]),
    ({"close_timeout": NAN}, ["ServerOptions.close_timeout", "got nan"]),
    ({"send_timeout": -1}, ["ServerOptions.send_timeout", "got -1"]),
    ({"send_timeout": True}, ["ServerOptions.send_timeout", "got True"]),
    ({"send_timeout": "5"}, ["ServerOptions.send_timeout", "got '5'"]),
    ({"send_queue_size": 0}, ["ServerOptions.send_queue_size", "an int > 0", "got 0"]),
    ({"send_queue_size": 2.5}, ["ServerOptions.send_queue_size", "got 2.5"]),
    ({"max_pending_messages": 0}, ["ServerOptions.max_pending_messages", "got 0"]),
    ({"max_message_size": -5}, ["ServerOptions.max_message_size", "got -5"]),
    (
        {"full_queue": "drop"},
        ["ServerOptions.full_queue", "FullQueue.DISCONNECT, FullQueue.DROP_MESSAGE", "'drop'"],
    ),
    ({"slow_close_code": 1006}, ["ServerOptions.slow_close_code", "may be sent", "got 1006"]),
    ({"slow_close_code": 2000}, ["ServerOptions.slow_close_code", "got 2000"]),
    ({"slow_close_code": True}, ["ServerOptions.slow_close_code", "got True"]),
    ({"ssl_context": "yes"}, ["ServerOptions.ssl_context", "SSLContext or None", "'yes'"]),
]


SERVER_HEARTBEAT: list[tuple[Callable[[], object], list[str]]] = [
    (lambda: ServerHeartbeat(interval=0), ["ServerHeartbeat.interval", "> 0", "got 0"]),
    (lambda: ServerHeartbeat(interval=INF), ["ServerHeartbeat.interval", "got inf"]),
    (lambda: ServerHeartbeat(interval=NAN), ["ServerHeartbeat.interval", "got nan"]),
    (lambda: ServerHeartbeat(interval="5"), ["ServerHeartbeat.interval", "got '5'"]),
    (lambda: ServerHeartbeat.ping(-1.0), ["ServerHeartbeat.interval", "got -1.0"]),
    (
        lambda: ServerHeartbeat(interval=5.0, payload=1),
        ["ServerHeartbeat.payload", "bytes or str or None", "got 1"],
    ),
    (lambda: ServerHeartbeat(interval=5.0, answer=2.0), ["ServerHeartbeat.answer", "got 2.0"]),
    (
        lambda: ServerHeartbeat(interval=5.0, any_traffic_proves_life=1),
        ["ServerHeartbeat.any_traffic_proves_life", "True or False", "got 1"],
    ),
    (
        lambda: ServerHeartbeat(interval=5.0, answer=b"\x01"),
        ["answered by pongs", "answer is None"],
    ),
    (
        lambda: ServerHeartbeat(interval=5.0, payload=b"\x01", any_traffic_proves_life=False),
        ["needs any_traffic_proves_life=True"],
    ),
]


GATES: list[tuple[Callable[[], object], list[str]]] = [
    (lambda: Reject(200), ["Reject.status", "an HTTP status 300-599", "got 200"]),
    (lambda: Reject(True), ["Reject.status", "got True"]),
    (lambda: Reject(403, reason=5), ["Reject.reason", "a str", "got 5"]),
    (lambda: Accept(subprotocol=1), ["Accept.subprotocol", "str or None", "got 1"]),
    (
        lambda: InvalidMessage("no", code=1006),
        ["InvalidMessage(code=...)", "may be sent", "got 1006"],
    ),
]


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda f: f.set_latency(-1.0), ["Faults.set_latency(delay=...)", ">= 0", "got -1.0"]),
        (lambda f: f.set_latency(NAN), ["Faults.set_latency(delay=...)", "got nan"]),
        (lambda f: f.set_latency("1"), ["Faults.set_latency(delay=...)", "got '1'"]),
        (lambda f: f.trickle(0), ["Faults.trickle(bytes_per_second=...)", "int > 0", "got 0"]),
        (lambda f: f.trickle(2.5), ["Faults.trickle(bytes_per_second=...)", "got 2.5"]),
        (lambda f: f.close(1005), ["Faults.close(code=...)", "may be sent", "got 1005"]),
        (lambda f: f.close(2999), ["Faults.close(code=...)", "got 2999"]),
        (lambda f: f.close(1000, b"bye"), ["Faults.close(reason=...)", "a str", "got b'bye'"]),
        (lambda f: f.close(1000, "x" * 124), ["Faults.close(reason=...)", "123 bytes"]),
        (
            lambda f: f.close(1000, grace_delay=-0.5),
            ["Faults.close(grace_delay=...)", ">= 0", "got -0.5"],
        ),
        (
            lambda f: f.refuse_handshakes(count=0),
            ["Faults.refuse_handshakes(count=...)", "an int > 0 or None", "got 0"],
        ),
        (
            lambda f: f.refuse_handshakes(duration=0.0),
            ["Faults.refuse_handshakes(duration=...)", "> 0 or None", "got 0.0"],
        ),
        (
            lambda f: f.close_after_handshake(count=1.5),
            ["Faults.close_after_handshake(count=...)", "got 1.5"],
        ),
        (
            lambda f: f.reject_handshakes(101),
            ["Faults.reject_handshakes(status=...)", "an HTTP status 200-599", "got 101"],
        ),
        (lambda f: f.reject_handshakes(600), ["Faults.reject_handshakes(status=...)", "got 600"]),
        (
            lambda f: f.reject_handshakes(503, retry_after=-1),
            ["Faults.reject_handshakes(retry_after=...)", "an int >= 0 or None", "got -1"],
        ),
        (
            lambda f: f.reject_handshakes(503, duration=-1.0),
            ["Faults.reject_handshakes(duration=...)", "got -1.0"],
        ),
        (lambda f: f.black_hole("both"), ["direction", "Direction.TO_SERVER", "got 'both'"]),
        (lambda f: f.drop_heartbeats(3), ["direction", "got 3"]),
    ],
)
def test_faults_misuse(call: Callable[[Faults], object], words: list[str]) -> None:
    faults = Faults()
    with pytest.raises(UsageError) as exc:
        call(faults)
    _bad(exc, *words)


def test_fault_step_misuse() -> None:
    with pytest.raises(UsageError) as exc:
        FaultStep(at=-1.0, action=Faults.heal)
    _bad(exc, "FaultStep.at", "a number >= 0", "got -1.0")


async def test_a_refused_fault_changes_nothing() -> None:
    faults = Faults()
    with pytest.raises(UsageError):
        faults.trickle(0, Direction.TO_CLIENT)
    with pytest.raises(UsageError):
        faults.reject_handshakes(503, count=0)
    stats = faults.statistics()
    assert stats.trickle_to_client is None and stats.handshake_fault is None


SUSPEND_CHECK = [
    ({"check_interval": 0}, ["SuspendCheck.check_interval", "a number > 0", "got 0"]),
    ({"check_interval": True}, ["SuspendCheck.check_interval", "got True"]),
    ({"threshold": -2.0}, ["SuspendCheck.threshold", "got -2.0"]),
    ({"threshold": NAN}, ["SuspendCheck.threshold", "got nan"]),
    ({"probe_timeout": "2"}, ["SuspendCheck.probe_timeout", "got '2'"]),
    ({"source": 1.0}, ["SuspendCheck.source", "a callable or None", "got 1.0"]),
]


@pytest.mark.parametrize(
    ("cls", "kwargs", "words"),
    [(ServerOptions, *case) for case in SERVER_OPTIONS]
    + [(th.SuspendCheck, *case) for case in SUSPEND_CHECK],
)
def test_config_misuse(cls: type, kwargs: dict[str, object], words: list[str]) -> None:
    with pytest.raises(UsageError) as exc:
        cls(**kwargs)
    _bad(exc, *words)


ENDPOINT: list[tuple[Callable[[], object], list[str]]] = [
    (lambda: th.Endpoint(5), ["url must be a str", "got int"]),
    (lambda: th.Endpoint("http://h/"), ["url must be a ws/wss URL", "got http://h"]),
    (lambda: th.Endpoint("ws:///x"), ["url has no host"]),
    (lambda: th.Endpoint("ws://h:99999/"), ["url has a bad port"]),
    (
        lambda: th.Endpoint("ws://h/", proxy="ftp://p/"),
        ["proxy must be a http/https/socks5/socks5h URL", "got ftp://p"],
    ),
    (
        lambda: th.Endpoint("ws://h/", subprotocols="chat"),
        ["Endpoint.subprotocols", "a sequence of str", "got 'chat'"],
    ),
    (
        lambda: th.Endpoint("ws://h/", subprotocols=["chat", 2]),
        ["Endpoint.subprotocols", "got ('chat', 2)"],
    ),
    (
        lambda: th.Endpoint("ws://h/", ssl_context=True),
        ["Endpoint.ssl_context", "SSLContext or None", "got True"],
    ),
    (
        lambda: th.Endpoint("ws://h/", extra_headers=5),
        ["Endpoint.extra_headers", "(name, value) str pairs", "got int"],
    ),
    (
        lambda: th.Endpoint("ws://h/", extra_headers={"Authorization": 7}),
        ["Endpoint.extra_headers", "values not shown"],
    ),
]


def test_endpoint_errors_never_show_secrets() -> None:
    with pytest.raises(UsageError) as exc:
        th.Endpoint("http://user:s3cret@h/?token=s3cret")
    assert "s3cret" not in str(exc.value)
    with pytest.raises(UsageError) as exc:
        th.Endpoint("ws://h/", extra_headers=[("Authorization", b"s3cret")])
    assert "s3cret" not in str(exc.value)


def _twice_registered() -> None:
    rounds = IsAliveRounds()
    rounds.add(1, now=0.0)
    rounds.add(1, now=1.0)


HELPERS: list[tuple[Callable[[], object], list[str]]] = [
    (lambda: th.Resume(position_of=5), ["Resume.position_of", "a callable", "got 5"]),
    (lambda: DeliveryLedger(0), ["DeliveryLedger(window=...)", "an int > 0", "got 0"]),
    (lambda: TokenBucket(0, 1, now=0.0), ["TokenBucket(rate=...)", "got 0"]),
    (lambda: TokenBucket(INF, 1, now=0.0), ["TokenBucket(rate=...)", "got inf"]),
    (lambda: TokenBucket(1.0, 0, now=0.0), ["TokenBucket(burst=...)", "got 0"]),
    (lambda: PlainCodec().encode(["a", "b"]), ["PlainCodec cannot batch", "send_batch_size"]),
    (lambda: encode_frame(16), ["encode_frame(opcode=...)", "an int 0-15", "got 16"]),
    (lambda: encode_frame(1, mask_key=b"ab"), ["encode_frame(mask_key=...)", "4 bytes"]),
    (lambda: sockjs_url("ws://h/x", session_length=0), ["session_length", "int > 0", "got 0"]),
    (_twice_registered, ["client 1 is already registered"]),
]


@pytest.mark.parametrize(("make", "words"), SERVER_HEARTBEAT + GATES + ENDPOINT + HELPERS)
def test_call_misuse(make: Callable[[], object], words: list[str]) -> None:
    with pytest.raises(UsageError) as exc:
        make()
    _bad(exc, *words)


def test_full_queue_and_close_code_accept_their_values() -> None:
    options = ServerOptions(full_queue=FullQueue.DROP_MESSAGE, slow_close_code=4000)
    assert (options.full_queue, options.slow_close_code) == (FullQueue.DROP_MESSAGE, 4000)
    assert th.Endpoint("ws://h/", extra_headers={"A": "1"}).extra_headers == (("A", "1"),)
