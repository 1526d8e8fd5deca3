"""``python -m trio_heartbeat URL``: a WebSocket client for the terminal that stays connected.

Reads lines from stdin and sends each as a text message; prints each received
message on its own line to stdout (binary ones as ``hex:<hex>``); reports the
connection's status (connecting, connected, disconnected with the reason,
waiting N s, RTT) on stderr: a live status line on a terminal, plain lines
otherwise. ``--json`` prints messages and events as JSON lines on stdout.

After the end of input it sends what is still buffered, keeps receiving for
``--wait`` seconds, closes politely and exits 0. Exit status 1 when the
reconnect policy gives up (the reason on stderr), 2 for a usage error, 130 on
Ctrl-C. Header values (``-H``) and the URL's query and user info are never
printed.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import signal
import ssl
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import trio

from trio_heartbeat._client.connection import ManagedWebSocket, open_managed_websocket
from trio_heartbeat._client.live_link import LiveLink
from trio_heartbeat._core import validate as v
from trio_heartbeat._core.events import (
    Closed,
    Connected,
    Connecting,
    Disconnected,
    GaveUp,
    MessagesDropped,
    StateChange,
    StateChangesDropped,
    WaitingToReconnect,
)
from trio_heartbeat._core.groups import leaf_exceptions
from trio_heartbeat._core.heartbeat import Heartbeat
from trio_heartbeat._core.options import ConnectionOptions, PerMessageDeflate, Transport
from trio_heartbeat._core.reconnect import ReconnectPolicy
from trio_heartbeat._transport.links import parse_url
from trio_heartbeat.errors import HeartbeatError, ReconnectGaveUp, SendBufferFull, UsageError

__all__ = ["build_parser", "main"]

EXIT_OK, EXIT_GAVE_UP, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
RTT_POLL_INTERVAL = 1.0

Message = str | bytes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trio-heartbeat",
        description="A WebSocket client that keeps the connection alive and reconnects.",
        epilog="Payloads starting with 'hex:' are binary (hex:01 is the byte 0x01).",
    )
    parser.add_argument("url", help="ws:// or wss:// URL")
    style = parser.add_mutually_exclusive_group()
    style.add_argument("--ping", action="store_true", help="RFC 6455 pings (the default)")
    style.add_argument("--text", metavar="PAYLOAD", help="send PAYLOAD as the heartbeat")
    style.add_argument("--server", metavar="PAYLOAD", help="the server sends PAYLOAD")
    style.add_argument("--idle", metavar="PAYLOAD", help="probe with PAYLOAD after silence")
    style.add_argument("--no-heartbeat", action="store_true", help="no heartbeat at all")
    parser.add_argument(
        "--interval", type=float, default=30.0, metavar="S", help="heartbeat interval, s"
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, metavar="S", help="reply timeout/grace, s"
    )
    parser.add_argument("--reply", metavar="PAYLOAD", help="with --text: the peer's reply")
    parser.add_argument("--answer", metavar="PAYLOAD", help="with --server: what to answer")
    parser.add_argument(
        "--wait-initial", type=float, default=0.5, metavar="S", help="first backoff, s"
    )
    parser.add_argument(
        "--wait-max", type=float, default=30.0, metavar="S", help="longest backoff, s"
    )
    parser.add_argument("--max-attempts", type=int, default=None, metavar="N", help="then give up")
    parser.add_argument(
        "--connect-timeout", type=float, default=10.0, metavar="S", help="per attempt, s"
    )
    parser.add_argument(
        "-H", "--header", action="append", default=[], metavar="'NAME: VALUE'",
        help="extra request header (the value is never printed)",
    )  # fmt: skip
    parser.add_argument("--subprotocol", action="append", default=[], help="offer a subprotocol")
    parser.add_argument("--cacert", metavar="FILE", help="trust the CA certificates in FILE")
    parser.add_argument(
        "--proxy", metavar="URL",
        help="connect through this proxy (http://, https://, socks5://, socks5h://; "
        "default: HTTPS_PROXY / HTTP_PROXY / ALL_PROXY / NO_PROXY)",
    )  # fmt: skip
    parser.add_argument(
        "--no-proxy-env", action="store_true", help="ignore the proxy environment variables"
    )
    parser.add_argument(
        "--insecure", action="store_true", help="do not verify the server's TLS certificate"
    )
    parser.add_argument(
        "--compress", action="store_true", help="offer permessage-deflate compression"
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=1.0,
        metavar="S",
        help="keep receiving S s after the end of input",
    )
    parser.add_argument("--json", action="store_true", help="JSON lines on stdout")
    tests = parser.add_argument_group("testing a server")
    tests.add_argument(
        "--stop-reading-after", type=float, metavar="S",
        help="stop reading after S s (a slow consumer: the socket fills up, pings go unanswered)",
    )  # fmt: skip
    tests.add_argument(
        "--receive-buffer", type=int, default=1024, metavar="N", help="messages held unread"
    )
    tests.add_argument(
        "--stop-pongs-after", type=int, metavar="N",
        help="answer N pings per connection, then none (the server should drop us)",
    )  # fmt: skip
    tests.add_argument(
        "--close-after", type=float, metavar="S",
        help="S s after connecting, close with --close-code and exit",
    )  # fmt: skip
    tests.add_argument(
        "--close-code", type=int, default=1000, metavar="C", help="close code for --close-after"
    )
    return parser


def _payload(text: str) -> Message:
    if text.startswith("hex:"):
        try:
            return bytes.fromhex(text[4:])
        except ValueError:
            raise UsageError(f"not hex: {text!r}") from None
    return text


def _heartbeat(args: argparse.Namespace) -> Heartbeat:
    interval, timeout = args.interval, args.timeout
    reply = _payload(args.reply) if args.reply is not None else None
    if args.text is not None:
        return Heartbeat.text(
            _payload(args.text), interval=interval, reply_timeout=timeout, reply=reply
        )
    if args.server is not None:
        answer = _payload(args.answer) if args.answer is not None else None
        return Heartbeat.server_sent(
            _payload(args.server),
            interval=interval,
            silence_timeout=interval + timeout,
            answer=answer,
        )
    if args.idle is not None:
        return Heartbeat.idle_probe(_payload(args.idle), interval=interval, reply_timeout=timeout)
    if args.no_heartbeat:
        return Heartbeat.disabled()
    return Heartbeat.ping(interval=interval, reply_timeout=timeout)


def _headers(raw: Sequence[str]) -> tuple[tuple[str, str], ...]:
    headers = []
    for item in raw:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise UsageError("a header is 'NAME: VALUE' (its value is not shown here)")
        headers.append((name.strip(), value.strip()))
    return tuple(headers)


def _ssl_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    if args.cacert is None and not args.insecure:
        return None
    try:
        context = ssl.create_default_context(cafile=args.cacert)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"cannot load the CA file {args.cacert!r}: {exc}") from None
    if args.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def configure(args: argparse.Namespace) -> tuple[Heartbeat, ReconnectPolicy, ConnectionOptions]:
    """The connection's settings from the command line; :class:`UsageError` if they are bad."""
    try:
        heartbeat = _heartbeat(args)
        policy = ReconnectPolicy(
            wait_initial=args.wait_initial,
            wait_max=args.wait_max,
            max_attempts=args.max_attempts,
        )
        fields: dict[str, Any] = {"extra_headers": _headers(args.header)}
        if args.compress:
            fields.update(transport=Transport.WEBSOCKETS, compression=PerMessageDeflate())
        options = ConnectionOptions(
            subprotocols=tuple(args.subprotocol),
            ssl_context=_ssl_context(args),
            receive_buffer_size=args.receive_buffer,
            connect_timeout=args.connect_timeout,
            proxy=args.proxy,
            proxy_from_environment=not args.no_proxy_env,
            **fields,
        )
    except (ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from None
    if args.wait < 0:
        raise UsageError("--wait must be >= 0 seconds")
    for flag in ("stop_reading_after", "close_after"):
        if getattr(args, flag) is not None and getattr(args, flag) < 0:
            raise UsageError(f"--{flag.replace('_', '-')} must be >= 0 seconds")
    if args.stop_pongs_after is not None and args.stop_pongs_after < 0:
        raise UsageError("--stop-pongs-after must be >= 0")
    if not v.close_code.test(args.close_code):
        raise UsageError(f"--close-code {args.close_code} may not be sent")
    return heartbeat, policy, options


def safe_url(url: str) -> str:
    """``url`` without user info or query (they may hold secrets)."""
    target = parse_url(url)
    scheme = "wss" if target.secure else "ws"
    return f"{scheme}://{target.host_header}{target.resource.split('?')[0]}"


class Reporter:
    """Where messages and status go: stdout/stderr, plain, live line or JSON lines."""

    def __init__(self, out: TextIO, err: TextIO, *, as_json: bool) -> None:
        self.out, self.err, self.as_json = out, err, as_json
        self.live = not as_json and err.isatty()
        self._line_shown = False

    def message(self, message: Message) -> None:
        self._clear()
        if self.as_json:
            if isinstance(message, str):
                self._json({"event": "message", "text": message})
            else:
                self._json({"event": "message", "binary": base64.b64encode(message).decode()})
            return
        text = message if isinstance(message, str) else "hex:" + message.hex()
        print(text, file=self.out, flush=True)

    def status(self, event: str, text: str, **fields: Any) -> None:
        if self.as_json:
            self._json({"event": event, **fields})
        elif self.live:
            self.err.write(f"\r\x1b[2K{text}")
            self.err.flush()
            self._line_shown = True
        else:
            print(text, file=self.err, flush=True)

    def final(self, text: str) -> None:
        """A last word on stderr (also in JSON mode: it is for the person)."""
        self._clear()
        print(text, file=self.err, flush=True)

    def end(self) -> None:
        """The run is over: end a live status line so the shell prompt starts afresh."""
        if self._line_shown:
            self.err.write("\n")
            self.err.flush()
            self._line_shown = False

    def _clear(self) -> None:
        if self._line_shown:
            self.err.write("\r\x1b[2K")
            self.err.flush()
            self._line_shown = False

    def _json(self, record: dict[str, Any]) -> None:
        print(json.dumps(record), file=self.out, flush=True)


def describe(change: StateChange) -> tuple[str, str, dict[str, Any]]:
    """(event name, status text, JSON fields) of a state change."""
    if isinstance(change, Connecting):
        return "connecting", f"connecting (attempt {change.attempt})", {"attempt": change.attempt}
    if isinstance(change, Connected):
        fields = {"attempt": change.attempt, "subprotocol": change.subprotocol}
        return "connected", f"connected (attempt {change.attempt})", fields
    if isinstance(change, Disconnected):
        reason = str(change.cause)
        fields = {"code": change.code, "reason": reason, "was_connected": change.was_connected}
        return "disconnected", f"disconnected: {reason}", fields
    if isinstance(change, WaitingToReconnect):
        return "waiting", f"waiting {change.delay:.1f} s", {"delay": change.delay}
    if isinstance(change, MessagesDropped):
        fields = {"count": change.count, "reason": change.reason}
        return "dropped", f"{change.count} message(s) dropped: {change.reason}", fields
    if isinstance(change, GaveUp):
        return "gave_up", f"gave up: {change.error}", {"reason": str(change.error)}
    if isinstance(change, StateChangesDropped):
        fields = {"count": change.count}
        return "changes_dropped", f"{change.count} state change(s) not kept (read too late)", fields
    assert isinstance(change, Closed)
    return "closed", "closed", {"undelivered": len(change.undelivered)}


class Session:
    """One run of the CLI: the connection and its four tasks."""

    def __init__(self, ws: ManagedWebSocket, report: Reporter, args: argparse.Namespace) -> None:
        self.ws, self.report, self.wait = ws, report, args.wait
        self.stop_reading: float | None = args.stop_reading_after
        self.close_after: float | None = args.close_after
        self.close_code: int = args.close_code
        self.gave_up: ReconnectGaveUp | None = None
        self._scope = trio.CancelScope()

    async def run(self, stdin: trio.abc.ReceiveStream) -> None:
        async with trio.open_nursery() as nursery:
            self._scope = nursery.cancel_scope
            nursery.start_soon(self._guard, self._status)
            nursery.start_soon(self._guard, self._rtt)
            nursery.start_soon(self._guard, self._receive)
            if self.close_after is not None:
                nursery.start_soon(self._guard, self._close_later, self.close_after)
            await self._guard(self._send_lines, stdin)
            await self._guard(self.ws.drain)
            await trio.sleep(self.wait)
            nursery.cancel_scope.cancel()

    async def _guard(self, fn: Any, *args: Any) -> None:
        try:
            await fn(*args)
        except ReconnectGaveUp as exc:
            self.gave_up = exc
            self._scope.cancel()

    async def _status(self) -> None:
        async for change in self.ws.state_changes:
            event, text, fields = describe(change)
            self.report.status(event, text, **fields)

    async def _rtt(self) -> None:
        last = None
        while True:
            await trio.sleep(RTT_POLL_INTERVAL)
            rtt = self.ws.statistics().rtt_last
            if rtt is not None and rtt != last:
                last = rtt
                self.report.status("rtt", f"connected, rtt {rtt * 1000:.1f} ms", rtt=rtt)

    async def _close_later(self, delay: float) -> None:
        await self.ws.wait_connected()
        await trio.sleep(delay)
        self.report.status("closing", f"closing with code {self.close_code} (--close-after)")
        self.ws.reconnect_now(code=self.close_code)  # closed politely as the block is left
        self._scope.cancel()

    async def _receive(self) -> None:
        limit = math.inf if self.stop_reading is None else self.stop_reading
        with trio.move_on_after(limit) as scope:
            async for message in self.ws:
                self.report.message(message)
        if scope.cancelled_caught:
            self.report.status("stopped_reading", "stopped reading (--stop-reading-after)")

    async def _send_lines(self, stdin: trio.abc.ReceiveStream) -> None:
        pending = b""
        async for chunk in stdin:
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                await self._send(line)
        if pending:
            await self._send(pending)

    async def _send(self, line: bytes) -> None:
        text = line.rstrip(b"\r").decode("utf-8", errors="replace")
        while True:
            try:
                await self.ws.send(text)
            except SendBufferFull:
                await self.ws.wait_connected()  # down and full: wait for the link
            else:
                return


async def _cancel_on_ctrl_c(
    scope: trio.CancelScope,
    hit: list[bool],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    with trio.open_signal_receiver(signal.SIGINT) as signals:
        task_status.started()
        async for _ in signals:
            hit.append(True)
            scope.cancel()
            return


async def run(args: argparse.Namespace, stdin: trio.abc.ReceiveStream, report: Reporter) -> int:
    """Run the client; return the exit status (:class:`UsageError` for bad flags)."""
    heartbeat, policy, options = configure(args)
    url = safe_url(args.url)
    interrupted: list[bool] = []
    report.status("start", f"connecting to {url}", url=url)
    session: Session | None = None
    on_connect = None
    if args.stop_pongs_after is not None:
        count: int = args.stop_pongs_after

        async def on_connect(link: LiveLink) -> None:
            link._stop_pongs_after(count)  # the CLI's engines (DIRECT, WEBSOCKETS) support it

    async with trio.open_nursery() as nursery:
        await nursery.start(_cancel_on_ctrl_c, nursery.cancel_scope, interrupted)
        async with open_managed_websocket(
            args.url, heartbeat=heartbeat, reconnect=policy, options=options, on_connect=on_connect
        ) as ws:
            session = Session(ws, report, args)
            await session.run(stdin)
        nursery.cancel_scope.cancel()
    if interrupted:
        report.final("interrupted")
        return EXIT_INTERRUPTED
    if session is not None and session.gave_up is not None:
        report.final(f"gave up: {session.gave_up}")
        return EXIT_GAVE_UP
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """The console script: parse ``argv``, run, return the exit status."""
    args = build_parser().parse_args(argv)
    report = Reporter(sys.stdout, sys.stderr, as_json=args.json)
    try:
        configure(args)  # fail before any I/O
        safe_url(args.url)
    except UsageError as exc:
        report.final(f"trio-heartbeat: {exc}")
        return EXIT_USAGE

    async def start() -> int:
        stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
        async with stdin:
            return await run(args, stdin, report)

    try:
        try:
            return trio.run(start)
        except BaseExceptionGroup as group:
            raise leaf_exceptions(group)[0] from None
        finally:
            report.end()
    except UsageError as exc:
        report.final(f"trio-heartbeat: {exc}")
        return EXIT_USAGE
    except HeartbeatError as exc:  # not expected: every loss is retried or gives up
        report.final(f"trio-heartbeat: {exc}")
        return EXIT_GAVE_UP
    except KeyboardInterrupt:  # Ctrl-C before the signal receiver was installed
        report.final("interrupted")
        return EXIT_INTERRUPTED
