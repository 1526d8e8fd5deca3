"""The codecs share their text/JSON helpers through one module, not through each other."""

from __future__ import annotations

import ast
import pathlib

import pytest

import trio_heartbeat.protocols as protocols
from trio_heartbeat.errors import RemoteProtocolError, UsageError
from trio_heartbeat.protocols import _json

PACKAGE = pathlib.Path(protocols.__file__).parent
CODECS = sorted(p for p in PACKAGE.glob("*.py") if not p.name.startswith("_"))


def private_imports(path: pathlib.Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and "trio_heartbeat" in node.module:
            found += [f"{node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    return found


@pytest.mark.parametrize("path", CODECS, ids=lambda p: p.name)
def test_codec_imports_no_private_name(path: pathlib.Path) -> None:
    assert private_imports(path) == []


def test_every_codec_checked() -> None:
    assert {p.stem for p in CODECS} >= {"engineio", "socketio", "sockjs", "tradovate"}


def test_json_helpers_say_whose_fault() -> None:
    with pytest.raises(RemoteProtocolError, match="invalid JSON"):
        _json.json_loads("[NaN]", "frame")
    with pytest.raises(UsageError, match="not JSON-serialisable"):
        _json.json_dumps(float("inf"), "value")
    assert _json.json_dumps({"a": [1, "é"]}, "value") == '{"a":[1,"é"]}'
