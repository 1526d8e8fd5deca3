"""Redirects of the upgrade: where they lead, and which are refused (pure)."""

from __future__ import annotations

import pytest

import trio_heartbeat as th
from trio_heartbeat._transport.redirects import RedirectRequested, redirect_target
from trio_heartbeat._transport.upgrade import rejection


@pytest.mark.parametrize(
    ("current", "location", "url", "same_host"),
    [
        ("ws://h/a", "/b?x=1", "ws://h/b?x=1", True),
        ("ws://h/a/b", "c", "ws://h/a/c", True),
        ("ws://h/a", "wss://h/a", "wss://h/a", False),  # port 80 -> 443: another origin
        ("ws://h:80/a", "http://h/b", "ws://h/b", True),
        ("wss://h/a", "https://other/b", "wss://other/b", False),
        ("wss://h/a", "wss://h:443/z", "wss://h:443/z", True),
    ],
)
def test_redirect_targets(current: str, location: str, url: str, same_host: bool) -> None:
    assert redirect_target(current, location) == (url, same_host)


@pytest.mark.parametrize("location", ["ws://h/", "http://h/"])
def test_never_from_wss_to_ws(location: str) -> None:
    with pytest.raises(th.ConnectError, match="drop TLS"):
        redirect_target("wss://h/?token=SECRET", location)


@pytest.mark.parametrize("location", ["ftp://u:SECRET@h/file", "ws://u:SECRET@h:port/"])
def test_unusable_locations_are_connect_errors_without_secrets(location: str) -> None:
    with pytest.raises(th.ConnectError) as info:
        redirect_target("ws://h/", location)
    assert "SECRET" not in str(info.value)


def test_rejection_tells_redirects_from_other_statuses() -> None:
    redirect = rejection(302, [(b"Location", b"/next")])
    assert isinstance(redirect, RedirectRequested) and redirect.location == "/next"
    plain = rejection(302, [])  # no Location: an ordinary rejection
    assert type(plain) is th.HandshakeRejected and plain.status == 302
    busy = rejection(503, [(b"Retry-After", b"7"), (b"Location", b"/x")])
    assert type(busy) is th.HandshakeRejected and busy.retry_after == 7.0
