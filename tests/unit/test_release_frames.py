"""release_frames: what a kept exception's tracebacks still hold of the library."""

from __future__ import annotations

import traceback
from types import FrameType

from trio_heartbeat._core.groups import release_frames

# Each "module" raises through the next: application -> trio_heartbeat -> trio.
_SOURCE = """
def call(next_step, payload):
    held = [payload]
    return next_step(held)
"""


def _module(name: str) -> dict[str, object]:
    namespace: dict[str, object] = {"__name__": name}
    exec(compile(_SOURCE, f"<{name}>", "exec"), namespace)
    return namespace


def _fail(held: list[object]) -> object:
    raise OSError(111, "Connection refused")


def _raised(wrapper: type[BaseException]) -> BaseException:
    """``wrapper`` raised from an OSError that went app -> ours -> trio."""
    app, ours, dep = _module("the_app.client"), _module("trio_heartbeat.x"), _module("trio.y")

    def through_dep(held: list[object]) -> object:
        return dep["call"](_fail, "trio's socket")  # type: ignore[operator]

    def through_ours(held: list[object]) -> object:
        return ours["call"](through_dep, "our link")  # type: ignore[operator]

    try:
        try:
            app["call"](through_ours, "app secret")  # type: ignore[operator]
        except OSError as exc:
            raise wrapper("cannot connect") from exc
    except BaseException as error:
        return error
    raise AssertionError("unreachable")


def _frames(error: BaseException) -> list[FrameType]:
    return [frame for frame, _ in traceback.walk_tb(error.__traceback__)]


def _modules(error: BaseException) -> list[str]:
    return [str(frame.f_globals["__name__"]) for frame in _frames(error)]


def test_an_explained_failure_keeps_only_the_applications_frames() -> None:
    error = _raised(ConnectionError)
    cause = error.__cause__
    assert cause is not None
    assert {"the_app.client", "trio_heartbeat.x", "trio.y"} <= set(_modules(cause))
    release_frames(error, explained=True)
    assert "trio_heartbeat.x" not in _modules(cause) and "trio.y" not in _modules(cause)
    app_frames = [f for f in _frames(cause) if f.f_globals["__name__"] == "the_app.client"]
    assert app_frames and app_frames[0].f_locals["held"] == ["app secret"]
    # Still an exception with its message and chain, and it still formats.
    text = "".join(traceback.format_exception(error))
    assert "Connection refused" in text and "cannot connect" in text


def test_an_unexplained_failure_keeps_the_librarys_frames_without_locals() -> None:
    error = _raised(RuntimeError)
    cause = error.__cause__
    assert cause is not None
    release_frames(error, explained=False)
    modules = _modules(cause)
    assert "trio_heartbeat.x" in modules and "trio.y" not in modules
    ours = [f for f in _frames(cause) if f.f_globals["__name__"] == "trio_heartbeat.x"]
    assert ours[0].f_locals == {}
    app = [f for f in _frames(cause) if f.f_globals["__name__"] == "the_app.client"]
    assert app[0].f_locals["held"] == ["app secret"]


def test_group_members_and_contexts_are_released_too() -> None:
    inner = _raised(ConnectionError)
    group = BaseExceptionGroup("attempt", [inner])
    try:
        try:
            raise group
        except BaseExceptionGroup:
            raise KeyError("during handling") from None
    except KeyError as outer:
        release_frames(outer, explained=True)
    cause = inner.__cause__
    assert cause is not None and "trio.y" not in _modules(cause)
