"""SockJS framing: server frames, session order, client batches."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.protocols import QUICK, garbage, json_values, utf8_text
from trio_heartbeat.errors import RemoteProtocolError, UsageError
from trio_heartbeat.protocols import sockjs
from trio_heartbeat.protocols.sockjs import (
    SockJSClose,
    SockJSDecoder,
    SockJSHeartbeat,
    SockJSMessages,
    SockJSOpen,
    batch_messages,
    decode_client_frame,
    decode_frame,
    encode_close,
    encode_messages,
    encode_server_messages,
)

# --------------------------------------------------------------------------- server frames


def test_decode_basic_frames() -> None:
    assert decode_frame("o") == SockJSOpen()
    assert decode_frame("h") == SockJSHeartbeat()
    assert decode_frame('a["m1","m2"]') == SockJSMessages(("m1", "m2"))
    assert decode_frame('c[3000,"Go away!"]') == SockJSClose(3000, "Go away!")


def test_decode_tradovate_objects_and_bytes() -> None:
    event = decode_frame(b'a[{"s":200,"i":0},{"e":"props","d":{"x":1}}]')
    assert event == SockJSMessages(({"s": 200, "i": 0}, {"e": "props", "d": {"x": 1}}))
    assert decode_frame(b"h") == SockJSHeartbeat()
    assert decode_frame('a["h\u00e9 \u2603"]'.encode()) == SockJSMessages(("h\u00e9 \u2603",))


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        ("", "empty"),
        ("x", "unknown SockJS frame type 'x'"),
        ("[]", "unknown"),
        ("oo", "trailing data"),
        ("h ", "trailing data"),
        ("a", "invalid JSON"),
        ("a[", "invalid JSON"),
        ("a[]", "empty array"),
        ("a{}", "JSON array"),
        ('a"m"', "JSON array"),
        ("a[NaN]", "invalid JSON"),
        ("a[Infinity]", "invalid JSON"),
        ("a[1]x", "invalid JSON"),
        ("a[" + "9" * 5000 + "]", "invalid JSON"),
        ("a" + "[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ("c", "invalid JSON"),
        ("c[]", "c\\[code"),
        ("c[3000]", "c\\[code"),
        ('c["3000","x"]', "c\\[code"),
        ('c[true,"x"]', "c\\[code"),
        ("c[3000,1]", "c\\[code"),
        ('c[3000,"x",1]', "c\\[code"),
        ('c{"code":3000}', "c\\[code"),
        (b"\xff", "not valid UTF-8"),
        (b"a[\xc3]", "not valid UTF-8"),
    ],
)
def test_decode_rejects_malformed(frame: str | bytes, match: str) -> None:
    with pytest.raises(RemoteProtocolError, match=match):
        decode_frame(frame)


def test_max_frame_size_counts_characters_and_bytes() -> None:
    frame = 'a["' + "x" * 10 + '"]'  # 15 characters
    assert decode_frame(frame, max_frame_size=15) == SockJSMessages(("x" * 10,))
    with pytest.raises(RemoteProtocolError, match="15 characters exceeds the limit of 14"):
        decode_frame(frame, max_frame_size=14)
    with pytest.raises(RemoteProtocolError, match="15 bytes exceeds the limit of 14"):
        decode_frame(frame.encode(), max_frame_size=14)
    with pytest.raises(RemoteProtocolError, match="exceeds"):
        SockJSDecoder(max_frame_size=1).receive("oo")


def test_bad_max_frame_size_is_usage_error() -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises(UsageError):
            SockJSDecoder(max_frame_size=bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- session order


def test_decoder_session_order() -> None:
    decoder = SockJSDecoder()
    assert not decoder.opened
    assert decoder.receive("o") == SockJSOpen()
    assert decoder.opened
    assert decoder.receive("h") == SockJSHeartbeat()
    assert decoder.receive('a["x"]') == SockJSMessages(("x",))
    with pytest.raises(RemoteProtocolError, match="second SockJS open"):
        decoder.receive("o")
    assert decoder.receive("h") == SockJSHeartbeat()  # the failed frame changed nothing
    assert not decoder.closed
    assert decoder.receive('c[3000,"Go away!"]') == SockJSClose(3000, "Go away!")
    assert decoder.closed
    with pytest.raises(RemoteProtocolError, match="after the close"):
        decoder.receive("h")


@pytest.mark.parametrize("first", ["h", 'a["x"]', 'c[3000,"x"]'])
def test_decoder_requires_open_first(first: str) -> None:
    decoder = SockJSDecoder()
    with pytest.raises(RemoteProtocolError, match="must start with 'o'"):
        decoder.receive(first)
    assert not decoder.opened
    assert decoder.receive("o") == SockJSOpen()


def test_decoder_bad_frame_does_not_open() -> None:
    decoder = SockJSDecoder()
    with pytest.raises(RemoteProtocolError):
        decoder.receive("o!")
    assert not decoder.opened


# --------------------------------------------------------------------------- client frames


def test_encode_messages_batches_in_order() -> None:
    assert encode_messages(["m1", "m2"]) == '["m1","m2"]'
    assert encode_messages(iter(["b", "a", "c"])) == '["b","a","c"]'
    assert encode_messages([]) == sockjs.CLIENT_HEARTBEAT_FRAME == "[]"
    assert encode_messages(['say "hi"\n']) == '["say \\"hi\\"\\n"]'
    assert encode_messages(["\u00e9\u2603"]) == '["\u00e9\u2603"]'  # UTF-8, not \\u escapes


@pytest.mark.parametrize("bad", [[1], [b"x"], [None], ["ok", {"a": 1}]])
def test_encode_messages_rejects_non_str(bad: list[Any]) -> None:
    with pytest.raises(UsageError, match="must be str"):
        encode_messages(bad)


def test_encode_messages_rejects_lone_surrogate() -> None:
    with pytest.raises(UsageError, match="UTF-8"):
        encode_messages(["\ud800"])


def test_batch_messages_splits_at_the_limit() -> None:
    # '["aaaa","bbbb"]' is 15 characters
    assert batch_messages(["aaaa", "bbbb"], max_frame_size=15) == ['["aaaa","bbbb"]']
    assert batch_messages(["aaaa", "bbbb"], max_frame_size=14) == ['["aaaa"]', '["bbbb"]']
    assert batch_messages(["a", "b", "c"], max_frame_size=11) == ['["a","b"]', '["c"]']
    assert batch_messages([], max_frame_size=10) == []
    with pytest.raises(UsageError, match="does not fit"):
        batch_messages(["aaaa"], max_frame_size=7)
    assert batch_messages(["aaaa"], max_frame_size=8) == ['["aaaa"]']


def test_decode_client_frame() -> None:
    assert decode_client_frame("") == ()
    assert decode_client_frame("[]") == ()
    assert decode_client_frame('["m1","m2"]') == ("m1", "m2")
    for bad in ("[", "{}", "[1]", '"x"', '["x",null]', "[NaN]"):
        with pytest.raises(RemoteProtocolError):
            decode_client_frame(bad)


def test_server_encoders() -> None:
    assert sockjs.OPEN_FRAME == "o"
    assert sockjs.SERVER_HEARTBEAT_FRAME == "h"
    assert sockjs.SERVER_HEARTBEAT_DELAY == 25.0
    assert encode_server_messages(["m1", {"i": 1}]) == 'a["m1",{"i":1}]'
    assert encode_close(3000, "Go away!") == 'c[3000,"Go away!"]'
    with pytest.raises(UsageError):
        encode_server_messages([])
    with pytest.raises(UsageError):
        encode_server_messages([{1, 2}])
    with pytest.raises(UsageError):
        encode_server_messages([float("nan")])
    with pytest.raises(UsageError):
        encode_close(True, "x")
    with pytest.raises(UsageError):
        encode_close(3000, 5)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- properties


@QUICK
@given(st.lists(json_values, min_size=1, max_size=6))
def test_server_messages_round_trip(items: list[Any]) -> None:
    assert decode_frame(encode_server_messages(items)) == SockJSMessages(tuple(items))


@QUICK
@given(st.integers(min_value=0, max_value=4999), utf8_text)
def test_close_round_trip(code: int, reason: str) -> None:
    frame = encode_close(code, reason)
    assert decode_frame(frame) == SockJSClose(code, reason)
    assert decode_frame(frame.encode("utf-8")) == SockJSClose(code, reason)


@QUICK
@given(st.lists(utf8_text, max_size=8))
def test_client_messages_round_trip(messages: list[str]) -> None:
    frame = encode_messages(messages)
    assert decode_client_frame(frame) == tuple(messages)
    assert json.loads(frame) == messages


@QUICK
@given(st.lists(utf8_text, max_size=12), st.integers(min_value=40, max_value=200))
def test_batches_preserve_order_and_bound(messages: list[str], limit: int) -> None:
    fitting = [m for m in messages if len(encode_messages([m])) <= limit]
    frames = batch_messages(fitting, max_frame_size=limit)
    assert all(len(frame) <= limit for frame in frames)
    decoded = [m for frame in frames for m in decode_client_frame(frame)]
    assert decoded == fitting


@QUICK
@given(garbage)
def test_garbage_raises_only_protocol_errors(frame: str | bytes) -> None:
    for decode in (decode_frame, decode_client_frame, SockJSDecoder().receive):
        with contextlib.suppress(RemoteProtocolError):
            decode(frame)


@QUICK
@given(st.sampled_from("ohac"), garbage)
def test_prefixed_garbage_raises_only_protocol_errors(kind: str, rest: str | bytes) -> None:
    frame: str | bytes = kind.encode() + rest if isinstance(rest, bytes) else kind + rest
    decoder = SockJSDecoder()
    decoder.receive("o")
    with contextlib.suppress(RemoteProtocolError):
        decoder.receive(frame)
