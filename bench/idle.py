"""Scenario 3: idle scale, N connections with 1 s heartbeats held for T seconds.

Each (client, N) run happens in a fresh child process (RSS never shrinks, so sharing a
process would bias later runs). The child opens N connections to the echo server (at most
64 handshakes in flight, ``--idle-in-flight``), measures its RSS, holds the connections for
T seconds, then reports:

- ``rss_kib_per_conn``: (RSS at the end of the hold - RSS before connecting) / N, KiB;
- ``cpu_pct``: the child's user+system CPU over the hold, % of one core;
- ``sent_pct`` / ``answered_pct``: heartbeats sent / answered during the hold, as % of the
  N * T / interval that a perfect scheduler would send;
- ``missed``: heartbeat timeouts (for websockets: connections its keepalive failed);
- ``connected_pct``: connections up when the hold began (all of them unless opening them
  took longer than ``CONNECT_BUDGET``; then the hold starts anyway and ``answered_pct``,
  still relative to all N, shows the shortfall).

Clients: trio_heartbeat (``Heartbeat.ping(interval, timeout)``), raw trio-websocket with a
naive per-connection task (every ``interval`` on a fixed schedule:
``with move_on_after(timeout): await ws.ping(unique)``) and websockets.trio
(``ping_interval``/``ping_timeout``, counted through a ClientConnection subclass).

Run alone: ``python -m bench.idle [--quick] [--idle-n 1000 5000] [--idle-hold 30]``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import trio

from bench import _report
from bench._common import (
    has_websockets_trio,
    load_managed,
    median,
    quiet_logs,
    raise_fd_limit,
    run_module,
    server,
)

SCENARIO = "idle"
#: ``trio_heartbeat`` runs the default engine, ``trio_heartbeat[websockets]`` websockets'.
IDLE_CLIENTS = (
    "trio_heartbeat",
    "trio_heartbeat[websockets]",
    "raw-trio-websocket",
    "websockets.trio",
)
CONNECT_CONCURRENCY = 64
#: Seconds allowed for opening all connections in a child, on top of the hold.
CONNECT_BUDGET = 120.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of this scenario (shared with ``python -m bench``)."""
    parser.add_argument("--idle-n", type=int, nargs="+", default=None, help="connection counts")
    parser.add_argument("--idle-hold", type=float, default=None, help="hold time T, seconds")
    parser.add_argument("--idle-interval", type=float, default=1.0, help="heartbeat interval")
    parser.add_argument("--idle-timeout", type=float, default=1.0, help="heartbeat timeout")
    parser.add_argument("--idle-repeats", type=int, default=None, help="default min(repeats, 3)")
    parser.add_argument("--idle-server-procs", type=int, default=1, help="server processes")
    parser.add_argument(
        "--idle-clients", nargs="+", choices=IDLE_CLIENTS, default=None, help="default: all"
    )
    parser.add_argument(
        "--idle-in-flight",
        type=int,
        default=CONNECT_CONCURRENCY,
        help="connections opening at once (connect_s: seconds to open all N)",
    )


class _Counts:
    sent = 0
    answered = 0
    missed = 0


def _rss() -> int:
    import psutil  # type: ignore[import-untyped]

    return int(psutil.Process().memory_info().rss)


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


@dataclasses.dataclass(frozen=True)
class ChildRun:
    """One measurement: ``n`` connections of ``client`` to ``url``, held ``hold`` seconds."""

    client: str
    url: str
    n: int
    hold: float
    interval: float
    timeout: float
    seed: int
    in_flight: int = CONNECT_CONCURRENCY

    def argv(self) -> list[str]:
        """The child's command-line options (parsed back by :func:`_child`)."""
        return [
            f"--{field.name.replace('_', '-')}={getattr(self, field.name)}"
            for field in dataclasses.fields(self)
        ]


async def _child_main(run: ChildRun) -> dict[str, Any]:
    client, url, n, hold = run.client, run.url, run.n, run.hold
    interval, hb_timeout, seed, in_flight = run.interval, run.timeout, run.seed, run.in_flight
    counts = _Counts()
    conns: list[Any] = []
    rng = random.Random(seed)
    limiter = trio.CapacityLimiter(in_flight)
    all_up = trio.Event()
    failed = 0

    make_cm: Callable[[], contextlib.AbstractAsyncContextManager[Any]]
    if client.startswith("trio_heartbeat"):
        th = load_managed()
        assert th is not None
        hb = th.Heartbeat.ping(interval=interval, reply_timeout=hb_timeout)
        rp = th.ReconnectPolicy(wait_initial=0.1, wait_max=2.0)
        engine = client.removeprefix("trio_heartbeat").strip("[]")  # "" for the default
        options = th.ConnectionOptions(**({"transport": th.Transport(engine)} if engine else {}))

        def make_cm() -> contextlib.AbstractAsyncContextManager[Any]:
            # One shared heartbeat clock for all connections, as a user at scale would.
            return th.open_managed_websocket(  # type: ignore[no-any-return]
                url, heartbeat=hb, reconnect=rp, heartbeat_clock=shared["clock"], options=options
            )
    elif client == "raw-trio-websocket":
        from trio_websocket import open_websocket_url

        def make_cm() -> contextlib.AbstractAsyncContextManager[Any]:
            return open_websocket_url(url)
    elif client == "websockets.trio":
        from websockets.trio.client import ClientConnection, connect

        class Counting(ClientConnection):
            async def ping(self, *args: Any, **kwargs: Any) -> trio.Event:
                counts.sent += 1
                return await super().ping(*args, **kwargs)

            def acknowledge_pings(self, data: bytes) -> None:
                before = len(self.pending_pings)
                super().acknowledge_pings(data)
                counts.answered += before - len(self.pending_pings)

        def make_cm() -> contextlib.AbstractAsyncContextManager[Any]:
            return connect(
                url,
                ping_interval=interval,
                ping_timeout=hb_timeout,
                compression=None,
                create_connection=Counting,
            )
    else:
        raise ValueError(f"unknown idle client {client!r}")

    async def naive_pinger(ws: Any, phase: float) -> None:
        """The hand-written loop: fixed schedule, unique payloads, bounded waits."""
        next_at = trio.current_time() + phase
        seq = 0
        while True:
            await trio.sleep_until(next_at)
            next_at += interval
            seq += 1
            counts.sent += 1
            with trio.move_on_after(hb_timeout) as scope:
                await ws.ping(seq.to_bytes(8, "big"))
            if scope.cancelled_caught:
                counts.missed += 1
            else:
                counts.answered += 1

    async def one() -> None:
        nonlocal failed
        async with contextlib.AsyncExitStack() as stack:
            try:
                async with limiter:
                    ws = await stack.enter_async_context(make_cm())
                    if client.startswith(
                        "trio_heartbeat"
                    ):  # its block is entered before connecting
                        await ws.wait_connected()
            except Exception:
                failed += 1
                ws = None
            if ws is not None:
                conns.append(ws)
            if len(conns) + failed == n:
                all_up.set()
            if ws is None:
                return
            if client == "raw-trio-websocket":
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(naive_pinger, ws, rng.uniform(0, interval))
                    await trio.sleep_forever()
            await trio.sleep_forever()

    def snapshot() -> tuple[int, int, int]:
        if client.startswith("trio_heartbeat"):
            stats = [ws.statistics() for ws in conns]
            return (
                sum(getattr(s, "heartbeats_sent", 0) for s in stats),
                sum(getattr(s, "heartbeats_answered", 0) for s in stats),
                sum(getattr(s, "heartbeats_missed", 0) for s in stats),
            )
        if client == "websockets.trio":
            from websockets.protocol import State

            dropped = sum(1 for ws in conns if ws.protocol.state is not State.OPEN)
            return counts.sent, counts.answered, dropped
        return counts.sent, counts.answered, counts.missed

    shared: dict[str, Any] = {}
    clock_stack = contextlib.AsyncExitStack()
    if client.startswith("trio_heartbeat"):
        managed = load_managed()
        assert managed is not None
        shared["clock"] = await clock_stack.enter_async_context(managed.open_heartbeat_clock())
    rss0 = _rss()
    t_connect = time.perf_counter()
    async with clock_stack, trio.open_nursery() as nursery:
        for _ in range(n):
            nursery.start_soon(one)
        with trio.move_on_after(CONNECT_BUDGET):
            await all_up.wait()
        # Over budget: measure the connections that are up; connected_pct tells how many.
        connect_s = time.perf_counter() - t_connect
        await trio.sleep(interval + hb_timeout)  # settle: every heartbeat loop has started
        # Time each snapshot from its start: reading 10,000 connections' statistics
        # takes a while, and the window must be the same for every connection.
        t0 = time.perf_counter()
        s0, cpu0 = snapshot(), _cpu()
        up_at_hold = len(conns)
        await trio.sleep(hold)
        t1 = time.perf_counter()
        s1, cpu1 = snapshot(), _cpu()
        rss1 = _rss()
        nursery.cancel_scope.cancel()
        expected = n * (t1 - t0) / interval
        result = {
            "rss_kib_per_conn": (rss1 - rss0) / 1024 / max(1, len(conns)),
            "cpu_pct": 100.0 * (cpu1 - cpu0) / (t1 - t0),
            "sent_pct": 100.0 * (s1[0] - s0[0]) / expected,
            "answered_pct": 100.0 * (s1[1] - s0[1]) / expected,
            "missed": float(s1[2] - s0[2]),
            "connect_s": connect_s,
            "connected_pct": 100.0 * up_at_hold / n,
            "failed_conns": float(failed),
        }
    return result


def _child(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--client", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--hold", type=float, required=True)
    parser.add_argument("--interval", type=float, required=True)
    parser.add_argument("--timeout", type=float, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--in-flight", type=int, default=CONNECT_CONCURRENCY)
    a = parser.parse_args(argv)
    raise_fd_limit(a.n + 512)
    quiet_logs()
    import psutil  # noqa: F401  (imported before the RSS baseline)

    result = trio.run(_child_main, ChildRun(**vars(a)))
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    # Leave at once: a polite close of thousands of connections is not what we measure.
    os._exit(0)


def _available(client: str) -> bool:
    if client.startswith("trio_heartbeat"):
        return load_managed() is not None
    if client == "websockets.trio":
        return has_websockets_trio()
    return True


def run_child(run: ChildRun) -> dict[str, float]:
    """Run one measurement in a child process; kill it by PID if it overruns."""
    out = run_module(
        ["bench.idle", "--child", *run.argv()],
        timeout=CONNECT_BUDGET + run.hold + run.interval + run.timeout + 30,
        what=f"idle child {run.client} N={run.n}",
        capture=True,
    )
    return {k: float(v) for k, v in json.loads(out.strip().splitlines()[-1]).items()}


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every (N, client) combination, interleaved over repeats; one row each."""
    quiet_logs()
    ns = args.idle_n or ([500] if args.quick else [1000, 5000])
    hold = args.idle_hold or (10.0 if args.quick else 30.0)
    repeats = args.idle_repeats or min(args.repeats or 3, 3)
    if args.quick and not args.idle_repeats:
        repeats = 1
    raise_fd_limit(max(ns) * 2 + 512)
    rows: list[dict[str, Any]] = []
    for n in ns:
        runs: dict[str, list[dict[str, float]]] = {c: [] for c in IDLE_CLIENTS}
        with server(procs=args.idle_server_procs) as srv:
            for rep in range(repeats):
                for client in args.idle_clients or IDLE_CLIENTS:
                    if not _available(client):
                        continue
                    cpu0, t0 = srv.cpu_seconds(), time.monotonic()
                    try:
                        result = run_child(
                            ChildRun(
                                client,
                                srv.url,
                                n,
                                hold,
                                args.idle_interval,
                                args.idle_timeout,
                                args.seed + rep,
                                args.idle_in_flight,
                            )
                        )
                    except (RuntimeError, ValueError, subprocess.TimeoutExpired) as exc:
                        # One failed run (e.g. connects over budget) must not lose the rest.
                        _report.progress(f"idle N={n} rep {rep + 1} {client}: FAILED {exc!r}")
                        continue
                    result["server_cpu_pct"] = (
                        100.0 * (srv.cpu_seconds() - cpu0) / (time.monotonic() - t0)
                    )
                    runs[client].append(result)
                    _report.progress(f"idle N={n} rep {rep + 1}/{repeats} {client}: {result}")
        for client in args.idle_clients or IDLE_CLIENTS:
            rows.append(
                {
                    "scenario": SCENARIO,
                    "client": client,
                    "params": {
                        "n": n,
                        "hold": hold,
                        "interval": args.idle_interval,
                        "timeout": args.idle_timeout,
                        "repeats": repeats,
                        "in_flight": args.idle_in_flight,
                    },
                    "runs": runs[client],
                    "median": {k: median([r[k] for r in runs[client]]) for k in runs[client][0]}
                    if runs[client]
                    else None,
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run this scenario alone (or, with ``--child``, one measurement in this process)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        _child(argv[1:])
        return 0
    return _report.scenario_main(__doc__, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
