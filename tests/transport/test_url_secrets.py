"""URL credentials go on the wire as Basic auth, and no secret reaches a message, log or repr."""

from __future__ import annotations

import base64
import logging

import pytest
import trio
import trio.testing

import trio_heartbeat as th
from tests.transport.rawserver import RawServer, header, switching_protocols
from trio_heartbeat._core.redact import redact_url
from trio_heartbeat._transport.common import parse_url


async def test_url_credentials_are_sent_as_basic_auth(
    transport: th.Transport, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def server(stream: trio.abc.Stream, request: bytes) -> None:
        await stream.send_all(switching_protocols(request))
        await trio.sleep_forever()

    srv = RawServer(nursery, server)
    async with th.open_managed_websocket(
        "ws://al%40ice:p%3Ass:w%C3%B6rd@x/feed?token=SECRET",
        options=th.ConnectionOptions(transport=transport, extra_headers=[("X-Other", "1")]),
        dial=srv.dial,
    ) as ws:
        await ws.wait_connected()
    (request,) = srv.requests
    expected = base64.b64encode("al@ice:p:ss:wörd".encode()).decode()
    assert header(request, b"authorization") == f"Basic {expected}".encode()
    assert header(request, b"x-other") == b"1"
    assert request.startswith(b"GET /feed?token=SECRET HTTP/1.1\r\n")
    assert b"al%40ice" not in request  # the userinfo itself never goes out


def test_credentials_and_an_authorization_header_are_refused() -> None:
    options = th.ConnectionOptions(extra_headers=[("authorization", "Bearer t0ken")])
    with pytest.raises(th.UsageError) as info:
        th.ManagedWebSocket(
            "ws://user:hunter2@x/",
            heartbeat=th.Heartbeat.disabled(),
            reconnect=th.ReconnectPolicy(),
            options=options,
            on_connect=None,
            dial=None,
            rng=None,
        )
    assert str(info.value) == (
        "url has credentials and extra_headers an Authorization header: 'ws://***@x/'"
    )


def test_a_user_name_with_a_colon_is_refused() -> None:
    with pytest.raises(th.UsageError, match="cannot contain ':'"):
        parse_url("ws://a%3Ab:pw@x/")


def test_a_user_without_password_is_sent_with_an_empty_one() -> None:
    target = parse_url("ws://t0ken@x/")
    assert target.authorization == "Basic " + base64.b64encode(b"t0ken:").decode()
    assert parse_url("ws://x/").authorization is None


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("ws://127.0.0.1:99999/?token=SECRET", "url has a bad port: 'ws://127.0.0.1:99999/?***'"),
        (
            "http://u:SECRET@x/?token=SECRET",
            "url must start with ws:// or wss://, got 'http://***@x/?***'",
        ),
        ("ws:///path?token=SECRET", "url has no host: 'ws:///path?***'"),
        ("ws://[::1/?token=SECRET", "url is malformed: 'ws://[::1/?***'"),
        ("ws://u:SECRET@x:port/", "url has a bad port: 'ws://***@x:port/'"),
    ],
)
def test_bad_url_messages_hide_query_and_userinfo(url: str, shown: str) -> None:
    with pytest.raises(th.UsageError) as info:
        parse_url(url)
    assert str(info.value) == shown
    assert info.value.__cause__ is None  # no chained error repeats the URL
    assert info.value.__context__ is None or info.value.__suppress_context__


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("ws://user:pw@host:1/p?token=x", "ws://***@host:1/p?***"),
        ("wss://host/p", "wss://host/p"),
        ("ws://a@b@host", "ws://***@host"),
        ("ws://host/p#frag", "ws://host/p#***"),
        ("ws://host?q", "ws://host?***"),
        ("no scheme?x", "no scheme?***"),
        ("", ""),
    ],
)
def test_redact_url(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted


def test_reprs_hide_secrets() -> None:
    target = parse_url("ws://user:hunter2@x/p?token=SECRET")
    options = th.ConnectionOptions(extra_headers=[("Authorization", "Bearer SECRET")])
    ws = th.ManagedWebSocket(
        "ws://user:hunter2@x/p?token=SECRET",
        heartbeat=th.Heartbeat.disabled(),
        reconnect=th.ReconnectPolicy(),
        options=th.ConnectionOptions(),
        on_connect=None,
        dial=None,
        rng=None,
    )
    for text in (repr(target), repr(options), repr(ws)):
        assert "SECRET" not in text and "hunter2" not in text, text
        assert "dXNlcjpodW50ZXIy" not in text, text  # base64 of user:hunter2
    assert repr(ws) == "<ManagedWebSocket ws://…@x/… connecting>"
    assert "('Authorization', '***')" in repr(options)


async def test_no_secret_in_errors_events_or_logs(
    transport: th.Transport,
    nursery: trio.Nursery,
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def server(stream: trio.abc.Stream, request: bytes) -> None:
        await stream.send_all(b"HTTP/1.1 401 Unauthorized\r\n\r\n")

    srv = RawServer(nursery, server)
    caplog.set_level(logging.DEBUG, logger="trio_heartbeat")
    with pytest.raises(th.ReconnectGaveUp) as info:
        async with th.open_managed_websocket(
            "ws://user:hunter2@x/?token=SECRET",
            reconnect=th.ReconnectPolicy(max_attempts=2),  # 401 stops; never hangs
            options=th.ConnectionOptions(
                transport=transport, extra_headers=[("X-Api-Key", "SECRET")]
            ),
            dial=srv.dial,
        ) as ws:
            await ws.wait_connected()
    texts = [str(info.value), repr(info.value), repr(ws)]
    texts += [record.getMessage() for record in caplog.records]
    while True:
        try:
            texts.append(repr(ws.state_changes.receive_nowait()))
        except (trio.WouldBlock, trio.EndOfChannel):
            break
    assert len(texts) > 5
    for text in texts:
        assert "SECRET" not in text and "hunter2" not in text, text
