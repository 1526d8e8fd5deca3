"""Kept for compatibility: the same names as :mod:`trio_heartbeat.adapters.engineio`."""

from trio_heartbeat.adapters.engineio import *  # noqa: F403
from trio_heartbeat.adapters.engineio import __all__ as __all__
