"""Proxy choice: explicit settings, then the environment like curl (pure, no I/O)."""

from __future__ import annotations

import pytest

import trio_heartbeat as th
from trio_heartbeat._transport.common import parse_url
from trio_heartbeat._transport.proxy_env import (
    Proxy,
    bypasses_proxy,
    choose_proxy,
    parse_proxy,
    proxy_from_environment,
)

WS = parse_url("ws://api.example.com/feed")
WSS = parse_url("wss://api.example.com/feed")


def env_proxy(target: str, **environ: str) -> str | None:
    return proxy_from_environment(parse_url(target), environ)


def test_scheme_picks_the_variable() -> None:
    environ = {"HTTPS_PROXY": "http://secure:1", "HTTP_PROXY": "http://plain:2"}
    assert proxy_from_environment(WSS, environ) == "http://secure:1"
    assert proxy_from_environment(WS, environ) == "http://plain:2"


def test_all_proxy_is_the_fallback_and_lower_case_wins() -> None:
    assert env_proxy("wss://h/", ALL_PROXY="socks5h://all:3") == "socks5h://all:3"
    assert env_proxy("ws://h/", all_proxy="socks5://low:4", ALL_PROXY="x://up") == "socks5://low:4"
    assert env_proxy("ws://h/", http_proxy="http://low:5", HTTP_PROXY="http://up:6") == (
        "http://low:5"
    )
    assert env_proxy("ws://h/", http_proxy="", HTTP_PROXY="http://up:6") == "http://up:6"
    assert env_proxy("ws://h/", HTTPS_PROXY="http://only-for-wss:7") is None


@pytest.mark.parametrize(
    ("no_proxy", "host", "port", "bypass"),
    [
        ("*", "anything.example", 80, True),
        ("example.com", "example.com", 80, True),
        ("example.com", "api.example.com", 80, True),
        (".example.com", "api.example.com", 80, True),
        ("*.example.com", "api.example.com", 80, True),
        ("example.com", "badexample.com", 80, False),
        ("other.org, example.com", "example.com", 443, True),
        ("other.org example.com", "example.com", 443, True),
        ("EXAMPLE.com", "Example.COM", 443, True),
        ("example.com:8080", "example.com", 8080, True),
        ("example.com:8080", "example.com", 80, False),
        ("127.0.0.1", "127.0.0.1", 9, True),
        ("127.0.0.1", "127.0.0.2", 9, False),
        ("10.0.0.0/8", "10.1.2.3", 9, True),
        ("10.0.0.0/8", "11.1.2.3", 9, False),
        ("::1", "::1", 9, True),
        ("[::1]:9", "::1", 9, True),
        ("", "example.com", 80, False),
    ],
)
def test_no_proxy_entries(no_proxy: str, host: str, port: int, bypass: bool) -> None:
    assert bypasses_proxy(host, port, no_proxy) is bypass


def test_no_proxy_applies_to_the_environment_in_either_case() -> None:
    for name in ("NO_PROXY", "no_proxy"):
        assert (
            env_proxy("ws://api.example.com/", HTTP_PROXY="http://p:1", **{name: "example.com"})
            is None
        )
    assert (
        env_proxy("ws://other.org/", HTTP_PROXY="http://p:1", NO_PROXY="example.com")
        == "http://p:1"
    )


def test_explicit_settings_override_the_environment() -> None:
    environ = {"HTTPS_PROXY": "http://env:1", "NO_PROXY": "*"}
    choose = {"environ": environ, "from_environment": True}
    assert choose_proxy(WSS, endpoint_proxy=None, options_proxy=None, **choose) is None  # NO_PROXY
    chosen = choose_proxy(WSS, endpoint_proxy=None, options_proxy="socks5h://opt:2", **choose)
    assert chosen == Proxy("socks5h", "opt", 2)
    chosen = choose_proxy(
        WSS, endpoint_proxy="http://ep:3", options_proxy="socks5h://opt:2", **choose
    )
    assert chosen == Proxy("http", "ep", 3)
    environ.pop("NO_PROXY")
    assert choose_proxy(WSS, endpoint_proxy=None, options_proxy=None, **choose) == Proxy(
        "http", "env", 1
    )
    off = choose_proxy(
        WSS, endpoint_proxy=None, options_proxy=None, environ=environ, from_environment=False
    )
    assert off is None


def test_parse_proxy() -> None:
    assert parse_proxy("proxy.corp:3128") == Proxy("http", "proxy.corp", 3128)
    assert parse_proxy("http://proxy.corp") == Proxy("http", "proxy.corp", 80)
    assert parse_proxy("https://proxy.corp") == Proxy("https", "proxy.corp", 443)
    assert parse_proxy("socks5://u%40x:p%3Aw@s:1081") == Proxy("socks5", "s", 1081, "u@x", "p:w")
    assert parse_proxy("socks5h://s").port == 1080
    proxy = parse_proxy("http://user:SECRET@[::1]:8080")
    assert proxy.address == "[::1]:8080"
    assert "SECRET" not in repr(proxy) and "user" not in repr(proxy)


@pytest.mark.parametrize("bad", ["ftp://p:21", "http://:80", "http://p:bad", "socks4://p"])
def test_bad_proxies_are_usage_errors_without_secrets(bad: str) -> None:
    with pytest.raises(th.UsageError) as info:
        parse_proxy(bad.replace("://", "://user:SECRET@"))
    assert "SECRET" not in str(info.value)
