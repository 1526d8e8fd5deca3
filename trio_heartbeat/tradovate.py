"""Kept for compatibility: the same names as :mod:`trio_heartbeat.adapters.tradovate`."""

from trio_heartbeat.adapters.tradovate import *  # noqa: F403
from trio_heartbeat.adapters.tradovate import __all__ as __all__
