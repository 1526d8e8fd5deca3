"""Text and JSON helpers shared by the wire codecs (private to :mod:`trio_heartbeat.protocols`).

Two directions, two errors: what came from the peer and is broken raises
:class:`~trio_heartbeat.errors.RemoteProtocolError` (:func:`fail`,
:func:`json_loads`, :func:`as_text`); what we were asked to send and cannot be
sent raises :class:`~trio_heartbeat.errors.UsageError` (:func:`json_dumps`,
:func:`check_utf8`, :func:`check_max_size`). JSON from the peer is strict (no
``NaN`` / ``Infinity``); JSON we send is compact (no spaces, UTF-8 kept).
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

from trio_heartbeat._core import validate as v
from trio_heartbeat.errors import RemoteProtocolError, UsageError

__all__ = ["as_text", "check_max_size", "check_utf8", "fail", "json_dumps", "json_loads"]


def fail(message: str, cause: BaseException | None = None) -> NoReturn:
    """Raise RemoteProtocolError(message): the peer sent something broken."""
    raise RemoteProtocolError(message) from cause


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"non-standard JSON constant {name}")


def json_loads(text: str, what: str) -> Any:
    """Parse strict JSON (no NaN/Infinity) from the peer, or raise RemoteProtocolError."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError as exc:
        fail(f"{what}: JSON nested too deeply", exc)
    except ValueError as exc:  # JSONDecodeError, int digit limit, NaN...
        fail(f"{what}: invalid JSON ({exc})", exc)


def json_dumps(value: Any, what: str) -> str:
    """Serialise our own value compactly, or raise UsageError if JSON cannot hold it."""
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise UsageError(f"{what} is not JSON-serialisable: {exc}") from exc
    check_utf8(text, what)
    return text


def check_utf8(text: str, what: str) -> None:
    """Refuse strings that cannot travel in a WebSocket text frame (lone surrogates)."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise UsageError(f"{what} cannot be encoded as UTF-8: {exc}") from exc


def as_text(frame: str | bytes, max_size: int, what: str) -> str:
    """Bound the frame size and return it as text (bytes must be UTF-8)."""
    if isinstance(frame, bytes | bytearray | memoryview):
        frame = bytes(frame)
        if len(frame) > max_size:
            fail(f"{what} of {len(frame)} bytes exceeds the limit of {max_size}")
        try:
            return frame.decode("utf-8")
        except UnicodeDecodeError as exc:
            fail(f"{what} is not valid UTF-8", exc)
    if not isinstance(frame, str):
        raise UsageError(f"expected str or bytes, got {type(frame).__name__}")
    if len(frame) > max_size:
        fail(f"{what} of {len(frame)} characters exceeds the limit of {max_size}")
    return frame


def check_max_size(max_size: int) -> None:
    """Refuse a size limit that is not a positive int (UsageError)."""
    v.argument("max size", v.positive_int, max_size)
