"""Socket.IO v5 packets inside Engine.IO messages."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.protocols import QUICK, garbage, json_values, utf8_text
from trio_heartbeat.errors import RemoteProtocolError, UsageError
from trio_heartbeat.protocols.engineio import EngineMessage, decode_packet
from trio_heartbeat.protocols.socketio import (
    RESERVED_EVENTS,
    SioAck,
    SioConnect,
    SioConnectError,
    SioDecoder,
    SioDisconnect,
    SioEvent,
    SioPacket,
    encode_ack,
    encode_connect,
    encode_disconnect,
    encode_event,
    encode_packet,
    is_server_disconnect,
)


def decode(text: str) -> SioPacket | None:
    return SioDecoder().receive(text)


def receive_frames(decoder: SioDecoder, frames: tuple[str | bytes, ...]) -> list[SioPacket]:
    """Pass Engine.IO frames through both decoders, as a runtime would."""
    out = []
    for frame in frames:
        message = decode_packet(frame)
        assert isinstance(message, EngineMessage)
        packet = decoder.receive(message.data)
        if packet is not None:
            out.append(packet)
    return out


# --------------------------------------------------------------------------- encoders


def test_encode_connect() -> None:
    assert encode_connect() == "40"
    assert encode_connect(auth={"token": "abc"}) == '40{"token":"abc"}'
    assert encode_connect("/admin") == "40/admin,"
    assert encode_connect("/admin", {"token": "x"}) == '40/admin,{"token":"x"}'


def test_encode_events_acks_disconnect() -> None:
    assert encode_event("hi", 1, {"a": [True, None]}) == '42["hi",1,{"a":[true,null]}]'
    assert encode_event("hi", ack_id=1) == '421["hi"]'
    assert encode_event("hi", namespace="/chat", ack_id=12) == '42/chat,12["hi"]'
    assert encode_ack(1, "ok") == '431["ok"]'
    assert encode_ack(7) == "437[]"
    assert encode_ack(2, namespace="/chat") == "43/chat,2[]"
    assert encode_disconnect() == "41"
    assert encode_disconnect("/chat") == "41/chat,"


@pytest.mark.parametrize(
    "call",
    [
        lambda: encode_event("connect"),
        lambda: encode_event("disconnect", 1),
        lambda: encode_event("x", namespace="chat"),
        lambda: encode_event("x", namespace="/a,b"),
        lambda: encode_event("x", ack_id=-1),
        lambda: encode_event("x", ack_id=True),
        lambda: encode_event("x", ack_id=10**15),
        lambda: encode_event("x", {1, 2}),
        lambda: encode_event("x", float("nan")),
        lambda: encode_event("x", b"\x00"),  # binary needs encode_packet
        lambda: encode_event(5),  # type: ignore[arg-type]
        lambda: encode_ack(-3),
        lambda: encode_connect(auth=["token"]),  # type: ignore[arg-type]
        lambda: encode_packet(SioConnectError("/", 5)),
        lambda: encode_packet("42"),  # type: ignore[arg-type]
    ],
)
def test_encoder_misuse(call: Any) -> None:
    with pytest.raises(UsageError):
        call()


def test_binary_event_encoding() -> None:
    frames = encode_packet(SioEvent("img", (b"\x00\x01", {"thumb": b"\x02"})))
    assert frames == (
        '452-["img",{"_placeholder":true,"num":0},{"thumb":{"_placeholder":true,"num":1}}]',
        b"\x00\x01",
        b"\x02",
    )
    assert encode_packet(SioAck(3, (b"z",), "/x")) == (
        '461-/x,3[{"_placeholder":true,"num":0}]',
        b"z",
    )


# --------------------------------------------------------------------------- decoders


def test_decode_server_packets() -> None:
    connected = decode('0{"sid":"abc"}')
    assert connected == SioConnect("/", {"sid": "abc"})
    assert isinstance(connected, SioConnect)
    assert connected.sid == "abc"
    assert SioConnect().sid is None
    assert decode("0/admin,") == SioConnect("/admin", None)
    assert decode('2["news",{"a":1}]') == SioEvent("news", ({"a": 1},))
    assert decode('21["q"]') == SioEvent("q", (), "/", 1)
    assert decode('2/chat,3["m",1,2]') == SioEvent("m", (1, 2), "/chat", 3)
    assert decode('31["ok"]') == SioAck(1, ("ok",))
    assert decode("3/chat,45[]") == SioAck(45, (), "/chat")
    assert decode("1") == SioDisconnect()
    assert decode("1/chat,") == SioDisconnect("/chat")
    assert decode("1/chat") == SioDisconnect("/chat")


def test_connect_error_and_server_disconnect() -> None:
    refused = decode('4{"message":"Not authorized"}')
    assert isinstance(refused, SioConnectError)
    assert refused.message == "Not authorized"
    assert SioConnectError("/", "old style").message == "old style"
    assert SioConnectError("/", {"code": 1}).message == ""
    disconnect = decode("1")
    assert disconnect is not None
    assert is_server_disconnect(disconnect)
    assert is_server_disconnect(refused)
    assert not is_server_disconnect(disconnect, "/chat")
    assert not is_server_disconnect(SioEvent("news"))
    assert not is_server_disconnect(SioConnect("/", {"sid": "x"}))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty"),
        ("7", "unknown Socket.IO packet type"),
        ("a", "unknown"),
        ("2", "non-empty JSON array"),
        ("2{}", "non-empty JSON array"),
        ("2[]", "non-empty JSON array"),
        ("2[1]", "event name must be a string"),
        ('2["connect"]', "reserved"),
        ('2["x"', "invalid JSON"),
        ('2["x"]]', "invalid JSON"),
        ("3[]", "without an ack id"),
        ("31{}", "JSON array"),
        ("31", "JSON array"),
        ("1{}", "no data"),
        ("0[]", "JSON object"),
        ('0"x"', "JSON object"),
        ("4", "object or string"),
        ("4[1]", "object or string"),
        ("2" + "1" * 16 + '["x"]', "ack id too long"),
        ('5["x"]', "attachment count"),
        ('5-["x"]', "attachment count"),
        ('5x-["x"]', "attachment count"),
        ('51-["x",{"_placeholder":true,"num":1}]', "missing attachment 1"),
        ('51-["x",{"_placeholder":true,"num":"0"}]', "missing attachment"),
        ('51-["connect",{"_placeholder":true,"num":0}]', "reserved"),
    ],
)
def test_decode_rejects(text: str, match: str) -> None:
    with pytest.raises(RemoteProtocolError, match=match):
        decode(text)


def test_binary_reassembly() -> None:
    decoder = SioDecoder()
    assert decoder.awaiting_attachments == 0
    header = '52-/up,9["img",{"_placeholder":true,"num":1},[{"_placeholder":true,"num":0}]]'
    assert decoder.receive(header) is None
    assert decoder.awaiting_attachments == 2
    assert decoder.receive(b"first") is None
    assert decoder.awaiting_attachments == 1
    assert decoder.receive(bytearray(b"second")) == SioEvent(  # type: ignore[arg-type]
        "img", (b"second", [b"first"]), "/up", 9
    )
    assert decoder.awaiting_attachments == 0
    assert decoder.receive('61-4[{"_placeholder":true,"num":0}]') is None
    assert decoder.receive(b"") == SioAck(4, (b"",))
    # a placeholder-looking object in a text packet stays as it is
    assert decoder.receive('2["x",{"_placeholder":true,"num":0}]') == SioEvent(
        "x", ({"_placeholder": True, "num": 0},)
    )
    assert decoder.receive('50-["x"]') == SioEvent("x")


def test_binary_protocol_violations() -> None:
    decoder = SioDecoder(max_attachments=2)
    with pytest.raises(RemoteProtocolError, match=r"no Socket\.IO attachment is expected"):
        decoder.receive(b"stray")
    with pytest.raises(RemoteProtocolError, match="limit 2"):
        decoder.receive('53-["x"]')
    assert decoder.receive('51-["x",{"_placeholder":true,"num":0}]') is None
    with pytest.raises(RemoteProtocolError, match="while binary attachments were expected"):
        decoder.receive('2["y"]')
    assert decoder.awaiting_attachments == 0  # the partial packet was dropped
    assert decoder.receive('2["y"]') == SioEvent("y")
    with pytest.raises(UsageError):
        SioDecoder(max_attachments=0)
    with pytest.raises(UsageError):
        decoder.receive(42)  # type: ignore[arg-type]


def test_deeply_nested_binary_packet() -> None:
    depth = 900
    header = '51-["x",' + "[" * depth + '{"_placeholder":true,"num":0}' + "]" * depth + "]"
    decoder = SioDecoder()
    try:
        result = decoder.receive(header)
    except RemoteProtocolError:
        return  # rejected as too deep: acceptable
    assert result is None
    with contextlib.suppress(RemoteProtocolError):
        decoder.receive(b"z")


# --------------------------------------------------------------------------- properties

namespaces = st.just("/") | utf8_text.filter(lambda s: "," not in s).map(lambda s: "/" + s)
ack_ids = st.integers(min_value=0, max_value=10**15 - 1)
with_bytes = st.recursive(
    json_values | st.binary(max_size=8),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(alphabet="xyz", max_size=3), children, max_size=3)
    ),
    max_leaves=6,
)
event_names = utf8_text.filter(lambda s: s not in RESERVED_EVENTS)

packets: st.SearchStrategy[SioPacket] = st.one_of(
    st.builds(
        SioConnect,
        namespaces,
        st.none() | st.dictionaries(st.text(max_size=5).filter(str.isalnum), json_values),
    ),
    st.builds(SioDisconnect, namespaces),
    st.builds(
        SioEvent,
        event_names,
        st.lists(with_bytes, max_size=4).map(tuple),
        namespaces,
        st.none() | ack_ids,
    ),
    st.builds(SioAck, ack_ids, st.lists(with_bytes, max_size=4).map(tuple), namespaces),
    st.builds(
        SioConnectError,
        namespaces,
        utf8_text | st.dictionaries(st.just("message"), utf8_text),
    ),
)


@QUICK
@given(st.lists(packets, min_size=1, max_size=4))
def test_round_trip_through_engineio(sequence: list[SioPacket]) -> None:
    decoder = SioDecoder()
    frames = tuple(frame for packet in sequence for frame in encode_packet(packet))
    assert receive_frames(decoder, frames) == sequence
    assert decoder.awaiting_attachments == 0


@QUICK
@given(st.lists(garbage, max_size=5))
def test_garbage_raises_only_protocol_errors(messages: list[str | bytes]) -> None:
    decoder = SioDecoder()
    for message in messages:
        with contextlib.suppress(RemoteProtocolError):
            decoder.receive(message)


@QUICK
@given(st.sampled_from(["0", "1", "2", "3", "4", "51-", "61-", "2/a,", "31"]), st.text())
def test_typed_garbage_raises_only_protocol_errors(prefix: str, rest: str) -> None:
    decoder = SioDecoder()
    with contextlib.suppress(RemoteProtocolError):
        decoder.receive(prefix + rest)
        decoder.receive(b"attachment")


# --------------------------------------------------------------------------- reference codec


def test_matches_python_socketio_byte_for_byte() -> None:
    """Cross-check against python-socketio's parser when it is installed."""
    ref = pytest.importorskip("socketio.packet")
    cases: list[tuple[Any, SioPacket]] = [
        (ref.Packet(ref.CONNECT), SioConnect()),
        (
            ref.Packet(ref.CONNECT, data={"token": "x"}, namespace="/a"),
            SioConnect("/a", {"token": "x"}),
        ),
        (ref.Packet(ref.DISCONNECT, namespace="/chat"), SioDisconnect("/chat")),
        (
            ref.Packet(ref.EVENT, data=["hi", 1, {"a": None}], id=12, namespace="/chat"),
            SioEvent("hi", (1, {"a": None}), "/chat", 12),
        ),
        (ref.Packet(ref.ACK, data=["ok"], id=3), SioAck(3, ("ok",))),
        (
            ref.Packet(ref.CONNECT_ERROR, data={"message": "no"}),
            SioConnectError("/", {"message": "no"}),
        ),
        (
            ref.Packet(ref.EVENT, data=["img", b"\x00", {"t": b"\x02"}], id=5, namespace="/up"),
            SioEvent("img", (b"\x00", {"t": b"\x02"}), "/up", 5),
        ),
        (ref.Packet(ref.ACK, data=[b"z"], id=4), SioAck(4, (b"z",))),
    ]
    for reference, ours in cases:
        encoded = reference.encode()
        ref_frames = encoded if isinstance(encoded, list) else [encoded]
        assert encode_packet(ours) == ("4" + ref_frames[0], *ref_frames[1:])
        decoder = SioDecoder()
        assert [decoder.receive(frame) for frame in ref_frames][-1] == ours
