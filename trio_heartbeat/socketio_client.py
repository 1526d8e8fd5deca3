"""Kept for compatibility: the same names as :mod:`trio_heartbeat.adapters.socketio`."""

from trio_heartbeat.adapters.socketio import *  # noqa: F403
from trio_heartbeat.adapters.socketio import __all__ as __all__
