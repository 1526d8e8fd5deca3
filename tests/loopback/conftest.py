from collections.abc import Iterator

import pytest

from tests.loopback.test_client_loopback import EchoProcess


@pytest.fixture
def echo_process() -> Iterator[EchoProcess]:
    server = EchoProcess()
    server.start()
    try:
        yield server
    finally:
        server.kill()
