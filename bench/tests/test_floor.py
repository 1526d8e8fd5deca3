"""The hot-path floors: frame splitting, the one-checkpoint-per-message reader, masking."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from bench._floor import FrameReader, masked_frame, split_frame, split_only, unmask
from bench._server import _binary_frame


@pytest.mark.parametrize("size", [0, 1, 100, 125, 126, 65535, 65536, 70000])
def test_split_frame_finds_each_header_form(size: int) -> None:
    frame = _binary_frame(size)
    header = len(frame) - size
    assert split_frame(frame, 0) == (header, header + size)
    # Every strict prefix is incomplete: no boundary is guessed.
    for cut in {0, 1, header - 1, header, len(frame) - 1} - {len(frame)}:
        if 0 <= cut < len(frame):
            assert split_frame(frame[:cut], 0) is None


def test_split_frame_walks_back_to_back_frames_from_an_offset() -> None:
    wire = b"junk" + _binary_frame(3) + _binary_frame(200) + _binary_frame(70000)
    offset, sizes = 4, []
    while (frame := split_frame(wire, offset)) is not None:
        sizes.append(frame[1] - frame[0])
        offset = frame[1]
    assert sizes == [3, 200, 70000]
    assert offset == len(wire)


def test_split_frame_rejects_a_masked_frame() -> None:
    with pytest.raises(ValueError, match="masked"):
        split_frame(masked_frame(b"abc"), 0)


class _Chunks(trio.abc.ReceiveStream):
    """Returns the given chunks one per ``receive_some``, then EOF; counts the reads."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.reads = 0

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        await trio.lowlevel.checkpoint()
        self.reads += 1
        return self.chunks.pop(0) if self.chunks else b""

    async def aclose(self) -> None:
        pass


def _chunked(wire: bytes, step: int) -> list[bytes]:
    return [wire[i : i + step] for i in range(0, len(wire), step)]


@pytest.mark.parametrize("step", [1, 7, 130, 1 << 20])
async def test_frame_reader_returns_each_message_whatever_the_read_boundaries(step: int) -> None:
    payloads = [b"a" * 5, b"", b"b" * 126, bytes(range(256)) * 300]
    wire = b"".join(_binary_frame(len(p))[: -len(p) or None] + p for p in payloads)
    reader = FrameReader(_Chunks(_chunked(wire[3:], step)), wire[:3])
    assert [await reader.receive() for _ in payloads] == payloads
    with pytest.raises(EOFError):
        await reader.receive()


async def test_frame_reader_checkpoints_once_per_buffered_message() -> None:
    # All ten frames arrive in one read; each receive() must still be a checkpoint.
    reader = FrameReader(_Chunks([_binary_frame(10) * 10]))
    with trio.testing.assert_checkpoints():
        await reader.receive()  # the read
    for _ in range(9):
        with trio.testing.assert_checkpoints():
            assert await reader.receive() == b"x" * 10


async def test_split_only_reads_exactly_as_far_as_count_frames() -> None:
    stream = _Chunks(_chunked(_binary_frame(100) * 50, 1000))
    await split_only(stream, b"", 50)
    assert stream.reads == 6  # 5,100 bytes in 1,000-byte reads
    with pytest.raises(EOFError):
        await split_only(_Chunks([_binary_frame(100)[:50]]), b"", 1)


def test_masked_frame_uses_a_fresh_key_and_masks_the_payload() -> None:
    payload = bytes(range(256)) * 257  # 65,792 bytes: the 64-bit length form
    frames = [masked_frame(payload) for _ in range(3)]
    assert len({f[10:14] for f in frames}) == 3
    assert all(unmask(f) == payload for f in frames)
    fixed = masked_frame(b"hello", b"\x01\x02\x03\x04")
    assert fixed[:2] == bytes([0x82, 0x85])
    assert fixed[2:6] == b"\x01\x02\x03\x04"
    assert fixed[6:] == bytes(a ^ b for a, b in zip(b"hello", b"\x01\x02\x03\x04\x01", strict=True))
    assert masked_frame(b"y" * 300, b"\0\0\0\0")[:4] == bytes([0x82, 0xFE, 0x01, 0x2C])
