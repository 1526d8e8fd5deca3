"""Micro-benchmark of the protocol engines: CPU µs per frame, no sockets.

For each engine candidate, how much CPU one frame costs on the client side:

- ``build``: turn one outgoing client message into masked wire bytes;
- ``parse``: turn the wire bytes of one incoming (unmasked) server frame into a message,
  one frame per ``receive_data`` call (the interactive case: one frame per read);
- ``ping/pong``: build one masked ping and parse the pong that answers it (a heartbeat).

Engines:

- ``wsproto``: wsproto's frame engine (trio-websocket's; ``Transport.DIRECT`` ran it
  before the ``frames`` codec), its ping built by ``direct.ping_frame``;
- ``websockets``: websockets' sans-I/O ``Protocol`` (the engine under ``websockets.trio``),
  which masks in C;
- ``frames``: our own codec (``trio_heartbeat._transport.frames``, under ``Transport.DIRECT``):
  struct headers, websockets' C mask, every RFC 6455 check, one slice per message;
- ``hand``: a hand-written frame builder / header parser (struct + websockets' C mask), the
  floor of any Python engine: no validation, no state, control frames only in a real engine.

Sizes 100 B and 64 KiB. Every figure is the median of ``--repeats`` runs (default 7) of
``--frames`` frames (scaled down for 64 KiB); all engines run interleaved in each repeat,
so compare columns of one run (the machine is shared). Run: ``python -m bench.engines``.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

from bench._common import median

Op = Callable[[], None]
SIZES = {"100B": 100, "64KiB": 65536}


def _server_frame(opcode: int, payload: bytes) -> bytes:
    """An unmasked server frame (what a client parses)."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + payload


def wsproto_ops(payload: bytes) -> dict[str, Op]:
    """build / parse / ping-pong with wsproto's frame engine (client side)."""
    from wsproto.connection import Connection, ConnectionType
    from wsproto.events import BytesMessage

    from trio_heartbeat._transport.direct import ping_frame

    conn = Connection(ConnectionType.CLIENT)
    wire = _server_frame(0x2, payload)
    pong = _server_frame(0xA, b"hb-000001")
    message = BytesMessage(data=payload)

    def build() -> None:
        conn.send(message)

    def parse() -> None:
        conn.receive_data(wire)
        for _ in conn.events():
            pass

    def ping_pong() -> None:
        ping_frame(b"hb-000001")
        conn.receive_data(pong)
        for _ in conn.events():
            pass

    return {"build": build, "parse": parse, "ping/pong": ping_pong}


def websockets_ops(payload: bytes) -> dict[str, Op]:
    """build / parse / ping-pong with websockets' sans-I/O Protocol (client side)."""
    import logging

    from websockets.protocol import OPEN, Protocol, Side

    proto = Protocol(Side.CLIENT, state=OPEN, max_size=None, logger=logging.getLogger("bench"))
    wire = _server_frame(0x2, payload)
    pong = _server_frame(0xA, b"hb-000001")

    def build() -> None:
        proto.send_binary(payload)
        proto.data_to_send()

    def parse() -> None:
        proto.receive_data(wire)
        proto.events_received()

    def ping_pong() -> None:
        proto.send_ping(b"hb-000001")
        proto.data_to_send()
        proto.receive_data(pong)
        proto.events_received()

    return {"build": build, "parse": parse, "ping/pong": ping_pong}


def frames_ops(payload: bytes) -> dict[str, Op]:
    """build / parse / ping-pong with our codec (what ``Transport.DIRECT`` runs)."""
    from trio_heartbeat._transport.frames import FrameReader, Opcode, control_frame, message_frame

    reader = FrameReader(1 << 30)
    wire = _server_frame(0x2, payload)
    pong = _server_frame(0xA, b"hb-000001")
    messages: list[str | bytes] = []
    controls: list[object] = []

    def build() -> None:
        message_frame(payload)

    def parse() -> None:
        reader.feed(wire, messages, controls)  # type: ignore[arg-type]
        messages.clear()

    def ping_pong() -> None:
        control_frame(Opcode.PING, b"hb-000001")
        reader.feed(pong, messages, controls)  # type: ignore[arg-type]
        controls.clear()

    return {"build": build, "parse": parse, "ping/pong": ping_pong}


def hand_ops(payload: bytes) -> dict[str, Op]:
    """The floor: struct header + C mask to build, header slicing to parse."""
    from websockets.speedups import apply_mask  # type: ignore[import-not-found, unused-ignore]

    wire = _server_frame(0x2, payload)
    pong = _server_frame(0xA, b"hb-000001")
    pack2, pack4, pack_q = (struct.Struct(f).pack for f in ("!BB", "!BBH", "!BBQ"))
    urandom = os.urandom

    def frame(opcode: int, data: bytes) -> bytes:
        n = len(data)
        key = urandom(4)
        if n < 126:
            head = pack2(0x80 | opcode, 0x80 | n)
        elif n < 65536:
            head = pack4(0x80 | opcode, 0xFE, n)
        else:
            head = pack_q(0x80 | opcode, 0xFF, n)
        return b"".join((head, key, apply_mask(data, key)))

    def read(data: bytes) -> tuple[int, bytes]:
        b0, b1 = data[0], data[1]
        n = b1 & 0x7F
        offset = 2
        if n == 126:
            (n,) = struct.unpack_from("!H", data, 2)
            offset = 4
        elif n == 127:
            (n,) = struct.unpack_from("!Q", data, 2)
            offset = 10
        return b0 & 0x0F, data[offset : offset + n]

    def build() -> None:
        frame(0x2, payload)

    def parse() -> None:
        read(wire)

    def ping_pong() -> None:
        frame(0x9, b"hb-000001")
        read(pong)

    return {"build": build, "parse": parse, "ping/pong": ping_pong}


ENGINES: dict[str, Callable[[bytes], dict[str, Op]]] = {
    "wsproto": wsproto_ops,
    "websockets": websockets_ops,
    "frames": frames_ops,
    "hand": hand_ops,
}


def _time_op(op: Op, count: int) -> float:
    """CPU µs per call of ``op`` over ``count`` calls."""
    start = time.process_time()
    for _ in range(count):
        op()
    return (time.process_time() - start) / count * 1e6


def measure(frames: int, repeats: int) -> list[dict[str, Any]]:
    """One row per (size, operation, engine) with the median µs per frame."""
    rows: list[dict[str, Any]] = []
    for size_name, size in SIZES.items():
        payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
        count = frames if size < 4096 else max(50, frames // 200)
        ops = {name: make(payload) for name, make in ENGINES.items()}
        for op_name in ("build", "parse", "ping/pong"):
            if op_name == "ping/pong" and size_name != "100B":
                continue  # a control frame has no size
            samples: dict[str, list[float]] = {name: [] for name in ENGINES}
            for name in ENGINES:
                _time_op(ops[name][op_name], max(1, count // 10))  # warm-up
            for _ in range(repeats):
                for name in ENGINES:
                    samples[name].append(_time_op(ops[name][op_name], count))
            for name in ENGINES:
                what = "ping/pong" if op_name == "ping/pong" else f"{size_name} {op_name}"
                rows.append({"what": what, "engine": name, "us": median(samples[name])})
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """Rows as a table: one line per operation, one column per engine (µs per frame)."""
    whats = list(dict.fromkeys(r["what"] for r in rows))
    head = f"{'CPU µs per frame (median)':<28}" + "".join(f"{e:>12}" for e in ENGINES)
    lines = [head, "-" * len(head)]
    for what in whats:
        cells = {r["engine"]: r["us"] for r in rows if r["what"] == what}
        lines.append(f"{what:<28}" + "".join(f"{cells[e]:>12.2f}" for e in ENGINES))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.engines", description=__doc__)
    parser.add_argument("--frames", type=int, default=20_000, help="frames per repeat (100 B)")
    parser.add_argument("--repeats", type=int, default=7, help="repeats; medians are shown")
    args = parser.parse_args(argv)
    rows = measure(args.frames, args.repeats)
    print(format_table(rows))
    print(
        f"\n{args.repeats} repeats x {args.frames} frames (64 KiB: {max(50, args.frames // 200)});"
        " command: python -m bench.engines " + " ".join(sys.argv[1:] if argv is None else argv)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
