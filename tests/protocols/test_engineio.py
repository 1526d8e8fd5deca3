"""Engine.IO v4 packets over a WebSocket."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.protocols import QUICK, garbage, utf8_text
from trio_heartbeat.errors import RemoteProtocolError, UsageError
from trio_heartbeat.protocols import engineio
from trio_heartbeat.protocols.engineio import (
    EngineClose,
    EngineDecoder,
    EngineMessage,
    EngineNoop,
    EngineOpen,
    EnginePacket,
    EnginePing,
    EnginePong,
    EngineUpgrade,
    decode_packet,
    encode_message,
    encode_packet,
    encode_pong,
)

OPEN = (
    '0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":[],"pingInterval":25000,'
    '"pingTimeout":20000,"maxPayload":1000000}'
)


def open_json(**overrides: Any) -> str:
    payload: dict[str, Any] = {"sid": "s1", "pingInterval": 25000, "pingTimeout": 20000}
    payload.update(overrides)
    return "0" + json.dumps({k: v for k, v in payload.items() if v is not ...})


def test_decode_open_converts_milliseconds() -> None:
    packet = decode_packet(OPEN)
    assert packet == EngineOpen(
        sid="lv_VI97HAXpY6yYWAAAC", ping_interval=25.0, ping_timeout=20.0, max_payload=1_000_000
    )
    assert isinstance(packet, EngineOpen)
    assert packet.liveness_timeout == 45.0
    assert decode_packet(open_json(pingInterval=300, pingTimeout=200.5)) == EngineOpen(
        sid="s1", ping_interval=0.3, ping_timeout=0.2005
    )
    assert decode_packet(open_json(upgrades=["polling"], maxPayload=10)) == EngineOpen(
        sid="s1", ping_interval=25.0, ping_timeout=20.0, max_payload=10, upgrades=("polling",)
    )


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        ("0", "invalid JSON"),
        ("0[]", "JSON object"),
        ("0{", "invalid JSON"),
        (open_json(sid=...), "'sid'"),
        (open_json(sid=""), "'sid'"),
        (open_json(sid=5), "'sid'"),
        (open_json(pingInterval=...), "'pingInterval'"),
        (open_json(pingInterval="25000"), "'pingInterval'"),
        (open_json(pingInterval=True), "'pingInterval'"),
        (open_json(pingInterval=0), "'pingInterval'"),
        (open_json(pingTimeout=-1), "'pingTimeout'"),
        (open_json(pingTimeout=5e-324), "'pingTimeout'"),
        ('0{"sid":"s","pingInterval":1e400,"pingTimeout":1}', "'pingInterval'"),
        ('0{"sid":"s","pingInterval":NaN,"pingTimeout":1}', "invalid JSON"),
        (open_json(maxPayload=-1), "'maxPayload'"),
        (open_json(maxPayload=1.5), "'maxPayload'"),
        (open_json(maxPayload=None), "'maxPayload'"),
        (open_json(upgrades="websocket"), "'upgrades'"),
        (open_json(upgrades=[1]), "'upgrades'"),
    ],
)
def test_decode_open_rejects(frame: str, match: str) -> None:
    with pytest.raises(RemoteProtocolError, match=match):
        decode_packet(frame)


def test_decode_other_packets() -> None:
    assert decode_packet("1") == EngineClose()
    assert decode_packet("2") == EnginePing("")
    assert decode_packet("2probe") == EnginePing("probe")
    assert decode_packet("3") == EnginePong("")
    assert decode_packet("4hello") == EngineMessage("hello")
    assert decode_packet('42["ev"]') == EngineMessage('2["ev"]')
    assert decode_packet("4") == EngineMessage("")
    assert decode_packet(b"4") == EngineMessage(b"4")  # a binary frame is a raw message
    assert decode_packet(bytearray(b"\x00\xff")) == EngineMessage(b"\x00\xff")  # type: ignore[arg-type]
    assert decode_packet("5") == EngineUpgrade()
    assert decode_packet("6") == EngineNoop()


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        ("", "empty"),
        ("7", "unknown Engine.IO packet type '7'"),
        ("x", "unknown"),
        ("\u0664hello", "unknown"),  # ARABIC-INDIC DIGIT FOUR is not "4"
        ("1x", "unexpected data"),
        ("5probe", "unexpected data"),
        ("6 ", "unexpected data"),
    ],
)
def test_decode_rejects(frame: str, match: str) -> None:
    with pytest.raises(RemoteProtocolError, match=match):
        decode_packet(frame)


def test_max_packet_size() -> None:
    assert decode_packet("4" + "x" * 9, max_packet_size=10) == EngineMessage("x" * 9)
    with pytest.raises(RemoteProtocolError, match="11 characters exceeds"):
        decode_packet("4" + "x" * 10, max_packet_size=10)
    with pytest.raises(RemoteProtocolError, match="11 bytes exceeds 10"):
        decode_packet(b"x" * 11, max_packet_size=10)
    decoder = EngineDecoder(max_packet_size=200)
    with pytest.raises(RemoteProtocolError, match="exceeds"):
        decoder.receive("4" + "x" * 200)
    with pytest.raises(UsageError):
        EngineDecoder(max_packet_size=0)


def test_decoder_session_order() -> None:
    decoder = EngineDecoder()
    with pytest.raises(RemoteProtocolError, match="must start with an open packet"):
        decoder.receive("2")
    assert decoder.open_packet is None
    opened = decoder.receive(OPEN)
    assert decoder.open_packet == opened
    assert decoder.receive("2") == EnginePing()
    assert decoder.receive(b"\x01") == EngineMessage(b"\x01")
    with pytest.raises(RemoteProtocolError, match=r"second Engine\.IO open"):
        decoder.receive(OPEN)
    assert decoder.open_packet is opened
    assert not decoder.closed
    assert decoder.receive("1") == EngineClose()
    assert decoder.closed
    with pytest.raises(RemoteProtocolError, match="after the close"):
        decoder.receive("2")


def test_client_encoders_and_heartbeat_facts() -> None:
    assert engineio.PING_FRAME == "2"
    assert engineio.PONG_FRAME == encode_pong() == "3"
    assert encode_pong("probe") == "3probe"
    assert encode_message("hello") == "4hello"
    assert encode_message(b"\x00") == b"\x00"
    assert encode_message(memoryview(b"ab")) == b"ab"  # type: ignore[arg-type]
    assert encode_packet(EngineClose()) == engineio.CLOSE_FRAME == "1"
    with pytest.raises(UsageError):
        encode_message(5)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        encode_message("\ud800")
    with pytest.raises(UsageError):
        encode_pong(b"x")  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        encode_packet("2")  # type: ignore[arg-type]


def test_encode_open_uses_milliseconds() -> None:
    frame = encode_packet(
        EngineOpen(sid="abc", ping_interval=25.0, ping_timeout=0.0205, max_payload=100)
    )
    assert isinstance(frame, str)
    assert json.loads(frame[1:]) == {
        "sid": "abc",
        "upgrades": [],
        "pingInterval": 25000,
        "pingTimeout": 20.5,
        "maxPayload": 100,
    }


def test_engine_open_validates() -> None:
    assert EngineOpen(sid="s", ping_interval=1, ping_timeout=2).ping_interval == 1.0
    for bad in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(UsageError):
            EngineOpen(sid="s", ping_interval=bad, ping_timeout=1.0)


# --------------------------------------------------------------------------- properties

millis = st.integers(min_value=1, max_value=10**9)
packets: st.SearchStrategy[EnginePacket] = st.one_of(
    st.builds(
        lambda sid, interval, timeout, payload, upgrades: EngineOpen(
            sid=sid,
            ping_interval=interval / 1000,
            ping_timeout=timeout / 1000,
            max_payload=payload,
            upgrades=tuple(upgrades),
        ),
        utf8_text.filter(bool),
        millis,
        millis,
        st.integers(min_value=0, max_value=2**53),
        st.lists(utf8_text, max_size=3),
    ),
    st.just(EngineClose()),
    st.builds(EnginePing, utf8_text),
    st.builds(EnginePong, utf8_text),
    st.builds(EngineMessage, utf8_text | st.binary()),
    st.just(EngineUpgrade()),
    st.just(EngineNoop()),
)


@QUICK
@given(packets)
def test_packet_round_trip(packet: EnginePacket) -> None:
    frame = encode_packet(packet)
    assert decode_packet(frame) == packet


@QUICK
@given(st.lists(packets, max_size=6))
def test_session_round_trip(body: list[EnginePacket]) -> None:
    decoder = EngineDecoder()
    opening = EngineOpen(sid="s", ping_interval=25.0, ping_timeout=20.0)
    assert decoder.receive(encode_packet(opening)) == opening
    for packet in body:
        if isinstance(packet, EngineOpen | EngineClose):
            continue
        assert decoder.receive(encode_packet(packet)) == packet


@QUICK
@given(garbage)
def test_garbage_raises_only_protocol_errors(frame: str | bytes) -> None:
    for decode in (decode_packet, EngineDecoder().receive):
        with contextlib.suppress(RemoteProtocolError):
            decode(frame)


@QUICK
@given(st.sampled_from("0123456"), garbage)
def test_typed_garbage_raises_only_protocol_errors(kind: str, rest: str | bytes) -> None:
    text = kind + (rest.decode("latin-1") if isinstance(rest, bytes) else rest)
    with contextlib.suppress(RemoteProtocolError):
        decode_packet(text)


def test_matches_python_engineio() -> None:
    """Cross-check against python-engineio's packet codec when it is installed."""
    ref = pytest.importorskip("engineio.packet")
    opening = {"sid": "abc", "upgrades": [], "pingInterval": 25000, "pingTimeout": 20000}
    assert decode_packet(ref.Packet(ref.OPEN, {**opening, "maxPayload": 10}).encode()) == (
        EngineOpen(sid="abc", ping_interval=25.0, ping_timeout=20.0, max_payload=10)
    )
    assert decode_packet(ref.Packet(ref.PING).encode()) == EnginePing()
    assert encode_pong("probe") == ref.Packet(ref.PONG, "probe").encode()
    assert encode_message("hi") == ref.Packet(ref.MESSAGE, "hi").encode()
    assert encode_message(b"\x01") == ref.Packet(ref.MESSAGE, b"\x01").encode()
    assert encode_packet(EngineNoop()) == ref.Packet(ref.NOOP).encode()
    assert decode_packet(ref.Packet(ref.CLOSE).encode()) == EngineClose()
