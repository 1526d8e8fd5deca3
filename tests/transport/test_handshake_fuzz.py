"""Property: whatever the server answers to the upgrade, both engines end the attempt
with one of our errors, the same one, decided by the head (hypothesis, virtual time)."""

from __future__ import annotations

from collections.abc import Callable

import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import trio_heartbeat as th
from tests.transport.rawserver import RawServer, accept_token

Part = Callable[[bytes], bytes]  # request head -> bytes of the answer


def fixed(data: bytes) -> Part:
    return lambda request: data


status_lines = st.one_of(
    st.just(fixed(b"HTTP/1.1 101 Switching Protocols")),
    st.integers(100, 599).map(lambda status: fixed(b"HTTP/1.1 %d Whatever" % status)),
    st.sampled_from([b"HTTP/1.0 101", b"HTTP/2 101", b"HTTP/1.1 1O1 x", b"", b"hello"]).map(fixed),
    st.binary(max_size=30).map(fixed),
)
header_lines = st.sampled_from(
    [
        fixed(b"Upgrade: websocket"),
        fixed(b"Upgrade: h2c"),
        fixed(b"Connection: Upgrade"),
        fixed(b"Connection: keep-alive"),
        lambda request: b"Sec-WebSocket-Accept: " + accept_token(request),
        fixed(b"Sec-WebSocket-Accept: d3Jvbmc="),
        fixed(b"Sec-WebSocket-Extensions: permessage-deflate"),
        fixed(b"Sec-WebSocket-Protocol: chat"),
        fixed(b"Sec-WebSocket-Protocol: other"),
        fixed(b"Retry-After: 5"),
        fixed(b"Retry-After: Wed, 21 Oct 2015 07:28:00 GMT"),
        fixed(b"Content-Length: 3"),
        fixed(b"Transfer-Encoding: chunked"),
        fixed(b"no colon here"),
        fixed(b"X-Pad: " + b"a" * 20_000),
    ]
) | st.binary(max_size=20).map(fixed)
VALID_HEADERS = [
    fixed(b"Upgrade: websocket"),
    fixed(b"Connection: Upgrade"),
    lambda request: b"Sec-WebSocket-Accept: " + accept_token(request),
]


@st.composite
def answers(draw: st.DrawFn) -> tuple[Part, list[int], bool, bool]:
    """(answer, chunk cuts, close after sending, is a valid upgrade)."""
    valid = draw(st.integers(0, 4)) == 0
    if valid:
        status, headers = fixed(b"HTTP/1.1 101 Switching Protocols"), list(VALID_HEADERS)
        if draw(st.booleans()):
            headers.append(fixed(b"Sec-WebSocket-Protocol: chat"))  # offered
        headers = draw(st.permutations(headers))
    else:
        status, headers = draw(status_lines), draw(st.lists(header_lines, max_size=6))
    newline = draw(st.sampled_from([b"\r\n", b"\n"])) if not valid else b"\r\n"
    ends_head = valid or draw(st.booleans())
    tail = draw(st.binary(max_size=40)) if not valid else b""

    def answer(request: bytes) -> bytes:
        lines = [status(request), *(part(request) for part in headers)]
        head = newline.join(lines) + newline
        return head + (newline if ends_head else b"") + tail

    cuts = draw(st.lists(st.integers(0, 200), max_size=4))
    return answer, cuts, draw(st.booleans()), valid


def attempt(transport: th.Transport, answer: Part, cuts: list[int], close: bool) -> object:
    """The outcome of one attempt: "connected" or the attempt's error."""

    async def server(stream: trio.abc.Stream, request: bytes) -> None:
        data = answer(request)
        last = 0
        for cut in [*sorted(c for c in cuts if c < len(data)), len(data)]:
            await stream.send_all(data[last:cut])
            last = cut
        if not close:
            await trio.sleep_forever()

    async def main() -> object:
        async with trio.open_nursery() as nursery:
            srv = RawServer(nursery, server)
            try:
                async with th.open_managed_websocket(
                    "ws://x/",
                    reconnect=th.ReconnectPolicy(max_attempts=1),
                    options=th.ConnectionOptions(
                        transport=transport, subprotocols=("chat",), connect_timeout=5.0
                    ),
                    dial=srv.dial,
                ) as ws:
                    await ws.wait_connected()
                    outcome: object = "connected"
            except th.ReconnectGaveUp as gave_up:
                outcome = gave_up.last_error
            nursery.cancel_scope.cancel()
        return outcome

    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers())
def test_any_answer_ends_in_our_error_the_same_for_both_engines(
    drawn: tuple[Part, list[int], bool, bool],
) -> None:
    answer, cuts, close, valid = drawn
    direct = attempt(th.Transport.DIRECT, answer, cuts, close)
    trio_websocket = attempt(th.Transport.TRIO_WEBSOCKET, answer, cuts, close)
    if valid:
        assert direct == trio_websocket == "connected"
        return
    for outcome in (direct, trio_websocket):
        assert outcome == "connected" or isinstance(outcome, th.ConnectError), repr(outcome)
    assert type(direct) is type(trio_websocket), (direct, trio_websocket)
    if isinstance(direct, th.HandshakeRejected):
        assert isinstance(trio_websocket, th.HandshakeRejected)
        assert direct.status == trio_websocket.status != 101
    if isinstance(direct, th.ConnectTimeout):  # only when nothing decided and the peer waits
        assert not close
