"""The package layout is the architecture: each layer imports only what it may."""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "trio_heartbeat"
ENGINE_LIBRARIES = {"trio_websocket", "wsproto", "h11", "websockets"}


def imports_of(path: pathlib.Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            names.add(node.module)
    return names


def modules(folder: str) -> list[pathlib.Path]:
    found = sorted((PACKAGE / folder).glob("*.py"))
    assert found, folder
    return found


@pytest.mark.parametrize("path", modules("_core"), ids=lambda p: p.name)
def test_the_core_is_pure(path: pathlib.Path) -> None:
    roots = {name.split(".")[0] for name in imports_of(path)}
    # ssl is there for the SSLContext type of a setting; random only for the
    # injectable random.Random type (never the module's global functions).
    assert not roots & {"trio", "time", "socket", *ENGINE_LIBRARIES}
    tree = ast.parse(path.read_text())
    random_uses = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "random"
    }
    assert random_uses <= {"Random"}
    inner = {name for name in imports_of(path) if name.startswith("trio_heartbeat.")}
    assert all(
        name.startswith("trio_heartbeat._core") or name == "trio_heartbeat.errors" for name in inner
    ), inner


def test_only_the_transport_imports_engines() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if "_transport" in path.parts:
            continue
        roots = {name.split(".")[0] for name in imports_of(path)}
        if roots & ENGINE_LIBRARIES:
            offenders.append(str(path.relative_to(PACKAGE)))
    assert offenders == []


def test_the_transport_does_not_reach_up() -> None:
    for path in modules("_transport"):
        for name in imports_of(path):
            assert not name.startswith(("trio_heartbeat._client", "trio_heartbeat.adapters")), (
                path.name,
                name,
            )


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("sockjs_client", "adapters.sockjs"),
        ("engineio_client", "adapters.engineio"),
        ("socketio_client", "adapters.socketio"),
        ("tradovate", "adapters.tradovate"),
    ],
)
def test_old_adapter_modules_still_import(old: str, new: str) -> None:
    import importlib

    legacy = importlib.import_module(f"trio_heartbeat.{old}")
    current = importlib.import_module(f"trio_heartbeat.{new}")
    assert legacy.__all__ == current.__all__
    for name in current.__all__:
        assert getattr(legacy, name) is getattr(current, name)


def test_the_frame_codec_is_sans_io() -> None:
    """``_transport/frames.py`` is bytes in, bytes out: no trio, no sockets, no clock;
    of ours only the pure core (its close codes)."""
    path = PACKAGE / "_transport" / "frames.py"
    roots = {name.split(".")[0] for name in imports_of(path)}
    assert not roots & {"trio", "time", "socket", "trio_websocket", "wsproto", "h11"}
    ours = {name for name in imports_of(path) if name.startswith("trio_heartbeat")}
    assert ours == {"trio_heartbeat._core.close_codes"}
