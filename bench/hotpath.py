"""The hot path, both directions, against the floor: raw trio TCP carrying the same bytes.

Workloads on one connection each, the server a separate ``websockets`` process
(``bench/_server.py``):

- ``recv-100B`` / ``recv-64KiB``: the server writes N pre-encoded binary frames, the
  client receives N messages (raw trio TCP: reads the same byte count, no parsing);
- ``send-100B`` / ``send-64KiB``: the client sends N binary messages, the server counts
  them and answers "done" (raw trio TCP: ``send_all`` of a pre-masked frame per message).

Clients: ``trio_heartbeat`` with ``Transport.DIRECT`` (wsproto) and with
``Transport.WEBSOCKETS``, and ``raw-trio-tcp``. Each figure is the median over
``--repeats`` (clients interleaved in every repeat); ``cpu_us`` is the client process's
CPU per message. The targets of issue 9 are printed with PASS / FAIL: 100 B both ways
>= 0.8x raw trio TCP msg/s, 64 KiB both ways >= 0.7x raw trio TCP MB/s.

Run: ``python -m bench.hotpath [--quick] [--repeats R]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import trio

from bench._common import HOST, append_results, median, new_run_id, quiet_logs, server

#: name: (direction, size, count, count with --quick)
WORKLOADS = {
    "recv-100B": ("recv", 100, 200_000, 40_000),
    "recv-64KiB": ("recv", 65536, 1024, 256),
    "send-100B": ("send", 100, 100_000, 20_000),
    "send-64KiB": ("send", 65536, 1024, 256),
}
CLIENTS = ("trio_heartbeat[direct]", "trio_heartbeat[websockets]", "raw-trio-tcp")
FLOOR = "raw-trio-tcp"
TARGETS = {"recv-100B": 0.8, "send-100B": 0.8, "recv-64KiB": 0.7, "send-64KiB": 0.7}
#: Seconds any one measurement may take before it is abandoned.
BUDGET = 120.0

Measure = Callable[[str, str, int, int], float]


def _managed(transport_name: str) -> Measure:
    """A trio_heartbeat client on engine ``transport_name``: seconds for the workload."""

    def run(url: str, direction: str, size: int, count: int) -> float:
        import trio_heartbeat as th

        options = th.ConnectionOptions(
            transport=th.Transport[transport_name], max_message_size=1 << 20
        )
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


def _masked_frame(size: int) -> bytes:
    key = os.urandom(4)
    if size < 126:
        header = bytes([0x82, 0x80 | size])
    elif size < 65536:
        header = bytes([0x82, 0x80 | 126]) + size.to_bytes(2, "big")
    else:
        header = bytes([0x82, 0x80 | 127]) + size.to_bytes(8, "big")
    payload = bytes(b ^ key[i & 3] for i, b in enumerate(b"x" * size))
    return header + key + payload


def raw_trio_tcp(url: str, direction: str, size: int, count: int) -> float:
    """The floor: trio TCP moving the same bytes (frames pre-built, no parsing)."""
    port = int(url.rsplit(":", 1)[1].strip("/"))
    path = f"/source/{size}/{count}" if direction == "recv" else f"/sink/{count}"
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    header = 2 if size < 126 else (4 if size < 65536 else 10)
    frame = _masked_frame(size)

    async def main() -> float:
        with trio.fail_after(BUDGET):
            stream = await trio.open_tcp_stream(HOST, port)
            async with stream:
                await stream.send_all(request)
                head = b""
                while b"\r\n\r\n" not in head:
                    head += await stream.receive_some(65536)
                got = len(head.split(b"\r\n\r\n", 1)[1])
                start = time.perf_counter()
                if direction == "recv":
                    expected = (header + size) * count
                    while got < expected:
                        got += len(await stream.receive_some(65536))
                else:
                    for _ in range(count):
                        await stream.send_all(frame)
                    answer = b""
                    while b"done" not in answer:
                        answer += await stream.receive_some(65536)
                return time.perf_counter() - start

    return trio.run(main)


MEASURES: dict[str, Measure] = {
    "trio_heartbeat[direct]": _managed("DIRECT"),
    "trio_heartbeat[websockets]": _managed("WEBSOCKETS"),
    "raw-trio-tcp": raw_trio_tcp,
}


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """One row per (workload, client) with the medians over the repeats."""
    quiet_logs()
    repeats = args.repeats or (3 if args.quick else 5)
    rows: list[dict[str, Any]] = []
    with server() as srv:
        for workload, (direction, size, full, quick) in WORKLOADS.items():
            count = quick if args.quick else full
            samples: dict[str, list[dict[str, float]]] = {c: [] for c in CLIENTS}
            for rep in range(repeats):
                for client in CLIENTS:
                    measure = MEASURES[client]
                    if rep == 0:
                        measure(srv.url, direction, size, max(1, count // 20))  # warm-up
                    cpu0 = time.process_time()
                    elapsed = measure(srv.url, direction, size, count)
                    cpu = time.process_time() - cpu0
                    samples[client].append(
                        {
                            "msgs_per_s": count / elapsed,
                            "MB_per_s": size * count / elapsed / 1e6,
                            "cpu_us": cpu / count * 1e6,
                        }
                    )
                    print(
                        f"{workload} rep {rep + 1} {client}: {samples[client][-1]}", file=sys.stderr
                    )
            for client in CLIENTS:
                keys = samples[client][0]
                rows.append(
                    {
                        "scenario": f"hotpath-{workload}",
                        "client": client,
                        "params": {"size": size, "count": count, "repeats": repeats},
                        "runs": samples[client],
                        "median": {k: median([r[k] for r in samples[client]]) for k in keys},
                    }
                )
    return rows


def format_report(rows: list[dict[str, Any]]) -> str:
    """The table (medians, ratio to raw trio TCP) and the targets with PASS / FAIL."""
    lines = [f"{'workload':<12}{'client':<28}{'msg/s':>10}{'MB/s':>9}{'CPU µs':>9}{'x floor':>9}"]
    verdicts = []
    for workload in WORKLOADS:
        group = {r["client"]: r["median"] for r in rows if r["scenario"] == f"hotpath-{workload}"}
        floor = group[FLOOR]["msgs_per_s"]
        for client, m in group.items():
            ratio = m["msgs_per_s"] / floor
            lines.append(
                f"{workload:<12}{client:<28}{m['msgs_per_s']:>10,.0f}{m['MB_per_s']:>9.1f}"
                f"{m['cpu_us']:>9.1f}{ratio:>8.2f}x"
            )
            if client != FLOOR:
                target = TARGETS[workload]
                status = "PASS" if ratio >= target else "FAIL"
                verdicts.append(
                    f"{status}  {workload} {client}: {ratio:.2f}x >= {target}x raw trio TCP"
                )
    return "\n".join([*lines, "", "targets (issue 9):", *verdicts])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hotpath", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller counts, 3 repeats")
    parser.add_argument("--repeats", type=int, default=None, help="repeats (default 5)")
    args = parser.parse_args(argv)
    rows = run(args)
    print(format_report(rows))
    append_results(rows, run_id=new_run_id())
    print("\ncommand: python -m bench.hotpath " + " ".join(sys.argv[1:] if argv is None else argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
