"""The README's Python snippets compile and use names, methods and keywords that exist."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

import trio_heartbeat as th
from trio_heartbeat.adapters._base import ManagedArguments
from trio_heartbeat.adapters.engineio import EngineIOClient
from trio_heartbeat.adapters.socketio import SocketIOClient
from trio_heartbeat.adapters.tradovate import TradovateClient
from trio_heartbeat.testing import Faults

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)

# What the snippets' variables are, by name.
RECEIVERS: dict[str, type] = {
    "ws": th.ManagedWebSocket,
    "link": th.LiveLink,
    "faults": Faults,
    "eio": EngineIOClient,
    "sio": SocketIOClient,
    "client": TradovateClient,
}


def parse(block: str) -> ast.Module:
    """The snippet as the body of an async function (snippets use ``async with``)."""
    return ast.parse("async def snippet():\n" + textwrap.indent(block, "    "))


def callables(tree: ast.Module) -> dict[str, Any]:
    """Names the snippet imports, plus ``th``."""
    found: dict[str, Any] = {"th": th}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            module = importlib.import_module(node.module)
            for alias in node.names:
                found[alias.asname or alias.name] = getattr(module, alias.name)
    return found


def resolve(func: ast.expr, names: dict[str, Any]) -> Any:
    if isinstance(func, ast.Name):
        return names.get(func.id)
    if isinstance(func, ast.Attribute):
        owner = resolve(func.value, names)
        if owner is None and isinstance(func.value, ast.Name):
            owner = RECEIVERS.get(func.value.id)
        return None if owner is None else getattr(owner, func.attr, None)
    return None


def accepted_keywords(target: Any) -> set[str] | None:
    """Keyword names ``target`` accepts; None when it takes any."""
    try:
        parameters = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return None
    names = {p.name for p in parameters if p.kind is not inspect.Parameter.VAR_KEYWORD}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        if "Unpack[ManagedArguments]" not in str(inspect.signature(target)):
            return None
        names |= set(ManagedArguments.__annotations__)
    return names


def test_readme_has_snippets() -> None:
    assert len(BLOCKS) >= 7


@pytest.mark.parametrize("block", BLOCKS, ids=[b.split("\n", 1)[0][:40] for b in BLOCKS])
def test_snippet_names_methods_and_keywords_exist(block: str) -> None:
    tree = parse(block)
    names = callables(tree)
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            owner = names.get(node.value.id, RECEIVERS.get(node.value.id))
            if owner is not None and not hasattr(owner, node.attr):
                problems.append(f"{node.value.id}.{node.attr} does not exist")
        if isinstance(node, ast.Call):
            target = resolve(node.func, names)
            allowed = accepted_keywords(target) if target is not None else None
            for keyword in node.keywords:
                if allowed is not None and keyword.arg is not None and keyword.arg not in allowed:
                    problems.append(f"{ast.unparse(node.func)}() takes no {keyword.arg}=")
    assert problems == []


def test_the_checker_catches_a_wrong_keyword_and_method() -> None:
    with pytest.raises(AssertionError, match="takes no rng="):
        test_snippet_names_methods_and_keywords_exist("th.ReconnectPolicy(rng=1)\n")
    with pytest.raises(AssertionError, match="takes no recconect="):
        test_snippet_names_methods_and_keywords_exist(
            "from trio_heartbeat.adapters.sockjs import open_sockjs\n"
            "open_sockjs(url, heartbeat_clock=None, recconect=None)\n"
        )
    with pytest.raises(AssertionError, match=r"ws\.state_list does not exist"):
        test_snippet_names_methods_and_keywords_exist("ws.state_list\n")
