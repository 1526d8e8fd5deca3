"""Resume a numbered feed where it left off, across reconnects (``th.Resume``).

The server numbers its feed ``seq:1`` ... ``seq:12``. Each connection first reads
``resume N`` (the last position the application got, or ``resume None``), replays
from two positions *before* N (overlapping ranges, as feeds do when unsure what
arrived), sends four messages and ends the connection, as a restarting server would.
The client's on-connect step sends ``resume {link.resume_position}``; the connection
drops the replayed duplicates, so the application sees each message once, in order.

    python examples/resume_stream.py

Exit status: 0 when the application got seq:1..12 exactly once, in order, and the
duplicates were counted; 1 otherwise; 130 on Ctrl-C.
"""

from __future__ import annotations

import trio
from _common import run, say

import trio_heartbeat as th
from trio_heartbeat.server import ServerClient, ServerHeartbeat, open_heartbeat_server

LAST, PER_LINK, OVERLAP = 12, 4, 2


def position_of(message: str | bytes) -> int | None:
    """``seq:N`` -> N; anything else has no position."""
    text = message if isinstance(message, str) else message.decode(errors="replace")
    return int(text[4:]) if text.startswith("seq:") else None


async def feed(client: ServerClient) -> None:
    request = str(await client.receive())
    after = request.split(" ")[1]
    start = 1 if after == "None" else max(int(after) - OVERLAP, 0) + 1
    end = min(start + PER_LINK - 1, LAST)
    say("server", f"got {request!r}: sending seq:{start}..{end}")
    for n in range(start, end + 1):
        await client.send(f"seq:{n}")
    if end == LAST:
        await trio.sleep_forever()
    await trio.sleep(0.05)  # then end the connection (a restart)


async def ask_to_resume(link: th.LiveLink) -> None:
    say("client", f"connected (attempt {link.attempt}): resume from {link.resume_position}")
    await link.send(f"resume {link.resume_position}")


async def main() -> bool:
    got: list[str | bytes] = []
    heartbeat = ServerHeartbeat.ping(30.0)
    async with (
        open_heartbeat_server(feed, "127.0.0.1", 0, heartbeat=heartbeat) as srv,
        th.open_managed_websocket(
            f"ws://127.0.0.1:{srv.port}/",
            reconnect=th.ReconnectPolicy.fixed(0.5),
            on_connect=ask_to_resume,
            resume=th.Resume(position_of=position_of),
        ) as ws,
    ):
        with trio.move_on_after(10.0):
            while len(got) < LAST:
                message = await ws.receive()
                got.append(message)
                say("client", f"application got {message!r}")
        stats = ws.statistics()
    say("client", f"duplicates dropped: {stats.duplicates_dropped}, connects: {stats.connects}")
    expected = [f"seq:{n}" for n in range(1, LAST + 1)]
    ok = got == expected and stats.duplicates_dropped == OVERLAP * (stats.connects - 1)
    print(f"summary: each message once, in order: {'yes' if ok else 'no'}")
    return ok


if __name__ == "__main__":
    run(main)
