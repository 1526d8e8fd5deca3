"""Only the transport knows how a connection is dialed (proxies, TLS, redirects)."""

from __future__ import annotations

import pathlib

from tests.unit.test_layers import PACKAGE, imports_of

DIAL_MODULES = {
    f"trio_heartbeat._transport.{name}"
    for name in ("dial", "http_connect", "socks", "tls", "proxy_env", "redirects")
}


def test_no_module_outside_the_transport_knows_how_to_dial() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if "_transport" in path.parts:
            continue
        names = imports_of(path)
        if names & DIAL_MODULES or any(n.split(".")[0] == "python_socks" for n in names):
            offenders.append(str(path.relative_to(PACKAGE)))
    assert offenders == []


def test_the_dial_modules_exist() -> None:  # the check above would pass vacuously otherwise
    for module in DIAL_MODULES:
        name = module.rsplit(".", 1)[1]
        assert (PACKAGE / "_transport" / f"{name}.py").is_file()
    assert isinstance(PACKAGE, pathlib.Path)
