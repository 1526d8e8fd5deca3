"""Misuse of a config class: one short UsageError naming the field, the value, what is allowed."""

from __future__ import annotations

import pytest

import trio_heartbeat as th
from trio_heartbeat.errors import UsageError


def _bad(exc: pytest.ExceptionInfo[UsageError], *words: str) -> None:
    text = str(exc.value)
    assert "\n" not in text and len(text) < 160, text
    assert "Attribute(" not in text  # no attrs internals
    for word in words:
        assert word in text, (word, text)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"send_buffer_size": 0}, ["ConnectionOptions.send_buffer_size", "an int > 0", "got 0"]),
        ({"send_buffer_size": 1.5}, ["send_buffer_size", "got 1.5"]),
        ({"send_buffer_size": True}, ["send_buffer_size", "got True"]),
        (
            {"overflow": "drop"},
            ["ConnectionOptions.overflow", "Overflow.RAISE, Overflow.DROP_OLDEST", "got 'drop'"],
        ),
        ({"receive_buffer_size": -1}, ["receive_buffer_size", "got -1"]),
        ({"max_message_size": 0}, ["max_message_size", "got 0"]),
        ({"close_timeout": -1}, ["ConnectionOptions.close_timeout", "a number > 0", "got -1"]),
        ({"connect_timeout": 0}, ["ConnectionOptions.connect_timeout", "a number > 0", "got 0"]),
        ({"close_timeout": float("nan")}, ["close_timeout", "got nan"]),
        ({"close_timeout": "5"}, ["close_timeout", "got '5'"]),
        ({"resend_unconfirmed": 1}, ["resend_unconfirmed", "True or False", "got 1"]),
        ({"send_batch_size": 0}, ["send_batch_size"]),
        ({"send_rate": 0}, ["send_rate", "a number > 0 or None", "got 0"]),
        ({"send_burst": 0}, ["send_burst"]),
        ({"subprotocols": "chat"}, ["subprotocols", "a sequence of str", "got 'chat'"]),
        ({"subprotocols": ["chat", 1]}, ["subprotocols", "got ('chat', 1)"]),
        ({"ssl_context": True}, ["ssl_context", "SSLContext"]),
        ({"read_size": 0}, ["read_size"]),
        ({"transport": "direct"}, ["transport", "Transport.DIRECT", "got 'direct'"]),
    ],
)
def test_connection_options_misuse(kwargs: dict[str, object], words: list[str]) -> None:
    with pytest.raises(UsageError) as exc:
        th.ConnectionOptions(**kwargs)  # type: ignore[arg-type]
    _bad(exc, *words)


@pytest.mark.parametrize(
    "headers", [{"Authorization": "Bearer s3cret"}, [("Authorization", 7)], ["s3cret"]]
)
def test_bad_extra_headers_never_show_a_value(headers: object) -> None:
    with pytest.raises(UsageError) as exc:
        th.ConnectionOptions(extra_headers=headers)  # type: ignore[arg-type]
    _bad(exc, "ConnectionOptions.extra_headers", "(name, value) str pairs")
    assert "s3cret" not in str(exc.value) and "Bearer" not in str(exc.value)


def test_extra_headers_accept_list_pairs_and_hide_values_in_repr() -> None:
    options = th.ConnectionOptions(extra_headers=[["Authorization", "Bearer s3cret"]])
    assert options.extra_headers == (("Authorization", "Bearer s3cret"),)
    assert "s3cret" not in repr(options) and "Authorization" in repr(options)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"wait_initial": -1}, ["ReconnectPolicy.wait_initial", "a number >= 0", "got -1"]),
        ({"wait_max": "30"}, ["ReconnectPolicy.wait_max", "got '30'"]),
        ({"wait_exp_base": 0.5}, ["ReconnectPolicy.wait_exp_base", ">= 1", "got 0.5"]),
        ({"wait_jitter": float("nan")}, ["wait_jitter", "got nan"]),
        ({"full_jitter": "yes"}, ["full_jitter", "True or False"]),
        ({"max_attempts": 0}, ["ReconnectPolicy.max_attempts", "an int >= 1 or None", "got 0"]),
        ({"max_attempts": 2.0}, ["max_attempts", "got 2.0"]),
        ({"max_total_time": 0}, ["max_total_time", "or None", "got 0"]),
        ({"min_uptime": -0.1}, ["min_uptime", "got -0.1"]),
        ({"connect_timeout": 0.0}, ["ReconnectPolicy.connect_timeout", "> 0 or None", "got 0.0"]),
        ({"retry_later_delay": -1}, ["retry_later_delay"]),
        ({"close_codes": {1000: "stop"}}, ["ReconnectPolicy.close_codes", "CloseAction"]),
        ({"close_codes": [1000]}, ["ReconnectPolicy.close_codes", "a mapping"]),
        ({"http_statuses": {"503": th.CloseAction.STOP}}, ["http_statuses", "'503'"]),
        ({"wait_initial": 5.0, "wait_max": 1.0}, ["wait_initial (5)", "wait_max (1)"]),
    ],
)
def test_reconnect_policy_misuse(kwargs: dict[str, object], words: list[str]) -> None:
    with pytest.raises(UsageError) as exc:
        th.ReconnectPolicy(**kwargs)  # type: ignore[arg-type]
    _bad(exc, *words)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: th.Heartbeat.ping(interval=-1), ["Heartbeat.interval", "> 0 or None", "got -1"]),
        (lambda: th.Heartbeat.ping(reply_timeout=0), ["Heartbeat.reply_timeout", "got 0"]),
        (lambda: th.Heartbeat(interval=1.0, idle_only=1), ["Heartbeat.idle_only", "got 1"]),
        (lambda: th.Heartbeat(interval=1.0, payload=1), ["Heartbeat.payload", "str or bytes"]),
        (lambda: th.Heartbeat(reply_timeout=1.0), ["reply_timeout needs a client heartbeat"]),
        (lambda: th.Heartbeat(idle_only=True), ["idle_only needs"]),
        (lambda: th.Heartbeat(server_answer="3"), ["server_answer needs server_payload"]),
        (lambda: th.Heartbeat(interval=1.0, reply="x"), ["reply only applies"]),
        (lambda: th.Heartbeat.text("hb", interval=1.0), ["Heartbeat.text() needs reply_timeout"]),
        (
            lambda: th.Heartbeat.server_sent(interval="5"),  # type: ignore[arg-type]
            ["Heartbeat.server_sent(interval=...)", "got '5'"],
        ),
        (
            lambda: th.Heartbeat.server_sent(silence_timeout=6.0, grace=1.0),
            ["silence_timeout or grace, not both"],
        ),
        (
            lambda: th.Heartbeat.engineio(ping_timeout=-1),
            ["Heartbeat.engineio(ping_timeout=...)", "got -1"],
        ),
        (
            lambda: th.Heartbeat(silence_timeout=1.0, any_traffic_proves_life=False),
            ["something must be a heartbeat"],
        ),
    ],
)
def test_heartbeat_misuse(make: object, words: list[str]) -> None:
    with pytest.raises(UsageError) as exc:
        make()  # type: ignore[operator]
    _bad(exc, *words)


def test_usage_error_is_also_value_and_type_error() -> None:
    """Code written against the old validators (ValueError/TypeError) keeps working."""
    with pytest.raises(ValueError):
        th.ReconnectPolicy(wait_initial=-1)
    with pytest.raises(TypeError):
        th.ConnectionOptions(overflow="drop")  # type: ignore[arg-type]
    assert issubclass(th.ConnectionClosedError, th.HeartbeatError)


def test_link_silence_timeout_misuse_is_a_usage_error() -> None:
    from trio_heartbeat._core.liveness import Liveness

    live = Liveness(th.Heartbeat.inbound_traffic(5.0), connected_at=0.0)
    with pytest.raises(UsageError, match="silence_timeout must be a number > 0, got 0"):
        live.set_silence_timeout(0)


async def test_open_heartbeat_clock_misuse_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"^resolution must be a number > 0 \(seconds\), got 0$"):
        async with th.open_heartbeat_clock(resolution=0):
            pass


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rng": 42}, "rng must be a random.Random, got int"),
        ({"dial": "tcp"}, "dial must be an async callable returning a trio Stream"),
        ({"reconnect": {"max_attempts": 1}}, "reconnect must be a ReconnectPolicy, got dict"),
    ],
)
async def test_open_managed_websocket_misuse_fails_before_any_io(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(UsageError) as exc:
        async with th.open_managed_websocket("ws://x/", **kwargs):  # type: ignore[arg-type]
            pass
    assert str(exc.value) == message


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "http://user:s3cret@host/?token=s3cret",
            "url must be a ws/wss URL, got http://…@host/…",
        ),
        ("ws:///path?token=s3cret", "url has no host: ws:///…"),
        ("ws://user:s3cret@host:99999/?token=s3cret", "url has a bad port: <unparsable URL>"),
    ],
)
async def test_a_bad_url_is_a_usage_error_that_never_shows_its_secrets(
    url: str, message: str
) -> None:
    with pytest.raises(UsageError) as exc:
        async with th.open_managed_websocket(url):
            pass
    assert str(exc.value) == message
    assert exc.value.__cause__ is None
