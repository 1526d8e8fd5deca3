"""Tradovate requests, responses/events and the request correlator."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.protocols import QUICK, garbage, json_values, utf8_text
from trio_heartbeat.errors import ConnectionLost, RemoteProtocolError, UsageError
from trio_heartbeat.protocols import tradovate
from trio_heartbeat.protocols.sockjs import SockJSDecoder, SockJSHeartbeat, SockJSMessages
from trio_heartbeat.protocols.tradovate import (
    ClientHeartbeat,
    Event,
    Request,
    RequestCorrelator,
    RequestCounter,
    RequestFailed,
    Response,
    decode_client_frame,
    decode_item,
    decode_items,
    encode_authorize,
    encode_request,
    encode_server_frame,
)

# --------------------------------------------------------------------------- requests


def test_authorize_is_id_zero_with_raw_token() -> None:
    assert encode_authorize("tok.en") == "authorize\n0\n\ntok.en"
    with pytest.raises(UsageError):
        encode_authorize("")


def test_encode_request_forms() -> None:
    assert (
        encode_request("md/subscribeQuote", 1, body={"symbol": "MESM1"})
        == 'md/subscribeQuote\n1\n\n{"symbol":"MESM1"}'
    )
    assert encode_request("order/item", 2, query="id=5") == "order/item\n2\nid=5\n"
    assert encode_request("user/syncrequest", 3, body=[1, 2]) == "user/syncrequest\n3\n\n[1,2]"
    assert encode_request("x", 4, body="raw\ntext") == "x\n4\n\nraw\ntext"
    assert encode_request("x", 5, body=0) == "x\n5\n\n0"  # falsy but not None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"url": "", "request_id": 1},
        {"url": "a\nb", "request_id": 1},
        {"url": "a", "request_id": 1, "query": "q\n"},
        {"url": "a", "request_id": -1},
        {"url": "a", "request_id": True},
        {"url": "a", "request_id": 1.0},
        {"url": "a", "request_id": 1, "body": {1, 2}},
        {"url": "a", "request_id": 1, "body": float("inf")},
        {"url": "a", "request_id": 1, "body": "\udc80"},
    ],
)
def test_encode_request_misuse(kwargs: dict[str, Any]) -> None:
    with pytest.raises(UsageError):
        encode_request(**kwargs)


def test_decode_client_frame() -> None:
    assert decode_client_frame("[]") == ClientHeartbeat()
    assert decode_client_frame("") == ClientHeartbeat()
    assert decode_client_frame("authorize\n0\n\ntok") == Request("authorize", 0, "", "tok")
    assert decode_client_frame(b"a/b\n12\nq=1\n{\n}") == Request("a/b", 12, "q=1", "{\n}")
    for bad in ("authorize", "a\n1\n", "\n1\n\n", "a\nx\n\n", "a\n-1\n\n", "a\n\u0661\n\n", "[1]"):
        with pytest.raises(RemoteProtocolError):
            decode_client_frame(bad)


def test_request_counter() -> None:
    counter = RequestCounter()
    assert [counter.next_id() for _ in range(3)] == [1, 2, 3]
    assert RequestCounter(start=0).next_id() == tradovate.AUTHORIZE_ID == 0
    with pytest.raises(UsageError):
        RequestCounter(start=-1)


def test_heartbeat_facts() -> None:
    assert tradovate.CLIENT_HEARTBEAT_FRAME == "[]"
    assert tradovate.CLIENT_HEARTBEAT_INTERVAL == 2.5
    assert tradovate.SERVER_IDLE_TIMEOUT == 25.0


# --------------------------------------------------------------------------- server messages


def test_decode_responses_and_events() -> None:
    assert decode_item({"s": 200, "i": 0}) == Response(0, 200, None)
    assert decode_item({"s": 200, "i": 7, "d": {"id": 1}}) == Response(7, 200, {"id": 1})
    not_found = decode_item({"s": 404, "i": 1, "d": '"Not found: quote/subscribe"'})
    assert not_found == Response(1, 404, '"Not found: quote/subscribe"')
    assert isinstance(not_found, Response)
    assert not not_found.ok
    assert Response(1, 204).ok
    assert decode_item({"e": "props", "d": {"entityType": "order"}}) == Event(
        "props", {"entityType": "order"}
    )
    assert decode_item({"e": "shutdown"}) == Event("shutdown", None)


def test_real_session_frames() -> None:
    decoder = SockJSDecoder()
    decoder.receive("o")
    event = decoder.receive('a[{"s":200,"i":0},{"e":"clock","d":"{\\"t\\":1}"}]')
    assert isinstance(event, SockJSMessages)
    assert decode_items(event.items) == (Response(0, 200), Event("clock", '{"t":1}'))
    assert decoder.receive("h") == SockJSHeartbeat()


@pytest.mark.parametrize(
    "item",
    [
        "m1",
        [1],
        None,
        {},
        {"x": 1},
        {"i": 1},
        {"s": 200},
        {"i": "1", "s": 200},
        {"i": 1, "s": "200"},
        {"i": True, "s": 200},
        {"i": 1, "s": 200.0},
        {"e": 5},
        {"e": None, "d": 1},
    ],
)
def test_decode_item_rejects(item: Any) -> None:
    with pytest.raises(RemoteProtocolError):
        decode_item(item)


def test_server_frame_encoding() -> None:
    frame = encode_server_frame([Response(0, 200), Event("props", {"a": 1})])
    assert frame == 'a[{"s":200,"i":0},{"e":"props","d":{"a":1}}]'


# --------------------------------------------------------------------------- correlator


def test_correlator_matches_and_forgets() -> None:
    correlator = RequestCorrelator()
    for request_id in (3, 1, 2):
        correlator.register(request_id)
    assert list(correlator.pending) == [3, 1, 2]
    response = Response(1, 200, {"ok": True})
    assert correlator.feed(response) is response
    assert list(correlator.pending) == [3, 2]
    assert correlator.feed(response) is None  # a second answer is a stray
    assert correlator.feed(Response(99, 200)) is None
    with pytest.raises(UsageError, match="already pending"):
        correlator.register(3)
    assert correlator.cancel(3)
    assert not correlator.cancel(3)
    assert correlator.feed(Response(3, 200)) is None  # late answer after cancel
    correlator.register(3)  # the id can be reused once no longer pending
    assert list(correlator.pending) == [2, 3]


def test_correlator_fail_all() -> None:
    correlator = RequestCorrelator()
    correlator.register(1)
    correlator.register(2)
    error = ConnectionLost(1006)
    assert correlator.fail_all(error) == (RequestFailed(1, error), RequestFailed(2, error))
    assert correlator.pending == ()
    assert correlator.fail_all(error) == ()
    with pytest.raises(UsageError):
        correlator.register("1")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- properties

urls = st.text(alphabet=st.characters(exclude_categories=["Cs"]), min_size=1).filter(
    lambda s: "\n" not in s
)
queries = utf8_text.filter(lambda s: "\n" not in s)


@QUICK
@given(urls, st.integers(min_value=0, max_value=10**12), queries, json_values | utf8_text)
def test_request_round_trip(url: str, request_id: int, query: str, body: Any) -> None:
    frame = encode_request(url, request_id, query=query, body=body)
    decoded = decode_client_frame(frame)
    assert isinstance(decoded, Request)
    assert (decoded.url, decoded.id, decoded.query) == (url, request_id, query)
    if body is None:
        assert decoded.body == ""
    elif isinstance(body, str):
        assert decoded.body == body
    else:
        assert json.loads(decoded.body) == body


messages = st.builds(
    Response, st.integers(min_value=0, max_value=10**9), st.integers(100, 599), json_values
) | st.builds(Event, utf8_text, json_values)


@QUICK
@given(st.lists(messages, min_size=1, max_size=5))
def test_server_frame_round_trip(items: list[Response | Event]) -> None:
    decoder = SockJSDecoder()
    decoder.receive("o")
    event = decoder.receive(encode_server_frame(items))
    assert isinstance(event, SockJSMessages)
    assert decode_items(event.items) == tuple(items)


@QUICK
@given(json_values)
def test_any_json_item_raises_only_protocol_errors(item: Any) -> None:
    with contextlib.suppress(RemoteProtocolError):
        decode_item(item)


@QUICK
@given(garbage)
def test_garbage_client_frames_raise_only_protocol_errors(frame: str | bytes) -> None:
    with contextlib.suppress(RemoteProtocolError):
        decode_client_frame(frame)
