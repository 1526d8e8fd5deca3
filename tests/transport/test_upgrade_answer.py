"""The head of the upgrade answer, judged without I/O (both engines use this judge)."""

from __future__ import annotations

import email.utils

import pytest

import trio_heartbeat as th
from trio_heartbeat._transport.upgrade import MAX_RESPONSE_HEAD, UpgradeResponse
from trio_heartbeat._transport.upgrade import retry_after_seconds as retry_after

NOW = 1_700_000_000.0  # a wall-clock time, seconds since the epoch


def judge(*chunks: bytes) -> bool:
    answer = UpgradeResponse(wall_time=lambda: NOW)
    return any([answer.feed(chunk) for chunk in chunks])


def test_a_101_head_is_handed_on_byte_by_byte() -> None:
    head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
    answer = UpgradeResponse()
    results = [answer.feed(head[i : i + 1]) for i in range(len(head))]
    assert results == [False] * (len(head) - 1) + [True]
    assert answer.feed(b"\x81\x00 frames after the head are not looked at")


@pytest.mark.parametrize("end", [b"\r\n\r\n", b"\n\n", b"\r\n\n"])
def test_the_bytes_after_a_101_head_are_kept_for_the_frame_reader(end: bytes) -> None:
    head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket" + end
    answer = UpgradeResponse()
    assert not answer.feed(head[:10])
    assert answer.feed(head[10:] + b"\x81\x02hi")
    assert answer.trailing == b"\x81\x02hi"
    assert answer.feed(b"\x82\x00")  # more bytes before the engine takes over
    assert answer.trailing == b"\x81\x02hi\x82\x00"


@pytest.mark.parametrize(
    ("chunks", "status", "seconds"),
    [
        ([b"HTTP/1.1 401 Unauthorized\r\n\r\nthe body never ends"], 401, None),
        ([b"HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"], 403, None),
        ([b"HTTP/1.1 503 Busy\r\nRetry-A", b"fter: 7\r\n", b"\r\n"], 503, 7.0),
        ([b"HTTP/1.0 200 OK\n\n"], 200, None),  # bare line feeds, as h11 accepts
        ([b"HTTP/1.1 100 Continue\r\n\r\n"], 100, None),  # as wsproto: not a 101
    ],
)
def test_another_status_is_a_rejection_on_the_head_alone(
    chunks: list[bytes], status: int, seconds: float | None
) -> None:
    with pytest.raises(th.HandshakeRejected) as info:
        judge(*chunks)
    assert (info.value.status, info.value.retry_after) == (status, seconds)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x00\xff garbage\r\n\r\n", r"not an HTTP response: b'\x00\xff garbage\r'"),
        (b"SSH-2.0-OpenSSH_9.6\r\n", "not an HTTP response: b'SSH-2.0-OpenSSH_9.6\\r'"),
        (b"HTTP/2 101\r\n\r\n", "not an HTTP response: b'HTTP/2 101\\r'"),
        (b"x" * 64, "not an HTTP response: b'" + "x" * 40 + "'"),  # no line end needed
    ],
)
def test_a_head_that_is_not_http_is_a_bad_handshake(data: bytes, reason: str) -> None:
    with pytest.raises(th.BadHandshake) as info:
        judge(data)
    assert info.value.reason == reason


def test_the_head_is_bounded() -> None:
    answer = UpgradeResponse()
    assert not answer.feed(b"HTTP/1.1 101 Switching Protocols\r\n")
    pad = b"X-Pad: " + b"a" * 1000 + b"\r\n"
    with pytest.raises(th.BadHandshake) as info:
        for _ in range(MAX_RESPONSE_HEAD // len(pad) + 1):
            answer.feed(pad)
    assert info.value.reason == "response head exceeds 16384 bytes"
    # Exactly at the bound is fine, one byte more is not.
    line = b"HTTP/1.1 101 Switching Protocols\r\n"
    filler = b"X: " + b"a" * (MAX_RESPONSE_HEAD - len(line) - 3) + b"\r\n\r\n"
    assert judge(line + filler[:-4] + b"\r\n\r\n")
    with pytest.raises(th.BadHandshake):
        judge(line + b"X: a" + filler[3:])


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (b"7", 7.0),
        (b" 120 ", 120.0),
        (b"1000000000", 1e9),  # the policy caps it, not the parser
        (b"-5", None),
        (b"inf", None),
        (b"soon", None),
        (b"\xff", None),
        (email.utils.formatdate(NOW + 90, usegmt=True).encode(), 90.0),
        (email.utils.formatdate(NOW - 90, usegmt=True).encode(), 0.0),  # in the past: now
        (email.utils.formatdate(NOW + 30).encode(), 30.0),  # "-0000": UTC too
        (b"Sun, 06 Nov 1994 08:49:37 GMT", 0.0),
        (b"Sunday, 31-Feb-99 99:99:99 GMT", None),
    ],
)
def test_retry_after_seconds_or_http_date(value: bytes, seconds: float | None) -> None:
    assert retry_after([(b"Retry-After", value)], NOW) == seconds


def test_retry_after_absent() -> None:
    assert retry_after(None, NOW) is None
    assert retry_after([(b"Content-Length", b"0")], NOW) is None


def test_an_http_date_is_dated_by_the_wall_clock_given() -> None:
    date = email.utils.formatdate(NOW + 45, usegmt=True).encode()
    with pytest.raises(th.HandshakeRejected) as info:
        judge(b"HTTP/1.1 429 Too Many\r\nRetry-After: " + date + b"\r\n\r\n")
    assert info.value.retry_after == 45.0
