"""The byte stream under every client link: observed, abortable, and flat on plain TCP.

:class:`ObservedStream` records when bytes last arrived (``last_receive``), so
that liveness sees a large message arriving slowly, not only complete
messages, counts bytes each way, and can be aborted at once (a dead peer is
never politely awaited).

Over a plain TCP socket (``trio.SocketStream``, on POSIX) it also takes the
short way: a write or read that the socket can do at once is one ``os.write``
or ``os.read`` on the socket's descriptor between trio's two checkpoint halves
(``checkpoint_if_cancelled`` before, ``cancel_shielded_checkpoint`` after),
which is what ``trio.SocketStream`` does itself, minus about a dozen coroutine
layers per call; only when the socket would block does it wait, with
``trio.lowlevel.wait_readable`` or trio's own ``send_all`` for the rest.
:meth:`ObservedStream.write_now` writes without any checkpoint (heartbeat
frames: the sender checkpoints in its next sleep). Anything else (TLS, a
proxy's stream, memory streams, Windows) goes through the inner stream.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import trio

__all__ = ["ObservedStream"]

Data = bytes | bytearray | memoryview

_FLAT = os.name == "posix"


class ObservedStream(trio.abc.Stream):
    """A stream that records when bytes last arrived and counts bytes each way.

    ``last_receive`` is a ``trio.current_time()`` reading; ``closed_event`` is
    set once the stream hits end-of-file, breaks, or is closed. While
    ``screen`` is set (during an engine's opening handshake) it sees every
    chunk received before the engine does, and returns False to withhold it:
    the receiving task then waits until the stream is closed.

    Errors are trio's: ``trio.BrokenResourceError`` when the peer is gone,
    ``trio.ClosedResourceError`` after a close, ``trio.BusyResourceError`` for
    two writers (or two readers) at once.
    """

    def __init__(self, inner: trio.abc.Stream) -> None:
        self.inner = inner
        self.last_receive = trio.current_time()
        self.bytes_in = 0
        self.bytes_out = 0
        self.closed_event = trio.Event()
        self.screen: Callable[[bytes | bytearray], bool] | None = None
        # The trio socket of a plain TCP stream: the short way (None: the long way).
        self._socket = inner.socket if _FLAT and isinstance(inner, trio.SocketStream) else None
        self._writing = False
        self._reading = False

    def _broken(self, exc: OSError) -> trio.BrokenResourceError:
        self.closed_event.set()
        error = trio.BrokenResourceError(f"socket connection broken: {exc}")
        error.__cause__ = exc
        return error

    def _fd(self) -> int:
        """The socket's descriptor, read at every use: a closed socket's number
        may already belong to another connection."""
        assert self._socket is not None
        fd = self._socket.fileno()
        if fd < 0:
            self.closed_event.set()
            raise trio.ClosedResourceError("the stream was closed")
        return fd

    def write_now(self, data: Data) -> int:
        """Write what the socket takes without blocking, with no checkpoint.

        Returns the number of bytes written: 0 when the socket would block,
        when another write is under way, or when the stream is not a plain
        TCP socket (the caller then sends the rest with :meth:`send_all`,
        before anything else it writes).
        """
        if self._socket is None or self._writing:
            return 0
        try:
            sent = os.write(self._fd(), data)
        except BlockingIOError:
            return 0
        except OSError as exc:
            raise self._broken(exc) from None
        self.bytes_out += sent
        return sent

    async def send_all(self, data: Data) -> None:
        if self._socket is None:
            try:
                await self.inner.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self.closed_event.set()
                raise
            self.bytes_out += len(data)
            return
        if self._writing:
            raise trio.BusyResourceError("another task is writing to this stream")
        await trio.lowlevel.checkpoint_if_cancelled()
        sent = self.write_now(data)
        if sent == len(data):
            self._writing = True  # no other writer may slip in before our yield
            try:
                await trio.lowlevel.cancel_shielded_checkpoint()
            finally:
                self._writing = False
            return
        self._writing = True
        try:
            await self.inner.send_all(memoryview(data)[sent:])
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.closed_event.set()
            raise
        finally:
            self._writing = False
        self.bytes_out += len(data) - sent

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        if self._socket is None or self.screen is not None:
            return await self._receive_inner(max_bytes)
        # The short way, in this one coroutine (an idle link waits in it, and a
        # frame per layer per message is garbage the collector must walk).
        if self._reading:
            raise trio.BusyResourceError("another task is reading from this stream")
        await trio.lowlevel.checkpoint_if_cancelled()
        self._reading = True
        waited = False
        try:
            while True:
                try:
                    data = os.read(self._fd(), max_bytes or 65536)
                    break
                except BlockingIOError:
                    waited = True
                except OSError as exc:
                    raise self._broken(exc) from None
                # Outside the handler: a wait inside it would keep the
                # BlockingIOError and its traceback alive for as long as it waits.
                await trio.lowlevel.wait_readable(self._socket)
        except trio.ClosedResourceError:
            self.closed_event.set()
            raise
        finally:
            self._reading = False
        if not waited:
            await trio.lowlevel.cancel_shielded_checkpoint()
        if data:
            self.last_receive = trio.current_time()
            self.bytes_in += len(data)
        else:
            self.closed_event.set()
        return data

    async def _receive_inner(self, max_bytes: int | None) -> bytes | bytearray:
        """The long way: the wrapped stream's ``receive_some``, screened if asked."""
        try:
            data = await self.inner.receive_some(max_bytes)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.closed_event.set()
            raise
        if data:
            self.last_receive = trio.current_time()
            self.bytes_in += len(data)
            if self.screen is not None and not self.screen(data):
                await self.closed_event.wait()
                raise trio.ClosedResourceError("the stream was closed (answer withheld)")
        else:
            self.closed_event.set()
        return data

    async def aclose(self) -> None:
        self.closed_event.set()
        await self.inner.aclose()

    async def abort(self) -> None:
        """Close at once, without any goodbye (a dead peer will not answer one)."""
        self.closed_event.set()
        with trio.CancelScope(shield=True):
            await trio.aclose_forcefully(self.inner)
