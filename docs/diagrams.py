"""Draw the two pictures of the docs: the connection's states and a half-open link's timeline.

Run ``python docs/diagrams.py`` (needs the ``docs`` extra: matplotlib) to rewrite
``docs/connection-states.png`` and ``docs/half-open-timeline.png``; pass another
folder as the first argument to write them there instead.

The timeline is not drawn from made-up numbers: :func:`simulate_half_open` runs a
real managed connection in trio's virtual time, against an in-memory echo server
through the test kit's fault switchboard, and records what happened and when.
"""

from __future__ import annotations

import itertools
import random
import sys
from collections.abc import Callable
from pathlib import Path

import attrs
import trio
import trio.testing
import trio_websocket

import trio_heartbeat as th
from trio_heartbeat.testing import Faults, open_memory_network

HERE = Path(__file__).resolve().parent
STATES_PNG = "connection-states.png"
TIMELINE_PNG = "half-open-timeline.png"

# The scenario of the timeline (virtual seconds).
HEARTBEAT = th.Heartbeat.ping(interval=1.0, reply_timeout=1.0)
POLICY = th.ReconnectPolicy(wait_initial=1.0, wait_max=4.0, min_uptime=1.0)
OPTIONS = th.ConnectionOptions(connect_timeout=1.0)
ONE_WAY_LATENCY = 0.05
HALF_OPEN_AT = 3.5  # bytes stop both ways; the sockets stay open
HEALED_AT = 7.0  # the network comes back
END_AT = 11.0
SEED = 4
PING, PONG = 0x9, 0xA  # RFC 6455 opcodes


@attrs.frozen
class Timeline:
    """What one simulated half-open link did, in virtual seconds."""

    pings: tuple[float, ...]  # heartbeats sent
    pongs: tuple[float, ...]  # replies received
    states: tuple[tuple[float, str], ...]  # (time, state) each time the state changed
    events: tuple[tuple[float, th.StateChange], ...]  # every state change, in order


class _FrameReader:
    """Finds the RFC 6455 frames in one direction of a connection's bytes.

    Skips the HTTP upgrade, then calls ``seen(opcode)`` for every frame header.
    """

    def __init__(self, seen: Callable[[int], None]) -> None:
        self._seen = seen
        self._buffer = b""
        self._in_http = True

    def feed(self, data: bytes) -> None:
        self._buffer += data
        if self._in_http:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            self._buffer = self._buffer[end + 4 :]
            self._in_http = False
        while len(self._buffer) >= 2:
            first, second = self._buffer[0], self._buffer[1]
            length, header = second & 0x7F, 2
            if length == 126:
                header = 4
            elif length == 127:
                header = 10
            if len(self._buffer) < header:
                return
            if header > 2:
                length = int.from_bytes(self._buffer[2:header], "big")
            header += 4 if second & 0x80 else 0  # the client's masking key
            if len(self._buffer) < header + length:
                return
            self._seen(first & 0x0F)
            self._buffer = self._buffer[header + length :]


class _WireTap(trio.abc.HalfCloseableStream):
    """The client's stream, with the times of the pings it writes and the pongs it reads."""

    def __init__(self, inner: trio.abc.HalfCloseableStream, timeline: _Recorder) -> None:
        self._inner = inner
        self._out = _FrameReader(lambda op: op == PING and timeline.pings.append(_now()))
        self._in = _FrameReader(lambda op: op == PONG and timeline.pongs.append(_now()))

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self._out.feed(bytes(data))
        await self._inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._inner.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        await self._inner.send_eof()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        data = await self._inner.receive_some(max_bytes)
        self._in.feed(bytes(data))
        return data

    async def aclose(self) -> None:
        await self._inner.aclose()


async def _echo_server(stream: trio.abc.Stream) -> None:
    """An RFC 6455 echo server on one in-memory stream (trio-websocket answers pings)."""
    async with trio.open_nursery() as nursery:  # trio-websocket's reader task runs here
        try:
            request = await trio_websocket.wrap_server_stream(nursery, stream)
            ws = await request.accept()
            while True:
                await ws.send_message(await ws.get_message())
        except (trio_websocket.ConnectionClosed, trio.BrokenResourceError):
            pass
        finally:
            nursery.cancel_scope.cancel()


async def _authorize(link: th.LiveLink) -> None:
    """The on-connect step: one request and its answer (re-run on every connect)."""
    await link.send("auth")
    await link.receive()


@attrs.define
class _Recorder:
    pings: list[float] = attrs.Factory(list)
    pongs: list[float] = attrs.Factory(list)
    states: list[tuple[float, str]] = attrs.Factory(list)
    events: list[tuple[float, th.StateChange]] = attrs.Factory(list)


def _now() -> float:
    return trio.current_time()


async def _simulate() -> Timeline:
    faults = Faults()
    faults.set_latency(ONE_WAY_LATENCY)
    seen = _Recorder()
    async with open_memory_network(_echo_server, faults=faults) as net:

        async def dial() -> trio.abc.Stream:
            return _WireTap(await net.dial(), seen)

        async with (
            th.open_managed_websocket(
                "ws://memory/",
                heartbeat=HEARTBEAT,
                reconnect=POLICY,
                options=OPTIONS,
                on_connect=_authorize,
                dial=dial,
                rng=random.Random(SEED),
            ) as ws,
            trio.open_nursery() as nursery,
        ):

            async def record_changes() -> None:
                async for event in ws.state_changes:  # each is read at the time it happened
                    seen.events.append((_now(), event))
                    state = _state_name(ws.state)
                    if not seen.states or seen.states[-1][1] != state:
                        seen.states.append((_now(), state))

            nursery.start_soon(record_changes)
            await trio.sleep_until(HALF_OPEN_AT)
            faults.black_hole()
            await trio.sleep_until(HEALED_AT)
            faults.heal()
            faults.set_latency(ONE_WAY_LATENCY)
            await trio.sleep_until(END_AT)
            nursery.cancel_scope.cancel()
    return Timeline(tuple(seen.pings), tuple(seen.pongs), tuple(seen.states), tuple(seen.events))


def simulate_half_open() -> Timeline:
    """Run the scenario in virtual time (exact, takes a fraction of a real second)."""
    return trio.run(_simulate, clock=trio.testing.MockClock(autojump_threshold=0))


# -- drawing -------------------------------------------------------------------

STATE_COLOURS = {
    "connecting": "#9ecae1",
    "connected": "#a1d99b",
    "waiting": "#fdd0a2",
    "gave_up": "#fc9272",
    "closed": "#d9d9d9",
}


def _state_name(state: object) -> str:
    """``ws.state`` as its plain name (a string, or an enum's value)."""
    return str(getattr(state, "value", state))


def draw_states(path: Path) -> None:
    """The states of ``ws.state`` and the state changes between them."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    fig, ax = plt.subplots(figsize=(11, 6.2), dpi=110)
    ax.set_xlim(-0.45, 11)
    ax.set_ylim(0, 6.2)
    ax.axis("off")

    boxes = {  # name: (x, y, width)
        "connecting": (1.9, 4.7, 2.0),
        "connected": (7.6, 4.7, 2.0),
        "disconnected": (4.75, 2.9, 2.6),
        "waiting": (1.9, 1.1, 2.0),
        "gave_up": (7.6, 1.1, 2.0),
    }
    notes = {
        "connecting": "dial, TLS, upgrade,\nthen on_connect",
        "connected": "heartbeats + deadline;\nbuffered messages flush",
        "disconnected": "an event, not a state:\nthe ReconnectPolicy decides",
        "waiting": "backoff with jitter",
        "gave_up": "receive() raises\nReconnectGaveUp",
    }
    height = 0.95
    for name, (x, y, w) in boxes.items():
        event_only = name == "disconnected"
        ax.add_patch(
            FancyBboxPatch(
                (x - w / 2, y - height / 2),
                w,
                height,
                boxstyle="round,pad=0.05,rounding_size=0.2",
                facecolor="#fff3bf" if event_only else STATE_COLOURS[name],
                edgecolor="#333333",
                linestyle="--" if event_only else "-",
                linewidth=1.4,
            )
        )
        label = "Disconnected(...)" if event_only else f'"{name}"'
        ax.text(x, y + 0.17, label, ha="center", va="center", fontsize=12, weight="bold")
        ax.text(x, y - 0.2, notes[name], ha="center", va="center", fontsize=8.5, color="#333")

    def arrow(a: tuple[float, float], b: tuple[float, float], text: str, **kw: object) -> None:
        rad = kw.pop("rad", 0.0)
        ax.annotate(
            "",
            xy=b,
            xytext=a,
            arrowprops={
                "arrowstyle": "-|>",
                "lw": 1.5,
                "color": "#222222",
                "connectionstyle": f"arc3,rad={rad}",
                "shrinkA": 2,
                "shrinkB": 2,
            },
        )
        tx, ty = kw.pop("at", ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2))
        ax.text(
            tx, ty, text, ha="center", va="center", fontsize=9,
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none"},
        )  # fmt: skip

    ax.plot([0.3], [4.7], "o", color="#222222", markersize=9)
    ax.text(0.3, 5.0, "async with\nentered", ha="center", va="bottom", fontsize=8.5)
    ax.text(0.3, 4.4, "Connecting(1)", ha="center", va="top", fontsize=8.5)
    arrow((0.45, 4.7), (0.85, 4.7), "")
    arrow((2.95, 4.85), (6.55, 4.85), "Connected(attempt)\nlink open, on_connect succeeded")
    arrow((2.6, 4.2), (4.0, 3.42), "attempt failed\n(was_connected=False)", at=(2.35, 3.62))
    lost = "link lost: close, error,\npeer unresponsive\n(was_connected=True)"
    arrow((6.9, 4.2), (5.5, 3.42), lost, at=(7.55, 3.55))
    arrow((4.0, 2.38), (2.6, 1.6), "retry:\nWaitingToReconnect(delay)", at=(2.25, 2.25))
    arrow((5.5, 2.38), (6.9, 1.6), "stop: GaveUp(error)\n(close-code table,\nmax_attempts...)",
          at=(7.5, 2.3))  # fmt: skip
    arrow((1.3, 1.6), (1.3, 4.2), "Connecting(attempt + 1)\nafter the delay", at=(0.85, 2.9))

    # Leaving the block closes the connection from every state.
    ax.add_patch(
        FancyBboxPatch((9.3, 2.42), 1.45, 0.95, boxstyle="round,pad=0.05,rounding_size=0.2",
                       facecolor=STATE_COLOURS["closed"], edgecolor="#333333", linewidth=1.4)
    )  # fmt: skip
    ax.text(10.02, 3.07, '"closed"', ha="center", va="center", fontsize=12, weight="bold")
    ax.text(10.02, 2.7, "Closed(undelivered)", ha="center", va="center", fontsize=8.5)
    ax.text(
        10.02, 4.3, "from every state:\nthe async with\nblock is left", ha="center",
        va="center", fontsize=9, style="italic",
    )  # fmt: skip
    arrow((10.02, 3.9), (10.02, 3.42), "")
    ax.text(
        5.5, 0.15,
        'Boxes: the values of ws.state.  Arrow labels: what ws.state_changes yields.  '
        'Every attempt starts with Connecting(attempt).',
        ha="center", va="center", fontsize=8.5, color="#444",
    )  # fmt: skip
    ax.set_title("States of a managed connection", fontsize=14, weight="bold", pad=4)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def draw_timeline(timeline: Timeline, path: Path) -> None:
    """Heartbeats, replies, the deadline and the reconnects of :func:`simulate_half_open`."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(12, 5.4), dpi=110)
    lanes = {"link state": 3.0, "pings sent": 2.0, "pongs received": 1.0}
    ax.set_yticks(list(lanes.values()), list(lanes.keys()), fontsize=10)
    ax.set_ylim(0.2, 4.6)
    ax.set_xlim(-0.2, END_AT + 0.2)
    ax.set_xlabel("virtual time (s)")
    ax.grid(axis="x", color="#eeeeee")
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)

    ax.axvspan(HALF_OPEN_AT, HEALED_AT, color="#eeeeee", zorder=0)
    ax.text((HALF_OPEN_AT + HEALED_AT) / 2, 4.4, "half-open: sockets open, bytes stop",
            ha="center", fontsize=9.5, color="#555")  # fmt: skip

    # The state bar.
    changes = [*timeline.states, (END_AT, "")]
    for (start, state), (end, _) in itertools.pairwise(changes):
        name = _state_name(state)
        ax.barh(3.0, end - start, left=start, height=0.5, edgecolor="#333",
                color=STATE_COLOURS.get(name, "white"))  # fmt: skip
        if end - start > 0.45:
            ax.text((start + end) / 2, 3.0, name, ha="center", va="center", fontsize=9)

    timeout = HEARTBEAT.reply_timeout or 0.0
    answered = [t for t in timeline.pings if any(t < p <= t + timeout for p in timeline.pongs)]
    unanswered = [t for t in timeline.pings if t not in answered]
    ax.plot(answered, [2.0] * len(answered), "^", color="#2171b5", markersize=10)
    ax.plot(unanswered, [2.0] * len(unanswered), "^", markerfacecolor="white",
            markeredgecolor="#cb181d", markeredgewidth=1.6, markersize=10)  # fmt: skip
    ax.plot(timeline.pongs, [1.0] * len(timeline.pongs), "v", color="#238b45", markersize=10)

    lost = [
        (t, e) for t, e in timeline.events if isinstance(e, th.Disconnected) and e.was_connected
    ]
    if lost and unanswered:
        detected = lost[0][0]
        first = min(t for t in unanswered if t < detected)
        ax.annotate("", xy=(detected, 1.55), xytext=(first, 1.55),
                    arrowprops={"arrowstyle": "<->", "color": "#cb181d", "lw": 1.4})  # fmt: skip
        ax.text((first + detected) / 2, 1.38, f"timeout {HEARTBEAT.reply_timeout:g} s",
                ha="center", va="top", fontsize=9, color="#cb181d")  # fmt: skip
        ax.axvline(detected, ymax=0.8, color="#cb181d", lw=1.2, ls="--")
        ax.text(detected - 0.05, 3.85,
                f"t = {detected:.2f}: deadline passed; what already\narrived is read first, "
                "then the link\nis aborted: PeerUnresponsive", fontsize=8.5,
                color="#cb181d", va="center", ha="right")  # fmt: skip
    waits = [(t, e) for t, e in timeline.events if isinstance(e, th.WaitingToReconnect)]
    failed = [(t, e) for t, e in timeline.events
              if isinstance(e, th.Disconnected) and not e.was_connected]  # fmt: skip
    for t, e in waits:
        ax.text(t + e.delay / 2, 3.3, f"backoff\n{e.delay:.2f} s", ha="center",
                va="bottom", fontsize=8, color="#a63603")  # fmt: skip
    for t, e in failed:
        ax.text(t - OPTIONS.connect_timeout / 2, 2.7, f"{type(e.cause).__name__}\n(no answer)",
                ha="center", va="top", fontsize=8, color="#08519c")  # fmt: skip
    connected = [t for t, e in timeline.events if isinstance(e, th.Connected)]
    for t in connected[1:]:
        ax.text(t + 0.05, 3.85, f"t = {t:.2f}: reconnected,\non_connect re-run",
                fontsize=8.5, color="#006d2c", va="center")  # fmt: skip
    if timeline.pongs:
        stop = max(p for p in timeline.pongs if p < HALF_OPEN_AT + timeout)
        ax.text(stop + 0.1, 0.75, "replies stop", fontsize=8.5, color="#cb181d", va="center")

    ax.plot([], [], "^", color="#2171b5", label="ping, answered")
    ax.plot(
        [], [], "^", markerfacecolor="white", markeredgecolor="#cb181d", label="ping, unanswered"
    )
    ax.plot([], [], "v", color="#238b45", label="pong")
    ax.legend(loc="lower right", fontsize=8.5, ncol=3, frameon=False)
    ax.set_title(
        f"A half-open link: Heartbeat.ping(interval={HEARTBEAT.interval:g}, "
        f"reply_timeout={HEARTBEAT.reply_timeout:g}), "
        f"connect_timeout={OPTIONS.connect_timeout:g} s",
        fontsize=12, weight="bold",
    )  # fmt: skip
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str]) -> int:
    import matplotlib

    matplotlib.use("Agg")
    out = Path(argv[1]) if len(argv) > 1 else HERE
    out.mkdir(parents=True, exist_ok=True)
    draw_states(out / STATES_PNG)
    draw_timeline(simulate_half_open(), out / TIMELINE_PNG)
    print(f"wrote {out / STATES_PNG} and {out / TIMELINE_PNG}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
