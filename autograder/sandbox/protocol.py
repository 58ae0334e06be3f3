"""Length-prefixed messages between the grader and the student process.

A message is 8 bytes of big-endian length followed by a ``torch.save`` payload. Payloads are
always decoded with ``torch.load(..., weights_only=True)``, whose unpickler only rebuilds tensors
and plain containers, so a hostile student process cannot run code in the grader by sending a
crafted pickle.

The grader also bounds the work a message can cost it, before ``torch.load`` sees a byte:

* every send and every receive has a deadline (``send(..., deadline=)``, ``recv(..., deadline=)``);
  a peer that stops reading (or shrinks its pipe and stops reading) cannot block the grader;
* a message is announced with its size, which must be within ``WireLimits.message_bytes``;
* the payload must be the zip archive ``torch.save`` writes, with every entry STORED (torch never
  compresses; a deflated entry is a decompression bomb), the pickle entry within
  ``WireLimits.pickle_bytes`` (the unpickler's time grows with it) and at most
  ``WireLimits.entries`` entries.
"""

from __future__ import annotations

import io
import os
import select
import struct
import time
import zipfile
from dataclasses import dataclass
from typing import Any

HEADER_BYTES = 8


@dataclass(frozen=True)
class WireLimits:
    """What one message may cost to decode."""

    message_bytes: int  # the whole torch.save archive
    pickle_bytes: int  # its data.pkl entry
    entries: int  # its zip entries (one per tensor storage, plus 4)


# What the student process may send: an honest reply is below 1 MB, with a pickle below 16 KB
# and 60 entries (measured on every probe of a grading of the reference solution).
REPLY_LIMITS = WireLimits(message_bytes=64 << 20, pickle_bytes=512 << 10, entries=4096)
# What the grader sends (data sets for compare_runs): trusted, bounded only against mistakes.
REQUEST_LIMITS = WireLimits(message_bytes=1 << 30, pickle_bytes=64 << 20, entries=1 << 16)
MAX_MESSAGE_BYTES = REPLY_LIMITS.message_bytes


class ProtocolError(RuntimeError):
    """The other side sent something that is not a well-formed message."""


class ChannelClosed(ProtocolError):
    """End of file: the other side closed the channel or died."""


class ChannelTimeout(TimeoutError):
    """A message could not be sent or received before its deadline."""


class ReplyTimeout(ChannelTimeout):
    """No complete message arrived before the deadline."""


class SendTimeout(ChannelTimeout):
    """The other side did not read the whole message before the deadline."""


def encode(obj: Any) -> bytes:
    buf = io.BytesIO()
    import torch  # here, not at import: the grader's commands that grade nothing stay light

    torch.save(obj, buf)
    payload = buf.getvalue()
    return len(payload).to_bytes(HEADER_BYTES, "big") + payload


_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # zip local file header (30 bytes)


def check_archive(payload: bytes, limits: WireLimits = REPLY_LIMITS) -> None:
    """Refuse a payload that is not a plain ``torch.save`` archive within ``limits``.

    Both the central directory and each entry's local header are read (torch's zip reader and
    Python's may trust different ones): every entry STORED, its sizes consistent, their sum and
    the pickle's size within the limits.
    """
    if len(payload) > limits.message_bytes:
        raise ProtocolError(
            f"a message of {len(payload)} bytes; the limit is {limits.message_bytes}"
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(payload))
        infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise ProtocolError(f"not a torch.save archive ({exc})") from None
    if len(infos) > limits.entries:
        raise ProtocolError(f"{len(infos)} archive entries; the limit is {limits.entries}")
    total = 0
    pickles = 0
    for info in infos:
        if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
            raise ProtocolError(f"compressed archive entry {info.filename[:80]!r}")
        start = info.header_offset
        header = payload[start : start + _LOCAL_HEADER.size]
        if len(header) < _LOCAL_HEADER.size:
            raise ProtocolError("truncated archive entry")
        fields = _LOCAL_HEADER.unpack(header)
        if fields[0] != b"PK\x03\x04" or fields[4] != zipfile.ZIP_STORED:
            raise ProtocolError(f"archive entry {info.filename[:80]!r} is not stored as announced")
        total += info.file_size
        if info.filename.endswith("/data.pkl") or info.filename == "data.pkl":
            pickles += 1
            if info.file_size > limits.pickle_bytes:
                raise ProtocolError(
                    f"a pickle of {info.file_size} bytes; the limit is {limits.pickle_bytes}"
                )
    if pickles != 1:
        raise ProtocolError(f"{pickles} pickle entries in the archive; expected 1")
    if total > limits.message_bytes:
        raise ProtocolError(
            f"{total} bytes of archive content; the limit is {limits.message_bytes}"
        )


def decode(payload: bytes, limits: WireLimits = REPLY_LIMITS) -> Any:
    check_archive(payload, limits)
    try:
        import torch

        return torch.load(io.BytesIO(payload), weights_only=True, map_location="cpu")
    except Exception as exc:  # malformed or forbidden pickle content
        raise ProtocolError(f"undecodable message: {type(exc).__name__}: {exc}"[:500]) from exc


def send(
    fd: int, obj: Any, *, deadline: float | None = None, limits: WireLimits | None = None
) -> None:
    """Write one message; ``deadline`` is a ``time.monotonic()`` value (None: wait forever).

    With a deadline the descriptor is made non-blocking, so a reader that stops reading costs
    at most the time left (``SendTimeout``), however small it made its pipe. With ``limits``,
    a message the reader would refuse as too large is not sent (``ProtocolError``).
    """
    data = memoryview(encode(obj))
    if limits is not None and len(data) - HEADER_BYTES > limits.message_bytes:
        raise ProtocolError(
            f"a message of {len(data) - HEADER_BYTES} bytes; the limit is {limits.message_bytes}"
        )
    if deadline is not None:
        os.set_blocking(fd, False)
    while data:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SendTimeout
            _, ready, _ = select.select([], [fd], [], left)
            if not ready:
                raise SendTimeout
        try:
            written = os.write(fd, data)
        except BlockingIOError:
            continue
        data = data[written:]


def _read_exactly(fd: int, n: int, deadline: float | None) -> bytes:
    chunks: list[bytes] = []
    remaining = n
    while remaining:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ReplyTimeout
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                raise ReplyTimeout
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            raise ChannelClosed("channel closed")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def recv(fd: int, *, deadline: float | None = None, limits: WireLimits = REPLY_LIMITS) -> Any:
    """Read one message; ``deadline`` is a ``time.monotonic()`` value (None: wait forever)."""
    size = int.from_bytes(_read_exactly(fd, HEADER_BYTES, deadline), "big")
    if size > limits.message_bytes:
        raise ProtocolError(
            f"message of {size} bytes announced; the limit is {limits.message_bytes}"
        )
    return decode(_read_exactly(fd, size, deadline), limits)
