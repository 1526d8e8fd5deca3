"""Autobahn TestSuite client cases against our protocol engines, offline, via ``kosoku``.

``kosoku`` (PyPI) runs the Autobahn case files from a native wheel: no Docker, no
Python 2. Its fuzzing server runs in a child process (it is asyncio; this client is
trio) on 127.0.0.1, port 0; this process drives every case through one engine's link
(``open_link``, the seam the managed connection uses): echo every message until the
server closes, then read until it drops TCP.

    python interop/autobahn.py                       # sections 1-7, 9, 10; DIRECT, WEBSOCKETS
    python interop/autobahn.py --engine websockets --compression --cases '12.*' '13.*'
    python interop/autobahn.py --cases 1.1.1 '5.*'

Exit status 0 when every case is OK, NON-STRICT or INFORMATIONAL (both the behaviour
and the close behaviour), 1 otherwise; the failed cases are listed. The test suite
calls :func:`run_cases` (tests/interop/test_autobahn.py).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path

import attrs
import trio

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import trio_heartbeat as th  # noqa: E402
from trio_heartbeat._core.endpoint import Endpoint  # noqa: E402
from trio_heartbeat._transport.links import Link, open_link  # noqa: E402

#: The sections every engine must pass, and those that need compression.
SECTIONS = ("1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.*", "10.*")
COMPRESSION_SECTIONS = ("12.*", "13.*")
ACCEPTED = {"OK", "NON-STRICT", "INFORMATIONAL"}
ENGINES = {
    "direct": th.Transport.DIRECT,
    "websockets": th.Transport.WEBSOCKETS,
    "trio-websocket": th.Transport.TRIO_WEBSOCKET,
}
#: Seconds one case may take (9.x sends messages up to 16 MiB).
CASE_TIMEOUT = 60.0
#: Seconds to wait for the server to drop TCP after the closing handshake.
DROP_TIMEOUT = 2.0


@attrs.frozen
class Verdict:
    """One case's outcome as the fuzzing server judged it."""

    case_id: str
    behavior: str
    behavior_close: str
    duration: float  #: seconds

    @property
    def passed(self) -> bool:
        return self.behavior in ACCEPTED and self.behavior_close in ACCEPTED


# -- the fuzzing server (child process, asyncio) --------------------------------------


async def _serve(cases: Sequence[str]) -> None:
    from kosoku import FailureError, run_fuzzingserver

    async with run_fuzzingserver(list(cases), host="127.0.0.1", port=0) as server:
        print(f"LISTENING {server.port}", flush=True)
        try:
            results = await server.get_result()
        except FailureError as failure:
            results = failure.results
    for r in results:
        verdict = [r.case_id, r.behavior.value, r.behavior_close.value, r.duration / 1000]
        print(json.dumps(verdict), flush=True)


# -- the client under test (trio) ------------------------------------------------------


def options_for(engine: th.Transport, compression: bool) -> th.ConnectionOptions:
    """Our options for the cases; with compression, an offer that lets the server choose
    both our window (``client_max_window_bits``) and no context takeover (13.2-13.6)."""
    deflate = th.PerMessageDeflate(client_no_context_takeover=True) if compression else None
    return th.ConnectionOptions(
        transport=engine, compression=deflate, max_message_size=64 * 1024 * 1024
    )


async def _open(url: str, options: th.ConnectionOptions, nursery: trio.Nursery) -> Link:
    return await open_link(nursery, Endpoint(url), options, 10.0, environ={})


async def _echo_case(url: str, options: th.ConnectionOptions) -> None:
    """Echo until the link ends; then wait (bounded) for the server to drop TCP."""
    async with trio.open_nursery() as nursery:
        try:
            link = await _open(url, options, nursery)
        except th.ConnectError:
            return  # the verdict says what went wrong
        with suppress(th.ConnectionLost, th.RemoteProtocolError):
            while True:
                await link.send(await link.receive())
        with trio.move_on_after(DROP_TIMEOUT), suppress(trio.BrokenResourceError):
            if options.transport is th.Transport.TRIO_WEBSOCKET:
                await link.stream.closed_event.wait()  # its reader task reads to the end
            else:
                while await link.stream.receive_some(65536):
                    pass
        await link.abort()
        nursery.cancel_scope.cancel()


async def drive(base: str, engine: th.Transport, compression: bool) -> None:
    """Run every case the server at ``base`` offers, then ask it to write its reports."""
    agent = f"trio_heartbeat-{engine.value}"
    options = options_for(engine, compression)
    async with trio.open_nursery() as nursery:
        link = await _open(f"{base}/getCaseCount", options_for(engine, False), nursery)
        count = int(await link.receive())
        await link.close(1000, "", 2.0)
        nursery.cancel_scope.cancel()
    for case in range(1, count + 1):
        with trio.move_on_after(CASE_TIMEOUT):
            await _echo_case(f"{base}/runCase?case={case}&agent={agent}", options)
    # The server ends the run here (it may close before our upgrade completes).
    async with trio.open_nursery() as nursery:
        with suppress(th.ConnectError):
            url = f"{base}/updateReports?agent={agent}"
            link = await _open(url, options_for(engine, False), nursery)
            await link.close(1000, "", 2.0)
        nursery.cancel_scope.cancel()


async def run_cases(
    engine: th.Transport, cases: Sequence[str], *, compression: bool = False
) -> list[Verdict]:
    """Start the fuzzing server for ``cases``, drive them through ``engine``, return verdicts."""
    command = [sys.executable, __file__, "--serve", *cases]
    async with trio.open_nursery() as nursery:
        run = functools.partial(trio.run_process, command, stdout=subprocess.PIPE, check=False)
        proc = await nursery.start(run)
        try:
            assert proc.stdout is not None
            lines = _Lines(proc.stdout)
            first = await lines.next()
            if not first.startswith("LISTENING "):
                raise RuntimeError(f"kosoku server did not start: {first!r}")
            await drive(f"ws://127.0.0.1:{first.split()[1]}", engine, compression)
            verdicts = [Verdict(*json.loads(line)) async for line in lines]
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(5):
                await proc.wait()
            if proc.returncode is None:
                proc.kill()  # our own child, by its handle
    return verdicts


class _Lines:
    """Text lines of a child's stdout."""

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self._stream = stream
        self._buffer = b""

    async def next(self) -> str:
        while b"\n" not in self._buffer:
            chunk = await self._stream.receive_some()
            if not chunk:
                raise StopAsyncIteration
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()

    def __aiter__(self) -> _Lines:
        return self

    async def __anext__(self) -> str:
        return await self.next()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--engine", choices=[*ENGINES, "all"], default="all")
    parser.add_argument("--compression", action="store_true", help="offer permessage-deflate")
    parser.add_argument("--cases", nargs="*", default=None, help="case ids or globs")
    parser.add_argument("cases_pos", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(_serve(args.cases_pos))
        return 0
    cases = args.cases or list(SECTIONS + (COMPRESSION_SECTIONS if args.compression else ()))
    if args.engine == "all":
        engines = ["websockets"] if args.compression else ["direct", "websockets"]
    else:
        engines = [args.engine]
    status = 0
    for name in engines:
        started = time.monotonic()
        job = functools.partial(run_cases, ENGINES[name], cases, compression=args.compression)
        verdicts = trio.run(job)
        failed = [v for v in verdicts if not v.passed]
        counts: dict[str, int] = {}
        for v in verdicts:
            counts[v.behavior] = counts.get(v.behavior, 0) + 1
        print(
            f"{name}: {len(verdicts)} cases, {counts}, {len(failed)} failed,"
            f" {time.monotonic() - started:.0f} s"
        )
        slowest = sorted(verdicts, key=lambda v: -v.duration)[:3]
        print("  slowest: " + ", ".join(f"{v.case_id} {v.duration:.1f} s" for v in slowest))
        for v in failed:
            print(f"  FAILED {v.case_id}: {v.behavior} / close {v.behavior_close}")
        status |= bool(failed) or not verdicts
    return status


if __name__ == "__main__":
    sys.exit(main())
