"""The feature tests share the core tests' in-memory fixtures (both engines)."""

from tests.core.conftest import echo_server, nursery, transport

__all__ = ["echo_server", "nursery", "transport"]
