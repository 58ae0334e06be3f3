"""Length-prefixed messages between the grader and the student process.

A message is 8 bytes of big-endian length followed by a ``torch.save`` payload. Payloads are
always decoded with ``torch.load(..., weights_only=True)``, whose unpickler only rebuilds tensors
and plain containers, so a hostile student process cannot run code in the grader by sending a
crafted pickle.
"""

from __future__ import annotations

import io
import os
import select
import time
from typing import Any

import torch

HEADER_BYTES = 8
MAX_MESSAGE_BYTES = 1 << 30  # 1 GiB: far above any legitimate reply


class ProtocolError(RuntimeError):
    """The other side sent something that is not a well-formed message."""


class ChannelClosed(ProtocolError):
    """End of file: the other side closed the channel or died."""


class ReplyTimeout(TimeoutError):
    """No complete message arrived before the deadline."""


def encode(obj: Any) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    payload = buf.getvalue()
    return len(payload).to_bytes(HEADER_BYTES, "big") + payload


def decode(payload: bytes) -> Any:
    try:
        return torch.load(io.BytesIO(payload), weights_only=True, map_location="cpu")
    except Exception as exc:  # malformed or forbidden pickle content
        raise ProtocolError(f"undecodable message: {type(exc).__name__}: {exc}") from exc


def send(fd: int, obj: Any) -> None:
    data = memoryview(encode(obj))
    while data:
        written = os.write(fd, data)
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


def recv(fd: int, *, deadline: float | None = None) -> Any:
    """Read one message; ``deadline`` is a ``time.monotonic()`` value (None: wait forever)."""
    size = int.from_bytes(_read_exactly(fd, HEADER_BYTES, deadline), "big")
    if size > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message of {size} bytes announced; the limit is {MAX_MESSAGE_BYTES}")
    return decode(_read_exactly(fd, size, deadline))
