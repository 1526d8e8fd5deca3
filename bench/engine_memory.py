"""Memory each engine holds per open, idle link (``python -m bench.engine_memory``).

N links are opened over in-memory streams to a byte-level server that accepts the upgrade
(with permessage-deflate when offered), one message goes each way, then
``tracemalloc`` counts the bytes still allocated from within the engines (our
``_transport`` modules with the DIRECT frame codec, wsproto and h11 for the handshake,
websockets, zlib through them) per link. The streams
and the server side are not counted. Deterministic: no sockets, no timing.
"""

from __future__ import annotations

import argparse
import sys
import tracemalloc
from typing import Any

import trio
import trio.testing

import trio_heartbeat as th
from trio_heartbeat._transport.common import ObservedStream, parse_url
from trio_heartbeat._transport.direct import direct_handshake
from trio_heartbeat._transport.websockets_engine import websockets_handshake

ENGINE_FILES = ("*/trio_heartbeat/_transport/*", "*/websockets/*", "*/wsproto/*", "*/h11/*")
WS = th.Transport.WEBSOCKETS
VARIANTS: dict[str, th.ConnectionOptions] = {
    "frames codec (DIRECT)": th.ConnectionOptions(),
    "websockets": th.ConnectionOptions(transport=WS),
    "websockets + deflate (defaults)": th.ConnectionOptions(
        transport=WS, compression=th.PerMessageDeflate()
    ),
    "websockets + deflate (12 bits, mem 4)": th.ConnectionOptions(
        transport=WS,
        compression=th.PerMessageDeflate(
            client_max_window_bits=12, server_max_window_bits=12, mem_level=4
        ),
    ),
    "websockets + deflate (no context takeover)": th.ConnectionOptions(
        transport=WS,
        compression=th.PerMessageDeflate(
            client_no_context_takeover=True, server_no_context_takeover=True
        ),
    ),
}


async def _serve(stream: trio.abc.Stream) -> None:
    from tests.engine.rawserver import RawServer, deflated, frame

    server = RawServer(stream)
    await server.read_request()
    offer = server.header("Sec-WebSocket-Extensions")
    if offer:
        params = [p for p in offer.split("; ")[1:] if "=" in p or "takeover" in p]
        answer = "; ".join(["permessage-deflate", *params])
        await server.accept(f"Sec-WebSocket-Extensions: {answer}")
        await server.send(frame(0x1, deflated(b"hello " * 20), rsv1=True))
    else:
        await server.accept()
        await server.send(frame(0x1, b"hello " * 20))
    await trio.sleep_forever()


async def per_link(options: th.ConnectionOptions, count: int) -> float:
    """Bytes held by the engine per idle link, after one message each way."""
    target = parse_url("ws://bench.test/")
    links: list[Any] = []
    async with trio.open_nursery() as nursery:
        tracemalloc.start(25)
        before = tracemalloc.take_snapshot()
        for _ in range(count):
            client, server = trio.testing.memory_stream_pair()
            nursery.start_soon(_serve, server)
            stream = ObservedStream(client)
            if options.transport is WS:
                link: Any = await websockets_handshake(stream, target, options)
            else:
                link = await direct_handshake(stream, target, options)
            await link.send("hello " * 20)
            assert await link.receive() == "hello " * 20
            links.append(link)
        await trio.testing.wait_all_tasks_blocked()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        nursery.cancel_scope.cancel()
    filters = [tracemalloc.Filter(True, p, all_frames=True) for p in ENGINE_FILES]
    grown = sum(
        stat.size_diff
        for stat in after.filter_traces(filters).compare_to(
            before.filter_traces(filters), "filename"
        )
    )
    return grown / count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.engine_memory", description=__doc__)
    parser.add_argument("--links", type=int, default=200, help="links per variant")
    args = parser.parse_args(argv)
    print(f"{'engine':<44}{'KiB per idle link':>18}")
    for name, options in VARIANTS.items():
        kib = trio.run(per_link, options, args.links) / 1024
        print(f"{name:<44}{kib:>18.1f}")
    print(
        f"\n{args.links} links each; command: python -m bench.engine_memory "
        + " ".join(sys.argv[1:] if argv is None else argv)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
