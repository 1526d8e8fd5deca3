"""Node ``ws`` isAlive pattern: server ping rounds terminate clients that did not pong.

The server pings every client every ``INTERVAL`` s and terminates the ones that did not
pong since the previous round (``ServerHeartbeat.ping``); it keeps a registry of clients
and broadcasts typed JSON messages. Two managed clients (``Heartbeat.ping``) join and
chat; then client 2 stops abruptly -- its network goes silent (a fault-injecting proxy
from ``trio_heartbeat.testing`` black-holes its bytes, so not even a FIN reaches the
server) -- and the server terminates it, removes it from the registry and tells the
others.

    python examples/ws_ping_pong.py     # everything in-process on 127.0.0.1, port 0

Exit status: 0 when the silent client was terminated and removed; 1 otherwise; 130 on
Ctrl-C. There is no --url: the server is the point of this example.
"""

from __future__ import annotations

import json
from collections import defaultdict

import trio
from _common import run, say

import trio_heartbeat as th
from trio_heartbeat.server import HeartbeatServer, ServerClient, ServerHeartbeat
from trio_heartbeat.server import open_heartbeat_server as open_server
from trio_heartbeat.testing import open_fault_proxy

INTERVAL = 0.3  # ws: 30 s


def show_registry(server: HeartbeatServer) -> None:
    for info in server.clients():
        rtt = "-" if info.rtt is None else f"{info.rtt * 1000:.2f} ms"
        say("registry", f"client {info.id} from {info.remote} path {info.path}, rtt {rtt}")
    say(
        "registry",
        f"{len(server.clients())} client(s), {server.statistics().terminated} terminated",
    )


async def main() -> bool:
    servers: list[HeartbeatServer] = []
    got: defaultdict[str, trio.Event] = defaultdict(trio.Event)  # "<client> <type>" seen

    async def handler(client: ServerClient) -> None:
        await client.send(json.dumps({"type": "welcome", "id": client.id}))
        async for raw in client:
            message = json.loads(raw)
            if message.get("type") == "chat":
                out = {"type": "chat", "from": client.id, "content": message["content"]}
                await servers[0].broadcast(json.dumps(out))
        why = client.end_reason.value if client.end_reason else "?"
        say("server", f"client {client.id} removed: {why}")
        note = {"type": "notification", "content": f"client {client.id} left ({why})"}
        await servers[0].broadcast(json.dumps(note))

    async def client(name: str, url: str) -> None:
        async with th.open_managed_websocket(
            url,
            heartbeat=th.Heartbeat.ping(interval=INTERVAL, reply_timeout=1.0),
            options=th.ConnectionOptions(close_timeout=0.2),
        ) as ws:
            async for raw in ws:
                message = json.loads(raw)
                say(name, f"got {message['type']}: {message}")
                got[f"{name} {message['type']}"].set()
                if message["type"] == "welcome" and name == "client 2":
                    await ws.send(json.dumps({"type": "chat", "content": "hello everyone"}))

    heartbeat = ServerHeartbeat.ping(INTERVAL)
    async with (
        open_server(handler, "127.0.0.1", 0, heartbeat=heartbeat) as srv,
        open_fault_proxy("127.0.0.1", srv.port) as proxy,  # client 2's network
    ):
        servers.append(srv)
        url = f"ws://127.0.0.1:{srv.port}/chat"
        say("server", f"listening on {url}, ping round every {INTERVAL} s")
        with trio.fail_after(8):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client, "client 1", url)
                await got["client 1 welcome"].wait()  # client 1 gets id 1
                scope = trio.CancelScope()

                async def client2() -> None:
                    with scope:
                        await client("client 2", f"ws://127.0.0.1:{proxy.port}/chat")

                nursery.start_soon(client2)
                await got["client 1 chat"].wait()
                await got["client 2 chat"].wait()
                await trio.sleep(2 * INTERVAL)  # let rounds measure the RTTs
                show_registry(srv)
                say(
                    "client 2", "stops abruptly: its network goes silent, no FIN reaches the server"
                )
                proxy.faults.black_hole()
                scope.cancel()
                await got["client 1 notification"].wait()
                show_registry(srv)
                ids, terminated = [i.id for i in srv.clients()], srv.statistics().terminated
                nursery.cancel_scope.cancel()
    print(f"summary: terminated={terminated}, registry now {ids}")
    return terminated == 1 and ids == [1]


if __name__ == "__main__":
    run(main)
