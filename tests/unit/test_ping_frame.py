"""Our hand-built ping frames are what a server's wsproto reads as a ping."""

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wsproto.connection import Connection, ConnectionType
from wsproto.events import Ping

from trio_heartbeat._transport.direct import ping_frame
from trio_heartbeat._transport.websockets_engine import masked_ping

BUILDERS = pytest.mark.parametrize("build", [ping_frame, masked_ping], ids=["direct", "websockets"])


@BUILDERS
@given(payload=st.binary(max_size=125))
def test_server_reads_our_ping(build: Callable[[bytes], bytes], payload: bytes) -> None:
    server = Connection(ConnectionType.SERVER)
    server.receive_data(build(payload))
    (event,) = list(server.events())
    assert isinstance(event, Ping)
    assert bytes(event.payload) == payload


@BUILDERS
def test_frames_are_masked_with_fresh_keys(build: Callable[[bytes], bytes]) -> None:
    a, b = build(b"12345678"), build(b"12345678")
    assert a[1] & 0x80  # the mask bit a client must set
    assert a[2:6] != b[2:6]  # 32 random bits each time


@BUILDERS
def test_oversized_payload_is_refused(build: Callable[[bytes], bytes]) -> None:
    with pytest.raises(ValueError):
        build(b"x" * 126)
