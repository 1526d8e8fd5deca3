"""The hot path, both directions, against a fair floor: raw trio TCP doing a message API's work.

Workloads on one connection each, the server a separate ``websockets`` process
(``bench/_server.py``), 100 B and 64 KiB binary messages:

- ``recv-100B`` / ``recv-64KiB``: the server writes N pre-encoded frames (almost free for
  it), the client receives N messages;
- ``send-100B`` / ``send-64KiB``: the client sends N messages, the server counts them and
  answers "done" (its parse cost is in ``server_cpu_pct``: near 100 % means it, not the
  client, was the limit).

Clients, interleaved in every repeat:

- ``trio_heartbeat[<engine>]`` for each engine of ``Transport`` (but ``TRIO_WEBSOCKET``); the
  default engine is marked ``*``. ``ws.receive()`` / ``ws.send(payload)`` in a loop;
- ``raw-trio-tcp``, **the floor** (:mod:`bench._floor`). Receive: ``receive_some(65536)``
  into a buffer, split the same frame boundaries (RFC 6455 header, 2/4/10 bytes), return each
  payload as its own ``bytes`` from a ``receive()`` that is a checkpoint (the read, or
  ``trio.lowlevel.checkpoint()`` when the frame was already buffered), as any trio receive()
  must. Send: per message a fresh 4-byte mask key (``os.urandom``), a ``struct`` header,
  websockets' C mask and one ``send_all``;
- ``raw-trio-tcp[bare]``, printed so nothing is hidden, never a target. Receive: the same
  reads and the same split in one loop, no per-message call or checkpoint (``split_only``).
  Send: ``send_all`` of one frame masked once before timing (no key, no mask per message).

Each figure is the median over ``--repeats``; ``cpu_us`` is the client process's CPU per
message (``time.process_time``). Issue 9's targets, PASS / FAIL for every engine against
``raw-trio-tcp``: 100 B both ways >= 0.8x msg/s, 64 KiB both ways >= 0.7x MB/s.

Run: ``python -m bench.hotpath [--quick] [--repeats R]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

import trio

from bench import _report
from bench._common import HOST, median, quiet_logs, server
from bench._floor import FrameReader, masked_frame, split_only

SCENARIO = "hotpath"
#: name: (direction, size, count, count with --quick)
WORKLOADS = {
    "recv-100B": ("recv", 100, 200_000, 40_000),
    "recv-64KiB": ("recv", 65536, 2048, 512),
    "send-100B": ("send", 100, 100_000, 20_000),
    "send-64KiB": ("send", 65536, 2048, 512),
}
FLOOR = "raw-trio-tcp"
BARE = "raw-trio-tcp[bare]"
#: workload: (minimum ratio to the floor, metric)
TARGETS = {
    "recv-100B": (0.8, "msgs_per_s"),
    "send-100B": (0.8, "msgs_per_s"),
    "recv-64KiB": (0.7, "MB_per_s"),
    "send-64KiB": (0.7, "MB_per_s"),
}
#: Seconds any one measurement may take before it is abandoned.
BUDGET = 120.0

Measure = Callable[[str, str, int, int], float]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of this scenario (shared with ``python -m bench``)."""
    parser.add_argument(
        "--hotpath-scale", type=float, default=1.0, help="scale every message count"
    )


def engines() -> dict[str, bool]:
    """``trio_heartbeat[<engine>]`` name -> whether it is the default, for each engine."""
    import trio_heartbeat as th

    default = th.ConnectionOptions().transport
    return {
        f"trio_heartbeat[{t.value}]": t is default
        for t in th.Transport
        if t is not th.Transport.TRIO_WEBSOCKET
    }


def _managed(engine: str) -> Measure:
    """A trio_heartbeat client on engine ``engine``: seconds for the workload."""

    def run(url: str, direction: str, size: int, count: int) -> float:
        import trio_heartbeat as th

        options = th.ConnectionOptions(transport=th.Transport(engine), max_message_size=1 << 20)
        path = f"/source/{size}/{count}" if direction == "recv" else f"/sink/{count}"
        payload = b"x" * size

        async def main() -> float:
            with trio.fail_after(BUDGET):
                async with th.open_managed_websocket(
                    url.rstrip("/") + path,
                    heartbeat=th.Heartbeat.ping(interval=1.0, reply_timeout=5.0),
                    options=options,
                ) as ws:
                    await ws.wait_connected()
                    start = time.perf_counter()
                    if direction == "recv":
                        for _ in range(count):
                            await ws.receive()
                    else:
                        for _ in range(count):
                            await ws.send(payload)
                        assert await ws.receive() == "done"
                    return time.perf_counter() - start

        return trio.run(main)

    return run


async def _upgrade(port: int, path: str) -> tuple[trio.SocketStream, bytes]:
    """A TCP stream past the HTTP upgrade, and the bytes read after the response head."""
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    stream = await trio.open_tcp_stream(HOST, port)
    await stream.send_all(request)
    head = b""
    while b"\r\n\r\n" not in head:
        head += await stream.receive_some(65536)
    return stream, head.split(b"\r\n\r\n", 1)[1]


def _raw(bare: bool) -> Measure:
    """The floor (``bare=False``) or the bare number (``bare=True``); see the docstring."""

    def run(url: str, direction: str, size: int, count: int) -> float:
        port = int(url.rsplit(":", 1)[1].strip("/"))
        path = f"/source/{size}/{count}" if direction == "recv" else f"/sink/{count}"
        payload = b"x" * size
        premasked = masked_frame(payload)

        async def main() -> float:
            with trio.fail_after(BUDGET):
                stream, rest = await _upgrade(port, path)
                async with stream:
                    start = time.perf_counter()
                    if direction == "recv" and bare:
                        await split_only(stream, rest, count)
                    elif direction == "recv":
                        reader = FrameReader(stream, rest)
                        for _ in range(count):
                            await reader.receive()
                    else:
                        for _ in range(count):
                            await stream.send_all(premasked if bare else masked_frame(payload))
                        answer = rest
                        while b"done" not in answer:
                            answer += await stream.receive_some(65536)
                    return time.perf_counter() - start

        return trio.run(main)

    return run


def _measures() -> dict[str, Measure]:
    measures = {name: _managed(name.split("[")[1].rstrip("]")) for name in engines()}
    measures[FLOOR] = _raw(bare=False)
    measures[BARE] = _raw(bare=True)
    return measures


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """One row per (workload, client) with the medians over the repeats."""
    quiet_logs()
    repeats = args.repeats or (3 if args.quick else 5)
    scale = getattr(args, "hotpath_scale", 1.0)
    measures = _measures()
    default = next((n for n, is_default in engines().items() if is_default), None)
    rows: list[dict[str, Any]] = []
    with server() as srv:
        for workload, (direction, size, full, quick) in WORKLOADS.items():
            count = max(1, int((quick if args.quick else full) * scale))
            samples: dict[str, list[dict[str, float]]] = {c: [] for c in measures}
            for rep in range(repeats):
                for client, measure in measures.items():
                    if rep == 0:
                        measure(srv.url, direction, size, max(1, count // 20))  # warm-up
                    cpu0, server0 = time.process_time(), srv.cpu_seconds()
                    elapsed = measure(srv.url, direction, size, count)
                    cpu = time.process_time() - cpu0
                    samples[client].append(
                        {
                            "msgs_per_s": count / elapsed,
                            "MB_per_s": size * count / elapsed / 1e6,
                            "cpu_us": cpu / count * 1e6,
                            "server_cpu_pct": 100.0 * (srv.cpu_seconds() - server0) / elapsed,
                        }
                    )
                    _report.progress(f"{workload} rep {rep + 1} {client}: {samples[client][-1]}")
            for client in measures:
                runs = samples[client]
                rows.append(
                    {
                        "scenario": f"{SCENARIO}-{workload}",
                        "client": client,
                        "params": {"size": size, "count": count, "repeats": repeats},
                        "default_engine": client == default,
                        "runs": runs,
                        "median": {k: median([r[k] for r in runs]) for k in runs[0]},
                    }
                )
    return rows


def verdicts(rows: list[dict[str, Any]]) -> list[_report.Verdict]:
    """One verdict per workload and engine, against ``raw-trio-tcp`` (never the bare number)."""
    out: list[_report.Verdict] = []
    for workload, (target, metric) in TARGETS.items():
        group = {
            r["client"]: r
            for r in rows
            if r["scenario"] == f"{SCENARIO}-{workload}" and r["median"]
        }
        floor = group.get(FLOOR)
        for client, row in group.items():
            if not client.startswith("trio_heartbeat"):
                continue
            mark = " (default)" if row.get("default_engine") else ""
            name = f"{workload} {client}{mark} >= {target}x raw trio TCP ({metric})"
            if floor is None:
                out.append(_report.Verdict(name, "n/a", "floor not measured"))
                continue
            ratio = row["median"][metric] / floor["median"][metric]
            status = "PASS" if ratio >= target else "FAIL"
            out.append(_report.Verdict(name, status, f"{ratio:.2f}x", ratio / target))
    return out


def format_report(rows: list[dict[str, Any]]) -> str:
    """The table (medians, ratio to the floor) and the targets with PASS / FAIL."""
    header = (
        f"{'workload':<12}{'client':<30}{'msg/s':>11}{'MB/s':>9}{'CPU µs':>9}"
        f"{'srv CPU%':>10}{'x floor':>9}"
    )
    lines = [header]
    for workload, (_, metric) in TARGETS.items():
        group = [r for r in rows if r["scenario"] == f"{SCENARIO}-{workload}" and r["median"]]
        floor = next((r["median"][metric] for r in group if r["client"] == FLOOR), None)
        for row in group:
            m = row["median"]
            name = row["client"] + (" *" if row.get("default_engine") else "")
            ratio = f"{m[metric] / floor:>8.2f}x" if floor else f"{'n/a':>9}"
            lines.append(
                f"{workload:<12}{name:<30}{m['msgs_per_s']:>11,.0f}{m['MB_per_s']:>9.1f}"
                f"{m['cpu_us']:>9.1f}{m['server_cpu_pct']:>10.0f}{ratio}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run this scenario alone: table, targets, JSON lines."""
    from bench._common import append_results, new_run_id

    parser = argparse.ArgumentParser(prog="python -m bench.hotpath", description=__doc__)
    _report.add_common_arguments(parser)
    add_arguments(parser)
    args = parser.parse_args(argv)
    started = time.monotonic()
    rows = run(args)
    print(format_report(rows))
    targets = verdicts(rows)
    print(_report.format_targets(targets))
    append_results(rows, run_id=new_run_id())
    print(
        f"\ntotal {time.monotonic() - started:.0f} s; command: python -m bench.hotpath "
        + " ".join(sys.argv[1:] if argv is None else argv)
    )
    failed = any(v.status == "FAIL" for v in targets)
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    sys.exit(main())
