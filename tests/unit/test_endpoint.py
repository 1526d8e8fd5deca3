"""The connect plan in the pure core: endpoints, rotation, factory context, redaction."""

from __future__ import annotations

import copy
import pickle
import ssl

import pytest

import trio_heartbeat as th
from trio_heartbeat._core.endpoint import (
    AskFactory,
    ConnectPlan,
    Outcome,
    UseEndpoint,
    as_endpoint,
    next_endpoint,
)
from trio_heartbeat._core.redact import redact_to_origin

A, B, C = (th.Endpoint(f"ws://{name}.example/") for name in "abc")
PLAN = ConnectPlan((A, B, C))
LOST = th.ConnectionLost(1006, "gone")
REFUSED = th.ConnectError("refused")


def pick(previous: Outcome | None, attempt: int) -> int:
    decision = next_endpoint(PLAN, previous, attempt=attempt, total_attempts=9, outage_elapsed=0.0)
    assert isinstance(decision, UseEndpoint)
    assert decision.endpoint is PLAN.endpoints[decision.index]
    return decision.index


def test_rotation_starts_at_the_first_and_moves_on_after_each_failed_attempt() -> None:
    assert pick(None, 1) == 0
    assert pick(Outcome(0, REFUSED, False), 2) == 1
    assert pick(Outcome(1, REFUSED, False), 3) == 2
    assert pick(Outcome(2, REFUSED, False), 4) == 0  # wraps around


def test_rotation_stays_on_an_endpoint_whose_link_lasted() -> None:
    assert pick(Outcome(1, LOST, True), 2) == 1  # up for min_uptime: it works
    assert pick(Outcome(1, LOST, False), 2) == 2  # dropped sooner: a failure


def test_a_single_url_is_always_the_same_endpoint() -> None:
    plan = ConnectPlan.from_target("ws://only/")
    for previous in (None, Outcome(0, REFUSED, False), Outcome(0, LOST, True)):
        decision = next_endpoint(plan, previous, attempt=3, total_attempts=3, outage_elapsed=1.0)
        assert decision == UseEndpoint(0, th.Endpoint("ws://only/"))


def test_a_factory_is_asked_with_the_attempt_numbers_and_previous_error() -> None:
    plan = ConnectPlan.from_target(lambda context: "ws://x/")
    first = next_endpoint(plan, None, attempt=1, total_attempts=1, outage_elapsed=0.0)
    assert first == AskFactory(
        th.AttemptContext(attempt=1, total_attempts=1, previous_error=None, outage_elapsed=0.0)
    )
    later = next_endpoint(
        plan, Outcome(None, REFUSED, False), attempt=3, total_attempts=7, outage_elapsed=4.5
    )
    assert isinstance(later, AskFactory)
    assert later.context.attempt == 3
    assert later.context.total_attempts == 7
    assert later.context.previous_error is REFUSED
    assert later.context.outage_elapsed == 4.5


def test_plans_from_every_accepted_shape() -> None:
    assert ConnectPlan.from_target("ws://a.example/").endpoints == (A,)
    assert ConnectPlan.from_target(B).endpoints == (B,)
    assert ConnectPlan.from_target(["ws://a.example/", B]).endpoints == (A, B)
    factory = ConnectPlan.from_target(lambda context: A)
    assert factory.endpoints == () and factory.factory is not None


@pytest.mark.parametrize(
    "bad", [[], 42, ["ws://ok/", 3], "http://x/", ["ftp://x/"], "ws:///nohost", "ws://x:bad/"]
)
def test_bad_plans_are_usage_errors(bad: object) -> None:
    with pytest.raises(th.UsageError):
        ConnectPlan.from_target(bad)


def test_as_endpoint_rejects_other_values() -> None:
    assert as_endpoint("wss://x/") == th.Endpoint("wss://x/")
    with pytest.raises(th.UsageError, match="got int"):
        as_endpoint(3)


def test_endpoint_fields_are_validated() -> None:
    with pytest.raises(ValueError, match="ws/wss"):
        th.Endpoint("https://x/")
    with pytest.raises(ValueError, match="proxy"):
        th.Endpoint("ws://x/", proxy="ftp://p/")
    with pytest.raises(TypeError):
        th.Endpoint("ws://x/", ssl_context="yes")  # type: ignore[arg-type]
    endpoint = th.Endpoint("wss://x/", extra_headers={"A": "1"}, subprotocols=["chat"])
    assert endpoint.extra_headers == (("A", "1"),)
    assert endpoint.subprotocols == ("chat",)
    assert endpoint.secure and not A.secure


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "wss://user:pw@host.example:8443/ws/LISTENKEY?token=SECRET",
            "wss://…@host.example:8443/…",
        ),
        ("ws://host/", "ws://host"),
        ("ws://[::1]:9/", "ws://[::1]:9"),
        ("socks5h://u:p@proxy:1080", "socks5h://…@proxy:1080"),
        ("ws://x:notaport/", "<unparsable URL>"),
    ],
)
def test_redact_to_origin_keeps_only_scheme_host_and_port(url: str, shown: str) -> None:
    assert redact_to_origin(url) == shown


def test_reprs_hide_every_secret() -> None:
    endpoint = th.Endpoint(
        "wss://user:PW1@host/ws/KEY2?token=TOK3",
        extra_headers=[("Authorization", "Bearer HDR4")],
        proxy="http://puser:PPW5@proxy:3128",
        ssl_context=ssl.create_default_context(),
    )
    options = th.ConnectionOptions(
        proxy="http://puser:PPW6@proxy:3128", extra_headers=[("X-Key", "HDR7")]
    )
    event = th.Connecting(1, endpoint)
    for text in (repr(endpoint), str(endpoint), repr(options), repr(event)):
        for secret in ("PW1", "KEY2", "TOK3", "HDR4", "PPW5", "PPW6", "HDR7", "puser"):
            assert secret not in text, (secret, text)
    assert "Authorization" in repr(endpoint) and "host" in repr(endpoint)


def test_proxy_rejected_is_a_handshake_rejection_that_survives_pickle() -> None:
    exc = th.ProxyRejected(407, "proxy.example:3128")
    assert isinstance(exc, th.HandshakeRejected) and exc.status == 407
    assert "authentication" in str(exc)
    for clone in (copy.copy(exc), pickle.loads(pickle.dumps(exc))):
        assert (clone.status, clone.proxy, str(clone)) == (407, exc.proxy, str(exc))
    assert th.ReconnectPolicy().action_for(exc) is th.CloseAction.STOP
