"""The demo's argument checks and verdict, without running it (no sockets)."""

from __future__ import annotations

import itertools
import math

import pytest

from tests.demo import demo_process
from trio_heartbeat import demo


@pytest.mark.parametrize(("style", "fault"), list(itertools.product(demo.STYLES, demo.FAULTS)))
def test_only_silent_pongs_without_ping_is_refused(style: str, fault: str) -> None:
    refused = demo.unsupported(style, fault) is not None
    assert refused == (fault == "silent-pongs" and style != "ping")


@pytest.mark.parametrize("style", ["text", "server"])
def test_refused_combination_exits_2_saying_why(
    style: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        demo.parse_args(["--style", style, "--fault", "silent-pongs"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--fault silent-pongs drops RFC 6455 pong frames" in err
    assert f"the {style} heartbeat is" in err and "Use --style ping" in err


def test_refused_combination_from_the_command_line() -> None:
    done = demo_process("--style", "text", "--fault", "silent-pongs")
    assert done.returncode == 2
    assert done.stdout == "" and "only --style ping uses" in done.stderr


def test_verdict_names_what_did_not_happen() -> None:
    assert demo.verdict("half-open", missing=[], detect=1.5, reconnects=1, auth=2) == []
    assert demo.verdict("half-open", missing=["msg 3"], detect=math.nan, reconnects=0, auth=1) == [
        "1 message(s) never reached the server",
        "the fault was not detected (no disconnect after it)",
        "the client did not reconnect",
        "the on-connect step ran 1x, not again after the reconnect",
    ]


def test_verdict_without_a_fault_expects_no_reconnect() -> None:
    assert demo.verdict("none", missing=[], detect=math.nan, reconnects=0, auth=1) == []
    assert demo.verdict("none", missing=[], detect=math.nan, reconnects=1, auth=2) == [
        "1 reconnect(s) although no fault was injected"
    ]
