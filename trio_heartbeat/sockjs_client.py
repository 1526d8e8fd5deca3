"""Kept for compatibility: the same names as :mod:`trio_heartbeat.adapters.sockjs`."""

from trio_heartbeat.adapters.sockjs import *  # noqa: F403
from trio_heartbeat.adapters.sockjs import __all__ as __all__
