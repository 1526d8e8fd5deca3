"""Binary 0x01 server heartbeat: the server sends 0x01, the client must answer 0x01.

Server side (``ServerHeartbeat.binary``): every ``INTERVAL`` s the server sends the
binary message 0x01 to every client and terminates the clients that did not answer
since the previous round. Client side (``Heartbeat.server_sent``): the managed client
answers each 0x01 with 0x01 (the application never sees either) and closes the link if
no 0x01 arrives within ``INTERVAL + GRACE`` s. Scaled down from the usual 5 s interval + 1 s grace.

Three acts: a managed client answers and stays; a deaf client (plain trio-websocket,
reads but never answers) is terminated; then the managed client meets a server that
stopped sending heartbeats and gives up after ``INTERVAL + GRACE`` s.

    python examples/binary_heartbeat.py [--url ws://host:port/path]

Exit status: 0 when all three happened (with --url: the client stayed connected for
3 s); 1 otherwise; 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse

import trio
from _common import run, say
from trio_websocket import ConnectionClosed, open_websocket_url

import trio_heartbeat as th
from trio_heartbeat.server import ServerClient, ServerHeartbeat, open_heartbeat_server

INTERVAL, GRACE = 0.5, 0.25  # the pattern's usual 5 s and 1 s, scaled down


async def quiet(client: ServerClient) -> None:
    """The server's handler: log the client, ignore its messages until it ends."""
    say("server", f"client {client.id} joined")
    async for _ in client:
        pass
    say("server", f"client {client.id} removed: {client.end_reason and client.end_reason.value}")


def managed() -> th.Heartbeat:
    """The client side of the pattern."""
    return th.Heartbeat.server_sent(
        b"\x01", interval=INTERVAL, silence_timeout=INTERVAL + GRACE, answer=b"\x01"
    )


async def stay(url: str, seconds: float) -> th.ManagedWebSocket:
    """A managed client that stays ``seconds`` s; returns it (closed) for its statistics."""
    async with th.open_managed_websocket(url, heartbeat=managed()) as ws:
        await ws.wait_connected()
        say("managed", f"connected to {url}; answers every 0x01 with 0x01")
        await trio.sleep(seconds)
    return ws


async def deaf(url: str) -> None:
    """A client that reads the heartbeats but never answers: the server must end it."""
    async with open_websocket_url(url) as ws:
        say("deaf", "connected; will read but never answer")
        try:
            while True:
                say("deaf", f"read {await ws.get_message()!r}, no answer")
        except ConnectionClosed as exc:
            code = exc.reason.code if exc.reason else None
            say("deaf", f"connection ended by the server (code {code})")


async def gives_up(url: str) -> bool:
    """Act 3: against a server that sends no 0x01, the client must give up in time."""
    policy = th.ReconnectPolicy.never()
    async with th.open_managed_websocket(url, heartbeat=managed(), reconnect=policy) as ws:
        await ws.wait_connected()
        start = trio.current_time()
        say("managed", f"connected to a server that stopped its heartbeat ({url})")
        try:
            await ws.receive()
        except th.ReconnectGaveUp as exc:
            waited = trio.current_time() - start
            say("managed", f"no 0x01 for {waited:.2f} s: closed: {exc.last_error!r}")
            dead = isinstance(exc.last_error, th.PeerUnresponsive)
            return dead and abs(waited - (INTERVAL + GRACE)) < 0.2
    return False


async def main(url: str | None) -> bool:
    if url is not None:
        ws = await stay(url, 3.0)
        return ws.statistics().connects == 1
    beating = ServerHeartbeat.binary(INTERVAL)
    async with open_heartbeat_server(quiet, "127.0.0.1", 0, heartbeat=beating) as server:
        server_url = f"ws://127.0.0.1:{server.port}/"
        say("server", f"listening on {server_url}, 0x01 every {INTERVAL} s")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(deaf, server_url)
            ws = await stay(server_url, 4 * INTERVAL)
        stats = server.statistics()
        say("server", f"0x01 sent {stats.heartbeats_sent}, answered {stats.heartbeat_answers}")
    acts = stats.terminated == 1 and ws.statistics().connects == 1 and stats.heartbeat_answers >= 3
    stopped = ServerHeartbeat.binary(60.0)  # a server whose heartbeat stopped
    async with open_heartbeat_server(quiet, "127.0.0.1", 0, heartbeat=stopped) as server:
        gave_up = await gives_up(f"ws://127.0.0.1:{server.port}/")
    print(
        f"summary: deaf client terminated={stats.terminated == 1}, managed client kept "
        f"its link={ws.statistics().connects == 1}, gave up on a silent server={gave_up}"
    )
    return acts and gave_up


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="an external server that sends binary 0x01 heartbeats")
    url: str | None = parser.parse_args().url
    run(lambda: main(url))
