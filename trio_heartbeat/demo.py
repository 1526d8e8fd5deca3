"""``python -m trio_heartbeat.demo``: watch a connection die silently and heal.

Offline and self-contained: it starts a heartbeat server and a fault-injecting
TCP proxy on 127.0.0.1, connects a managed client through the proxy, exchanges
messages, then injects a fault (by default a half-open link: the sockets stay
open, bytes stop). The timeline shows the client detect it within its bound,
back off, reconnect, re-run its on-connect step and deliver the messages it
buffered meanwhile. Exit code 0 when all of that happened, 1 otherwise (a
``FAILED`` line says what did not happen), 2 for bad arguments, such as a fault
that cannot touch the chosen heartbeat style.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from collections.abc import Sequence

import trio

from trio_heartbeat import (
    CloseCode,
    Closed,
    Connected,
    Connecting,
    ConnectionOptions,
    Disconnected,
    GaveUp,
    Heartbeat,
    LiveLink,
    ManagedWebSocket,
    ReconnectPolicy,
    StateChange,
    WaitingToReconnect,
    open_managed_websocket,
)
from trio_heartbeat.server import ServerClient, ServerHeartbeat, open_heartbeat_server
from trio_heartbeat.testing import Direction, Faults, open_fault_proxy

FAULTS = ("half-open", "one-way", "silent-pongs", "close", "drop", "abort", "none")
STYLES = ("ping", "text", "server")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m trio_heartbeat.demo",
        description="Show a managed WebSocket detect a dead link and heal it (offline, loopback).",
    )
    parser.add_argument("--style", choices=STYLES, default="ping", help="heartbeat style")
    parser.add_argument("--interval", type=float, default=1.0, help="heartbeat interval, s")
    parser.add_argument("--timeout", type=float, default=1.0, help="reply timeout / grace, s")
    parser.add_argument("--fault", choices=FAULTS, default="half-open", help="fault to inject")
    parser.add_argument("--fault-at", type=float, default=2.5, help="when to inject it, s")
    parser.add_argument("--heal-after", type=float, default=3.0, help="fault lasts this long, s")
    parser.add_argument("--duration", type=float, default=12.0, help="total run time, s (< 30)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the reconnect jitter")
    parser.add_argument("--json", action="store_true", help="print events as JSON lines")
    args = parser.parse_args(argv)
    if not 0 < args.duration <= 60 or args.interval <= 0 or args.timeout <= 0:
        parser.error("durations must be positive and --duration at most 60 s")
    problem = unsupported(args.style, args.fault)
    if problem is not None:
        parser.error(problem)  # exit code 2, with the reason
    return args


def unsupported(style: str, fault: str) -> str | None:
    """Why ``fault`` cannot touch heartbeat ``style``, or None when it can."""
    if fault == "silent-pongs" and style != "ping":
        what = {"text": "an ordinary text message ('hb')", "server": "a binary data frame (0x01)"}
        return (
            f"--fault silent-pongs drops RFC 6455 pong frames, which only --style ping uses; "
            f"the {style} heartbeat is {what[style]}, which that fault does not touch, so "
            "there would be nothing to detect. Use --style ping, or another --fault."
        )
    return None


class Timeline:
    """Prints events with the time since the start, as text or JSON lines."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.start = trio.current_time()

    def say(self, kind: str, text: str, **fields: object) -> None:
        at = trio.current_time() - self.start
        if self.as_json:
            print(json.dumps({"t": round(at, 3), "event": kind, **fields}), flush=True)
        else:
            print(f"{at:7.3f}s  {kind:<12} {text}", flush=True)


def heartbeat_for(args: argparse.Namespace) -> tuple[Heartbeat, ServerHeartbeat]:
    # With data flowing, "silent pongs" is only visible when data does not prove life.
    only_heartbeats = args.fault == "silent-pongs"
    if args.style == "ping":
        client = Heartbeat(
            interval=args.interval,
            reply_timeout=args.timeout,
            any_traffic_proves_life=not only_heartbeats,
        )
        return client, ServerHeartbeat.ping(10 * args.interval)
    if args.style == "text":
        client = Heartbeat.text(
            "hb", interval=args.interval, reply_timeout=args.timeout, reply="hb"
        )
        return client, ServerHeartbeat.ping(10 * args.interval)
    client = Heartbeat.server_sent(
        b"\x01", interval=args.interval, silence_timeout=args.interval + args.timeout
    )
    return client, ServerHeartbeat.binary(args.interval)


def inject(faults: Faults, fault: str) -> str:
    if fault == "half-open":
        faults.black_hole()
        return "black hole both ways: sockets stay open, bytes stop"
    if fault == "one-way":
        faults.black_hole(Direction.TO_CLIENT)
        return "black hole server->client only"
    if fault == "silent-pongs":
        faults.drop_heartbeats(Direction.TO_CLIENT)
        return "server's pongs vanish, data still flows"
    if fault == "close":
        faults.close(CloseCode.SERVICE_RESTART, "service restart")
        return "server closes with 1012 service restart"
    if fault == "drop":
        faults.drop()
        return "TCP dropped without a close frame"
    if fault == "abort":
        faults.abort()
        return "TCP reset"
    raise ValueError(f"unknown fault {fault!r}")


def describe(event: StateChange) -> tuple[str, str, dict[str, object]]:
    if isinstance(event, Connecting):
        return "connecting", f"attempt {event.attempt}", {"attempt": event.attempt}
    if isinstance(event, Connected):
        return "connected", f"attempt {event.attempt} is up", {"attempt": event.attempt}
    if isinstance(event, Disconnected):
        what = f"{type(event.cause).__name__}: {event.cause}"
        if event.unconfirmed:
            what += f" ({len(event.unconfirmed)} unconfirmed message(s) will be re-sent)"
        return "disconnected", what, {"cause": type(event.cause).__name__, "code": event.code}
    if isinstance(event, WaitingToReconnect):
        return "backoff", f"reconnect in {event.delay:.3f} s", {"delay": event.delay}
    if isinstance(event, GaveUp):
        return "gave-up", str(event.error), {"error": str(event.error)}
    if isinstance(event, Closed):
        return "closed", f"{len(event.undelivered)} undelivered", {}
    return type(event).__name__.lower(), str(event), {}


async def run(args: argparse.Namespace) -> bool:
    out = Timeline(args.json)
    client_hb, server_hb = heartbeat_for(args)
    delivered: list[str] = []
    auth_count = 0

    async def handler(client: ServerClient) -> None:
        async for message in client:
            text = message if isinstance(message, str) else message.decode("latin-1")
            if text == "hb":
                await client.send("hb")
            elif text == "auth demo-token":
                await client.send("auth ok")
            else:
                delivered.append(text)
                await client.send(f"echo {text}")

    async def authorize(link: LiveLink) -> None:
        nonlocal auth_count
        await link.send("auth demo-token")
        reply = await link.receive()
        if reply != "auth ok":
            raise RuntimeError(f"authorization refused: {reply!r}")
        auth_count += 1
        out.say("on_connect", f"authorized (time #{auth_count})")

    faults = Faults()
    async with (
        open_heartbeat_server(handler, "127.0.0.1", 0, heartbeat=server_hb) as server,
        open_fault_proxy("127.0.0.1", server.port, faults=faults) as proxy,
    ):
        url = f"ws://127.0.0.1:{proxy.port}/demo"
        out.say("setup", f"server :{server.port}, fault proxy :{proxy.port}, client -> {url}")
        style = {
            "ping": f"RFC 6455 ping every {args.interval:g} s, pong timeout {args.timeout:g} s",
            "text": f"text 'hb' every {args.interval:g} s, echo timeout {args.timeout:g} s",
            "server": f"server 0x01 every {args.interval:g} s, grace {args.timeout:g} s",
        }[args.style]
        out.say("setup", f"{style}; detection bound {args.interval + args.timeout:g} s")
        policy = ReconnectPolicy(wait_initial=0.5, wait_max=2.0, min_uptime=2.0)
        sent = 0
        detected_at = math.nan
        fault_at = math.nan
        async with (
            open_managed_websocket(
                url,
                heartbeat=client_hb,
                reconnect=policy,
                on_connect=authorize,
                options=ConnectionOptions(
                    resend_unconfirmed=True, connect_timeout=1.0, close_timeout=1.0
                ),
                rng=random.Random(args.seed),
            ) as ws,
            trio.open_nursery() as nursery,
        ):

            async def report_states(ws: ManagedWebSocket) -> None:
                nonlocal detected_at
                async for event in ws.state_changes:
                    kind, text, fields = describe(event)
                    if isinstance(event, Disconnected) and math.isnan(detected_at):
                        detected_at = trio.current_time()
                    out.say(kind, text, **fields)

            async def report_echoes(ws: ManagedWebSocket) -> None:
                async for message in ws:
                    stats = ws.statistics()
                    rtt = "-" if stats.rtt_last is None else f"{stats.rtt_last * 1000:.2f} ms"
                    out.say("received", f"{message!r} (rtt {rtt})", message=str(message))

            nursery.start_soon(report_states, ws)
            nursery.start_soon(report_echoes, ws)
            end = out.start + min(args.duration, 60.0)
            fault_deadline = out.start + args.fault_at
            heal_deadline = fault_deadline + args.heal_after
            healed = False
            while trio.current_time() < end:
                now = trio.current_time()
                if args.fault == "none":
                    pass
                elif math.isnan(fault_at) and now >= fault_deadline:
                    fault_at = now
                    out.say("FAULT", inject(faults, args.fault), fault=args.fault)
                elif not healed and now >= heal_deadline:
                    faults.heal()
                    healed = True
                    out.say("heal", "fault cleared; the proxy relays again")
                sent += 1
                await ws.send(f"msg {sent}")
                await trio.sleep(0.5)
            await ws.drain()
            await trio.sleep(min(0.5, args.interval))
            stats = ws.statistics()
            nursery.cancel_scope.cancel()

    missing = [f"msg {i}" for i in range(1, sent + 1) if f"msg {i}" not in delivered]
    if args.fault == "none":
        detection = "no fault injected"
        detect = math.nan
    else:
        detect = detected_at - fault_at
        detection = (
            "fault not detected" if math.isnan(detect) else f"fault detected after {detect:.3f} s"
        )
    out.say(
        "summary",
        f"sent {sent}, server got {len(set(delivered))} distinct, missing {missing or 'none'}; "
        f"{detection}; reconnects {stats.reconnects}; "
        f"heartbeats {stats.heartbeats_sent} sent / {stats.heartbeats_answered} answered; "
        f"on_connect ran {auth_count}x",
        sent=sent,
        delivered=len(set(delivered)),
        missing=missing,
        detect_seconds=None if math.isnan(detect) else round(detect, 3),
        reconnects=stats.reconnects,
        on_connect_runs=auth_count,
    )
    if args.style == "server" and missing:
        out.say(
            "note",
            "server-sent heartbeats carry no replies, so nothing confirms what the peer read: "
            f"{len(missing)} message(s) written to the dying link were lost",
        )
        missing = []
    failures = verdict(
        args.fault, missing=missing, detect=detect, reconnects=stats.reconnects, auth=auth_count
    )
    if failures:
        out.say("FAILED", "; ".join(failures), failures=failures)
    return not failures


def verdict(
    fault: str, *, missing: list[str], detect: float, reconnects: int, auth: int
) -> list[str]:
    """What the run should have shown and did not (empty: it all happened)."""
    failures = [f"{len(missing)} message(s) never reached the server"] if missing else []
    if fault == "none":
        if reconnects:
            failures.append(f"{reconnects} reconnect(s) although no fault was injected")
        return failures
    if math.isnan(detect):
        failures.append("the fault was not detected (no disconnect after it)")
    if reconnects < 1:
        failures.append("the client did not reconnect")
    if auth < 2:
        failures.append(f"the on-connect step ran {auth}x, not again after the reconnect")
    return failures


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        ok = trio.run(run, args)
    except BaseException as exc:
        interrupted = isinstance(exc, KeyboardInterrupt) or (
            isinstance(exc, BaseExceptionGroup) and exc.split(KeyboardInterrupt)[0] is not None
        )
        if not interrupted:
            raise
        print("\ninterrupted: every task and socket closed", file=sys.stderr)
        return 130
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
