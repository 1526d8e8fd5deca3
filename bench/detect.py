"""Scenario 4: time to detect a black-holed link, against the configured bound.

Each trial connects through its own :mod:`bench._proxy` to the echo server, waits
``2 * interval + phase`` (``phase`` uniform in [0, interval), drawn from ``--seed``; the same
phases for every client), black-holes the proxy and measures, in trio time, how long the
client takes to notice. The worst case by design is ``interval + timeout`` (the bound): the
link dies just after a pong, the next ping goes out ``interval`` later and times out
``timeout`` after that. The trials of one client run concurrently (20 idle connections
do not load the machine), the clients one after another.

What "noticed" means per client:

- trio_heartbeat: ``statistics().heartbeats_missed`` grows or ``state`` leaves
  ``connected`` (polled every 1 ms), or ``receive()`` raises;
- websockets.trio: its keepalive fails the connection (``protocol.state`` leaves OPEN,
  polled every 1 ms). ``visible_*`` columns give when ``recv()`` raises, which also waits
  for ``close_timeout`` because the closing handshake cannot complete through a black hole;
- raw trio-websocket + naive loop: the bounded ``ws.ping()`` times out.

At scale (``--detect-background N``, issue 9: 5,000): the same trials for trio_heartbeat
only, while N more managed connections to the server heartbeat in the same process (same
``interval`` / ``timeout``, one shared ``HeartbeatClock`` for all, the trials' connections
included, as a user at scale would run them; opened ``BACKGROUND_CONCURRENCY`` at a time).
The row (client ``trio_heartbeat @N``) adds ``background_open_s`` (the time to open
them), ``background_up`` (connections up when the
trials began), ``background_answered_pct`` (heartbeats answered during the trials, % of
N * T / interval), ``background_missed`` and ``cpu_pct`` (the process, % of one core).

Run alone: ``python -m bench.detect [--detect-trials 20] [--seed S] [--detect-background 5000]``.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import random
import sys
import time
from typing import Any

import trio

from bench import _report
from bench._common import (
    has_websockets_trio,
    load_managed,
    percentile,
    quiet_logs,
    raise_fd_limit,
    server,
)
from bench._proxy import BlackholeProxy, open_blackhole_proxy

SCENARIO = "detect"
DETECT_CLIENTS = ("trio_heartbeat", "raw-trio-websocket", "websockets.trio")
POLL_INTERVAL = 0.001
#: websockets' default close_timeout; a trial waits at most bound + this + 5 s.
WEBSOCKETS_CLOSE_TIMEOUT = 10.0
#: Handshakes in flight while the background connections open, and their time budget.
BACKGROUND_CONCURRENCY = 100
BACKGROUND_BUDGET = 120.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of this scenario (shared with ``python -m bench``)."""
    parser.add_argument("--detect-trials", type=int, default=20)
    parser.add_argument("--detect-interval", type=float, default=1.0)
    parser.add_argument("--detect-timeout", type=float, default=1.0)
    parser.add_argument(
        "--detect-background",
        type=int,
        default=0,
        help="also heartbeat this many more connections in the process (trio_heartbeat only)",
    )


async def _trial(
    client: str,
    server_port: int,
    interval: float,
    hb_timeout: float,
    phase: float,
    cap: float,
    out: list[float],
    clock: Any = None,
) -> None:
    """One trial; sets ``out`` to [seconds to detect, seconds until the app sees an error].

    NaN means never (within ``cap``). The whole trial, connection close included, is
    bounded by ``2 * interval + phase + cap + 5`` seconds.
    """
    with trio.move_on_after(2 * interval + phase + cap + 5.0):
        async with open_blackhole_proxy(server_port) as proxy:
            url = f"ws://127.0.0.1:{proxy.port}/"
            if client.startswith("trio_heartbeat"):
                await _trial_managed(url, proxy, interval, hb_timeout, phase, cap, out, clock)
            elif client == "websockets.trio":
                await _trial_websockets(url, proxy, interval, hb_timeout, phase, cap, out)
            else:
                await _trial_raw(url, proxy, interval, hb_timeout, phase, cap, out)


async def _trial_managed(
    url: str,
    proxy: BlackholeProxy,
    interval: float,
    hb_timeout: float,
    phase: float,
    cap: float,
    out: list[float],
    clock: Any = None,
) -> None:
    th = load_managed()
    assert th is not None
    detected = math.nan
    visible = math.nan
    async with th.open_managed_websocket(
        url,
        heartbeat=th.Heartbeat.ping(interval=interval, reply_timeout=hb_timeout),
        reconnect=th.ReconnectPolicy(wait_initial=0.1, wait_max=2.0),
        heartbeat_clock=clock,
    ) as ws:
        await ws.wait_connected()
        await trio.sleep(2 * interval + phase)
        missed0 = ws.statistics().heartbeats_missed
        proxy.blackhole()
        t0 = trio.current_time()

        async def watch_receive() -> None:
            nonlocal visible
            try:
                await ws.receive()
            except Exception:
                visible = trio.current_time() - t0

        with trio.move_on_after(cap):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(watch_receive)
                while (  # noqa: ASYNC110 (polling: no event to wait on)
                    ws.statistics().heartbeats_missed == missed0
                    and ws.state == "connected"
                    and math.isnan(visible)
                ):
                    await trio.sleep(POLL_INTERVAL)
                detected = trio.current_time() - t0
                nursery.cancel_scope.cancel()
        if math.isnan(detected) or (not math.isnan(visible) and visible < detected):
            detected = visible
        out[:] = [detected, visible]


async def _trial_websockets(
    url: str,
    proxy: BlackholeProxy,
    interval: float,
    hb_timeout: float,
    phase: float,
    cap: float,
    out: list[float],
) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.protocol import State
    from websockets.trio.client import connect

    detected = math.nan
    visible = math.nan
    async with connect(
        url,
        ping_interval=interval,
        ping_timeout=hb_timeout,
        compression=None,
        close_timeout=WEBSOCKETS_CLOSE_TIMEOUT,
    ) as ws:
        await trio.sleep(2 * interval + phase)
        proxy.blackhole()
        t0 = trio.current_time()

        async def watch_recv() -> None:
            nonlocal visible
            try:
                await ws.recv()
            except ConnectionClosed:
                visible = trio.current_time() - t0

        with trio.move_on_after(cap):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(watch_recv)
                while ws.protocol.state is State.OPEN:  # noqa: ASYNC110 (polling: no event to wait on)
                    await trio.sleep(POLL_INTERVAL)
                detected = trio.current_time() - t0
                out[:] = [detected, visible]
                while math.isnan(visible):  # noqa: ASYNC110 (polling: no event to wait on)
                    await trio.sleep(POLL_INTERVAL)
        out[:] = [detected, visible]


async def _trial_raw(
    url: str,
    proxy: BlackholeProxy,
    interval: float,
    hb_timeout: float,
    phase: float,
    cap: float,
    out: list[float],
) -> None:
    from trio_websocket import DisconnectionTimeout, open_websocket_url

    detected = math.nan
    # A dead peer calls for an abort: skip most of trio-websocket's 60 s polite close.
    with contextlib.suppress(DisconnectionTimeout):
        async with open_websocket_url(url, disconnect_timeout=0.5) as ws:
            start = trio.current_time()
            t0 = math.inf
            seq = 0
            with trio.move_on_after(2 * interval + phase + cap):
                async with trio.open_nursery() as nursery:

                    async def cut() -> None:
                        nonlocal t0
                        await trio.sleep(2 * interval + phase)
                        proxy.blackhole()
                        t0 = trio.current_time()

                    nursery.start_soon(cut)
                    next_at = start + interval
                    while True:
                        await trio.sleep_until(next_at)
                        next_at += interval
                        seq += 1
                        with trio.move_on_after(hb_timeout) as scope:
                            await ws.ping(seq.to_bytes(8, "big"))
                        if scope.cancelled_caught:
                            detected = trio.current_time() - t0
                            out[:] = [detected, detected]
                            nursery.cancel_scope.cancel()
                            break


def _available(client: str) -> bool:
    if client == "trio_heartbeat":
        return load_managed() is not None
    if client == "websockets.trio":
        return has_websockets_trio()
    return True


def _summary(results: list[list[float]], bound: float, timeout: float) -> dict[str, float]:
    """The row's figures from ``[detect_s, visible_s]`` per trial (NaN: never).

    ``early``: trials detected more than 50 ms before ``timeout`` after the cut, which a
    healthy link cannot do (the last ping before the cut would have been answered within
    milliseconds): a heartbeat was already late before the cut (an overloaded process).
    """
    detected = [d for d, _ in results if not math.isnan(d)]
    visible = [v for _, v in results if not math.isnan(v)]
    return {
        "bound_ms": bound * 1000,
        "min_ms": min(detected, default=math.nan) * 1000,
        "p50_ms": percentile(detected, 50) * 1000,
        "p99_ms": percentile(detected, 99) * 1000,
        "max_ms": max(detected, default=math.nan) * 1000,
        "undetected": float(len(results) - len(detected)),
        "early": float(sum(1 for d in detected if d < timeout - 0.05)),
        "visible_p50_ms": percentile(visible, 50) * 1000,
        "visible_max_ms": max(visible, default=math.nan) * 1000,
    }


async def _trials(
    client: str,
    port: int,
    interval: float,
    timeout: float,
    phases: list[float],
    cap: float,
    results: list[list[float]],
    clock: Any = None,
) -> None:
    """Every trial of ``client`` concurrently; errors are reported, what was measured kept."""

    async def one(i: int) -> None:
        try:
            await _trial(client, port, interval, timeout, phases[i], cap, results[i], clock)
        except Exception as exc:
            _report.progress(f"detect {client} trial {i}: error {exc!r}")

    async with trio.open_nursery() as nursery:
        for i in range(len(phases)):
            nursery.start_soon(one, i)


async def _at_scale(
    url: str,
    port: int,
    n: int,
    interval: float,
    timeout: float,
    phases: list[float],
    cap: float,
    results: list[list[float]],
) -> dict[str, float]:
    """The trials while ``n`` more managed connections heartbeat in this process."""
    th = load_managed()
    assert th is not None
    heartbeat = th.Heartbeat.ping(interval=interval, reply_timeout=timeout)
    limiter = trio.CapacityLimiter(BACKGROUND_CONCURRENCY)
    conns: list[Any] = []
    all_up = trio.Event()
    tried = [0]

    def totals() -> tuple[int, int]:
        stats = [ws.statistics() for ws in conns]
        return sum(s.heartbeats_answered for s in stats), sum(s.heartbeats_missed for s in stats)

    async with th.open_heartbeat_clock() as clock, trio.open_nursery() as nursery:

        async def background() -> None:
            try:
                async with contextlib.AsyncExitStack() as stack:
                    async with limiter:  # the block connects at once: enter it in the limiter
                        ws = await stack.enter_async_context(
                            th.open_managed_websocket(
                                url, heartbeat=heartbeat, heartbeat_clock=clock
                            )
                        )
                        await ws.wait_connected()
                    conns.append(ws)
                    tried[0] += 1
                    if tried[0] == n:
                        all_up.set()
                    await trio.sleep_forever()
            except Exception as exc:  # counted: background_up says how many made it
                tried[0] += 1
                if tried[0] == n:
                    all_up.set()
                _report.progress(f"detect background connection: {exc!r}")

        t_open = time.perf_counter()
        for _ in range(n):
            nursery.start_soon(background)
        with trio.move_on_after(BACKGROUND_BUDGET):
            await all_up.wait()
        open_s = time.perf_counter() - t_open
        await trio.sleep(interval + timeout)  # every heartbeat loop has started
        up = len(conns)
        (answered0, missed0), cpu0, t0 = totals(), time.process_time(), time.perf_counter()
        await _trials("trio_heartbeat", port, interval, timeout, phases, cap, results, clock)
        (answered1, missed1), cpu1, t1 = totals(), time.process_time(), time.perf_counter()
        nursery.cancel_scope.cancel()
    return {
        "background_up": float(up),
        "background_open_s": open_s,
        "background_answered_pct": 100.0 * (answered1 - answered0) * interval / (n * (t1 - t0)),
        "background_missed": float(missed1 - missed0),
        "cpu_pct": 100.0 * (cpu1 - cpu0) / (t1 - t0),
    }


def run(args: argparse.Namespace, clients: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """Every client (or ``clients``), ``--detect-trials`` concurrent trials each; one row each.

    With ``--detect-background N``: trio_heartbeat alone, beside N heartbeating connections.
    """
    quiet_logs()
    interval, timeout = args.detect_interval, args.detect_timeout
    bound = interval + timeout
    cap = bound + WEBSOCKETS_CLOSE_TIMEOUT + 5.0
    rng = random.Random(args.seed)
    phases = [rng.uniform(0.0, interval) for _ in range(args.detect_trials)]
    background = getattr(args, "detect_background", 0)
    clients = ("trio_heartbeat",) if background else (clients or DETECT_CLIENTS)
    params = {"trials": len(phases), "interval": interval, "timeout": timeout, "seed": args.seed}
    if background:
        raise_fd_limit(background * 2 + 4 * len(phases) + 512)
    rows: list[dict[str, Any]] = []
    with server() as srv:
        for client in clients:
            name = f"{client} @{background}" if background else client
            if not _available(client):
                rows.append({"scenario": SCENARIO, "client": name, "params": {}, "runs": []})
                rows[-1]["median"] = None
                continue
            results = [[math.nan, math.nan] for _ in phases]
            extra: dict[str, float] = {}
            if background:
                extra = trio.run(
                    _at_scale,
                    srv.url,
                    srv.port,
                    background,
                    interval,
                    timeout,
                    phases,
                    cap,
                    results,
                )
            else:
                trio.run(_trials, client, srv.port, interval, timeout, phases, cap, results)
            med = {**_summary(results, bound, timeout), **extra}
            _report.progress(f"detect {name}: {med}")
            rows.append(
                {
                    "scenario": SCENARIO,
                    "client": name,
                    "params": {**params, "background": background},
                    "runs": [
                        {"phase": p, "detect_s": d, "visible_s": v}
                        for p, (d, v) in zip(phases, results, strict=True)
                    ],
                    "median": med,
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run this scenario alone: table, targets, JSON lines."""
    return _report.scenario_main(__doc__, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
