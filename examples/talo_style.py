"""Talo-style text heartbeat: the client sends ``v1.heartbeat``, the server echoes it.

The client sends the text message ``v1.heartbeat`` every ``INTERVAL`` seconds while it
is open; the server echoes it at once. trio_heartbeat swallows the echoes (the
application never sees them) and measures the round-trip time from them. The server
also pings (RFC 6455) and would drop a client that stopped answering.

    python examples/talo_style.py                  # own server on 127.0.0.1, port 0
    python examples/talo_style.py --url ws://host:port/path

Exit status: 0 when heartbeats went out, were all echoed, and no echo reached the
application; 1 otherwise; 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse

import trio
from _common import run, say

import trio_heartbeat as th
from trio_heartbeat.server import ServerClient, ServerHeartbeat, open_heartbeat_server

HEARTBEAT = "v1.heartbeat"
INTERVAL = 0.5  # Talo: 25 s
RUN_TIME = 3.0


async def talo_server(client: ServerClient) -> None:
    """Echo ``v1.heartbeat`` at once; answer any other message with ``ack:<message>``."""
    echoed = 0
    async for message in client:
        if message == HEARTBEAT:
            await client.send(HEARTBEAT)
            echoed += 1
            say("server", f"echoed {HEARTBEAT} #{echoed}")
        else:
            await client.send(f"ack:{message!s}")


async def run_client(url: str, own_server: bool) -> bool:
    """Run the client for ``RUN_TIME`` seconds; True if the pattern was shown."""
    received: list[str | bytes] = []
    heartbeat = th.Heartbeat.talo(interval=INTERVAL, reply_timeout=1.0)
    async with th.open_managed_websocket(url, heartbeat=heartbeat) as ws:
        with trio.fail_after(5):
            await ws.wait_connected()
        say("client", f"connected to {url}")

        async def read() -> None:
            async for message in ws:
                received.append(message)
                say("client", f"application received {message!r}")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read)
            answered = 0
            for tick in range(int(RUN_TIME / 0.1)):  # bounded: RUN_TIME seconds
                await trio.sleep(0.1)
                if tick == 12:
                    say("client", "sends 'hello' (an application message)")
                    await ws.send("hello")
                stats = ws.statistics()
                if stats.heartbeats_answered > answered:
                    answered = stats.heartbeats_answered
                    rtt = (stats.rtt_last or 0.0) * 1000
                    say("client", f"heartbeat #{answered} echoed (swallowed), rtt {rtt:.2f} ms")
            nursery.cancel_scope.cancel()
        stats = ws.statistics()
    swallowed = HEARTBEAT not in received
    print(
        f"summary: heartbeats sent={stats.heartbeats_sent} answered={stats.heartbeats_answered} "
        f"missed={stats.heartbeats_missed}; app messages={received!r}; "
        f"echoes swallowed: {'yes' if swallowed else 'NO'}"
    )
    ok = stats.heartbeats_sent >= 4 and stats.heartbeats_missed == 0 and swallowed
    ok = ok and stats.heartbeats_answered >= stats.heartbeats_sent - 1  # last may be in flight
    return ok and (not own_server or "ack:hello" in received)


async def main(url: str | None) -> bool:
    if url is not None:
        return await run_client(url, own_server=False)
    heartbeat = ServerHeartbeat.ping(1.0)  # Talo: ping every 30 s, drop without a pong
    async with open_heartbeat_server(talo_server, "127.0.0.1", 0, heartbeat=heartbeat) as server:
        say("server", f"listening on 127.0.0.1:{server.port}")
        ok = await run_client(f"ws://127.0.0.1:{server.port}/", own_server=True)
        say("server", f"statistics: terminated={server.statistics().terminated}")
        return ok and server.statistics().terminated == 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="an external server that echoes v1.heartbeat")
    url: str | None = parser.parse_args().url
    run(lambda: main(url))
