"""Our hand-built ping frame is what a server's wsproto reads as a ping."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wsproto.connection import Connection, ConnectionType
from wsproto.events import Ping

from trio_heartbeat._transport.direct import ping_frame


@given(st.binary(max_size=125))
def test_server_reads_our_ping(payload: bytes) -> None:
    server = Connection(ConnectionType.SERVER)
    server.receive_data(ping_frame(payload))
    (event,) = list(server.events())
    assert isinstance(event, Ping)
    assert bytes(event.payload) == payload


def test_frames_are_masked_with_fresh_keys() -> None:
    a, b = ping_frame(b"12345678"), ping_frame(b"12345678")
    assert a[1] & 0x80  # the mask bit a client must set
    assert a[2:6] != b[2:6]  # 32 random bits each time


def test_oversized_payload_is_refused() -> None:
    with pytest.raises(ValueError):
        ping_frame(b"x" * 126)
