"""attrs validators and converters that reject misuse with one short :class:`UsageError`.

Every config class of the library (``Heartbeat``, ``ReconnectPolicy``,
``ConnectionOptions``...) checks its fields with these, so a bad value reads the
same everywhere: which field, the value given, and what is allowed::

    UsageError: ConnectionOptions.send_buffer_size must be an int > 0, got 0

Plain functions check their arguments with :func:`argument`, which words the
error the same way ("Faults.set_latency(delay=...) must be a number >= 0, got -1").

Numbers: ``bool`` is never accepted as a number, and NaN fails every bound.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import attrs

from trio_heartbeat._core.close_codes import may_be_sent
from trio_heartbeat.errors import UsageError

__all__ = [
    "Rule",
    "argument",
    "callable_value",
    "check",
    "header_pairs",
    "headers",
    "close_code",
    "http_status",
    "instance_of",
    "int_range",
    "non_negative",
    "number",
    "optional",
    "positive",
    "positive_finite",
    "positive_int",
    "seconds",
    "tuple_of",
    "tuple_unless_str",
]


def _field(inst: object, attr: attrs.Attribute[Any]) -> str:
    return f"{type(inst).__name__}.{attr.name}"


def check(inst: object, attr: attrs.Attribute[Any], ok: bool, allowed: str, value: object) -> None:
    """Raise the usage error "<Class>.<field> must be <allowed>, got <value>" unless ``ok``."""
    if not ok:
        raise UsageError(f"{_field(inst, attr)} must be {allowed}, got {value!r}")


@attrs.frozen
class Rule:
    """An attrs validator: ``test(value)`` must hold, else "must be ``allowed``"."""

    allowed: str
    test: Callable[[object], bool]

    def __call__(self, inst: object, attr: attrs.Attribute[Any], value: object) -> None:
        check(inst, attr, self.test(value), self.allowed, value)


T = TypeVar("T")


def argument(name: str, rule: Rule, value: T) -> T:
    """``value``, if ``rule`` holds for it; else the usage error "<name> must be <allowed>,
    got <value>" (``name`` says where: ``"Faults.trickle(bytes_per_second=...)"``)."""
    if not rule.test(value):
        raise UsageError(f"{name} must be {rule.allowed}, got {value!r}")
    return value


def _article(noun: str) -> str:
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


def number(
    *, gt: float | None = None, ge: float | None = None, integer: bool = False, finite: bool = False
) -> Rule:
    """A number (an ``int`` with ``integer``) ``> gt`` and/or ``>= ge``; never a bool."""
    kind = (int,) if integer else (int, float)
    words = ["an int" if integer else "a finite number" if finite else "a number"]
    if gt is not None:
        words.append(f"> {gt:g}")
    if ge is not None:
        words.append(f">= {ge:g}")

    def test(value: object) -> bool:
        if not isinstance(value, kind) or isinstance(value, bool):
            return False
        assert isinstance(value, (int, float))
        return (
            (gt is None or value > gt)
            and (ge is None or value >= ge)
            and (not finite or math.isfinite(value))
        )

    return Rule(" ".join(words), test)


positive = number(gt=0)
"""A number > 0 (seconds, rates...)."""
positive_finite = number(gt=0, finite=True)
"""A finite number > 0."""
non_negative = number(ge=0)
"""A number >= 0."""
positive_int = number(gt=0, integer=True)
"""An int > 0 (sizes, counts)."""


close_code = Rule(
    "a close code that may be sent (1000-1003, 1007-1014, 3000-4999)",
    lambda value: isinstance(value, int) and not isinstance(value, bool) and may_be_sent(value),
)
"""A close code an endpoint may put in a close frame (RFC 6455 section 7.4)."""


def http_status(low: int) -> Rule:
    """An int HTTP status from ``low`` to 599."""

    def test(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= 599

    return Rule(f"an HTTP status {low}-599", test)


def int_range(low: int, high: int) -> Rule:
    """An int from ``low`` to ``high`` (both included); never a bool."""

    def test(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high

    return Rule(f"an int from {low} to {high}", test)


callable_value = Rule("a callable", callable)
"""Anything callable."""


def seconds(name: str, value: float) -> float:
    """``value`` as float seconds: a finite number > 0, else a usage error naming ``name``."""
    return float(argument(name, positive_finite, value))


def optional(rule: Rule) -> Rule:
    """``rule``, or None."""
    return Rule(f"{rule.allowed} or None", lambda value: value is None or rule.test(value))


def instance_of(*kinds: type) -> Rule:
    """A value of one of ``kinds`` (no bool for an int); an enum's members are listed."""
    if len(kinds) == 1 and issubclass(kinds[0], enum.Enum):
        members = ", ".join(f"{kinds[0].__name__}.{m.name}" for m in kinds[0])
        allowed = f"{_article(kinds[0].__name__)} ({members})"
    elif kinds == (bool,):
        allowed = "a bool (True or False)"
    else:
        allowed = _article(" or ".join(k.__name__ for k in kinds))
    bool_ok = bool in kinds
    return Rule(
        allowed, lambda value: isinstance(value, kinds) and (bool_ok or not isinstance(value, bool))
    )


def tuple_unless_str(value: object) -> object:
    """Converter: any iterable except ``str``/``bytes`` becomes a tuple (a validator
    then refuses the rest, naming the field, instead of splitting ``"chat"`` into letters)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        return value
    return tuple(value)


def tuple_of(*kinds: type) -> Rule:
    """A tuple whose items are all of ``kinds`` (use with :func:`tuple_unless_str`)."""
    return Rule(
        "a sequence of " + " or ".join(k.__name__ for k in kinds),
        lambda value: isinstance(value, tuple) and all(isinstance(i, kinds) for i in value),
    )


def header_pairs(value: object) -> object:
    """Converter: ``[(name, value), ...]`` (lists as pairs too) as a tuple of tuples."""
    value = tuple_unless_str(value)
    if isinstance(value, tuple):
        return tuple(tuple(pair) if isinstance(pair, list) else pair for pair in value)
    return value


def _is_pair(pair: object) -> bool:
    return isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(x, str) for x in pair)


def headers(inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    """(name, value) str pairs. The error never shows a value: headers carry secrets."""
    bad = value if not isinstance(value, tuple) else None
    for pair in value if isinstance(value, tuple) else ():
        if not _is_pair(pair):
            bad = pair
            break
    if bad is not None:
        raise UsageError(
            f"{type(inst).__name__}.{attr.name} must be a sequence of (name, value) str pairs, "
            f"got {type(bad).__name__} (values not shown)"
        )
