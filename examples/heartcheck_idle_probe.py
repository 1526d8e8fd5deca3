"""heartCheck-style idle probe + fixed reconnect: probe only after a silence.

The client probes only after ``IDLE`` s of silence -- any inbound message resets that
timer -- and declares the server dead when nothing arrives within ``REPLY`` s of a probe
(``Heartbeat.idle_probe``). It then reconnects after a fixed ``RECONNECT`` s
(``ReconnectPolicy.fixed``), never two reconnects at once, and closes on exit.
Scaled down from the usual 10 s idle / 11 s dead / 3 s reconnect.

Timeline with the built-in server: news at 0.3/0.6/0.9 s keeps the client from
probing until 1.9 s; that probe is answered; the server then goes mute, the next
probe (2.9 s) is not answered, the link is declared dead at 4.0 s, the client
reconnects at 4.3 s, its first probe there (5.3 s) is answered and the client closes.

    python examples/heartcheck_idle_probe.py [--url ws://host:port/path]

Exit status: 0 when all of that happened; 1 otherwise; 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse

import trio
from _common import run, say

import trio_heartbeat as th
from trio_heartbeat.server import ServerClient, ServerHeartbeat, open_heartbeat_server

IDLE, REPLY, RECONNECT = 1.0, 1.1, 0.3  # heartCheck: 10 s, 11 s, 3 s


class ProbeServer:
    """Answers ``ping`` with ``pong``. On its first connection it first sends three
    news messages 0.3 s apart, and goes mute after one answer."""

    def __init__(self) -> None:
        self.connections = 0
        self.gaps: list[float] = []  # first probe of connection 1: seconds after the last news
        self.ends: dict[int, str] = {}  # connection number -> why it ended
        self.second_ended = trio.Event()

    async def handle(self, client: ServerClient) -> None:
        self.connections += 1
        number, answered, last_news = self.connections, 0, 0.0
        for i in range(3 if number == 1 else 0):
            await trio.sleep(0.3)
            await client.send(f"news {i + 1}")
            last_news = trio.current_time()
        async for message in client:
            if message != "ping":
                continue
            if number == 1 and not self.gaps:
                self.gaps.append(trio.current_time() - last_news)
            if number == 1 and answered == 1:
                say("server", "probe received on connection 1: mute, no answer")
                continue
            answered += 1
            say("server", f"probe received on connection {number}: answer 'pong'")
            await client.send("pong")
        self.ends[number] = client.end_reason.value if client.end_reason else "?"
        say("server", f"connection {number} ended: {self.ends[number]}")
        if number == 2:
            self.second_ended.set()


async def run_client(url: str, connects: int) -> list[th.StateChange]:
    """Run until a probe was answered on connection number ``connects`` (at most 8 s);
    return the state changes."""
    changes: list[th.StateChange] = []
    heartbeat = th.Heartbeat.idle_probe("ping", interval=IDLE, reply_timeout=REPLY)
    policy = th.ReconnectPolicy.fixed(RECONNECT)
    say("client", f"connecting to {url}")
    async with th.open_managed_websocket(url, heartbeat=heartbeat, reconnect=policy) as ws:

        async def watch() -> None:
            async for change in ws.state_changes:
                changes.append(change)
                say("client", f"state: {type(change).__name__} {_detail(change)}")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            with trio.move_on_after(8.0):
                async for message in ws:
                    say("client", f"received {message!r} (resets the idle timer)")
                    if message == "pong" and ws.statistics().connects >= connects:
                        break
            say("client", "leaving: close the connection")
            nursery.cancel_scope.cancel()
    return changes


def _detail(change: th.StateChange) -> str:
    if isinstance(change, th.Disconnected):
        return f"cause={type(change.cause).__name__}"
    if isinstance(change, th.WaitingToReconnect):
        return f"delay={change.delay:g} s"
    return ""


async def main(url: str | None) -> bool:
    if url is not None:
        changes = await run_client(url, connects=1)  # success: a probe answered, no loss
        seen = {type(c) for c in changes}
        return th.Connected in seen and th.Disconnected not in seen
    server = ProbeServer()
    heartbeat = ServerHeartbeat.ping(60.0)  # server pings play no part here
    async with open_heartbeat_server(server.handle, "127.0.0.1", 0, heartbeat=heartbeat) as srv:
        changes = await run_client(f"ws://127.0.0.1:{srv.port}/", connects=2)
        with trio.move_on_after(2.0):
            await server.second_ended.wait()
    kinds = [type(c).__name__ for c in changes if isinstance(c, (th.Connected, th.Disconnected))]
    lost = [c for c in changes if isinstance(c, th.Disconnected)]
    waits = [c.delay for c in changes if isinstance(c, th.WaitingToReconnect)]
    gap = server.gaps[0] if server.gaps else 0.0
    print(f"summary: first probe {gap:.2f} s after the last message; connects/losses {kinds}")
    return (
        abs(gap - IDLE) < 0.25
        and kinds == ["Connected", "Disconnected", "Connected"]
        and isinstance(lost[0].cause, th.PeerUnresponsive)
        and waits == [RECONNECT]
        and server.ends.get(2) == "closed by the client"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="an external server that answers 'ping'")
    url: str | None = parser.parse_args().url
    run(lambda: main(url))
