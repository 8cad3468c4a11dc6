"""Reading HTTP/1.1 requests within deadlines: the socket reader and request bodies.

A connection waits for its next request for at most the idle timeout; once a
request has started, its header and then its body must arrive by a deadline,
not merely make progress (a peer sending one byte every few seconds would
otherwise hold its slot forever). Bodies come with `Content-Length` or
`Transfer-Encoding: chunked` (what the OpenTelemetry JS exporters send) and are
bounded in size either way.

Everything here blocks on one connection's socket and is used by the one thread
serving that connection.
"""

from __future__ import annotations

import contextlib
import io
import socket
import string
import time
from dataclasses import dataclass
from email.message import Message

_LINE = 4096  # longest chunk-size or trailer line accepted
_MAX_TRAILERS = 64
_HEX = frozenset(string.hexdigits.encode())


class RequestTimeoutError(Exception):
    """The request's header or body did not arrive before its deadline."""


class BodyTooLargeError(Exception):
    """The body is over the size limit (`size` is known only with `Content-Length`)."""

    def __init__(self, limit: int, size: int | None, *, drained: bool = False) -> None:
        shown = f"body of {size:,} bytes" if size is not None else "body"
        super().__init__(f"{shown} is over the limit of {limit:,} bytes")
        self.size = size
        self.drained = drained  # the rest of the body was read, so the answer can be seen


class MalformedBodyError(Exception):
    """The body's framing is broken (bad chunk size, conflicting headers, cut short)."""


class DeadlineReader(io.RawIOBase):
    """Socket reads that fail with `RequestTimeoutError` once `deadline` has passed.

    `deadline` is a `time.monotonic()` value, or None while the connection is idle
    between requests (each read then waits at most `idle_s`).
    """

    def __init__(self, sock: socket.socket, idle_s: float) -> None:
        super().__init__()
        self._sock = sock
        self.idle_s = idle_s
        self.deadline: float | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.deadline is None:
            timeout = self.idle_s
        else:
            timeout = self.deadline - time.monotonic()
            if timeout <= 0:
                msg = "the request did not arrive in time"
                raise RequestTimeoutError(msg)
        self._sock.settimeout(timeout)
        try:
            return self._sock.recv_into(buffer)
        except TimeoutError:
            if self.deadline is None:
                raise
            msg = "the request did not arrive in time"
            raise RequestTimeoutError(msg) from None


@dataclass(frozen=True, slots=True)
class Framing:
    """How a request's body is delimited: `chunked`, else `length` bytes (None: not said)."""

    chunked: bool
    length: int | None


def framing(headers: Message) -> Framing:
    """The body framing the headers announce; `MalformedBodyError` when they contradict."""
    encoding = headers.get("Transfer-Encoding")
    lengths = headers.get_all("Content-Length") or []
    if encoding is not None:
        codings = [c.strip().lower() for c in encoding.split(",")]
        if codings != ["chunked"]:
            msg = f"unsupported Transfer-Encoding {encoding!r}: send chunked or a Content-Length"
            raise MalformedBodyError(msg)
        if lengths:  # both: the way requests get smuggled past proxies (RFC 9112, 6.3)
            msg = "send either Content-Length or Transfer-Encoding: chunked, not both"
            raise MalformedBodyError(msg)
        return Framing(chunked=True, length=None)
    if not lengths:
        return Framing(chunked=False, length=None)
    if len(set(lengths)) != 1 or not lengths[0].strip().isdigit():
        msg = "Content-Length must be one non-negative number"
        raise MalformedBodyError(msg)
    return Framing(chunked=False, length=int(lengths[0]))


def read_body(rfile: io.BufferedIOBase, frame: Framing, limit: int, drain_limit: int = 0) -> bytes:
    """The whole body, at most `limit` bytes; raises the errors above, or `EOFError`.

    A chunked body found too large part way is still read and dropped up to
    `drain_limit` bytes, so the client gets to read the 413 instead of a reset.
    """
    if not frame.chunked:
        length = frame.length or 0
        if length > limit:
            raise BodyTooLargeError(limit, length)
        data = rfile.read(length)
        if len(data) < length:
            raise EOFError
        return data
    out = bytearray()
    body = _Chunked(rfile)
    try:
        body.read(out, limit)
    except BodyTooLargeError:
        out.clear()
        drained = False
        with contextlib.suppress(BodyTooLargeError, MalformedBodyError, EOFError):
            body.read(None, drain_limit)
            drained = True
        raise BodyTooLargeError(limit, None, drained=drained) from None
    return bytes(out)


def discard_body(rfile: io.BufferedIOBase, frame: Framing, max_bytes: int) -> bool:
    """Read and drop a refused body so the client sees the answer; False if it was not read."""
    try:
        if not frame.chunked:
            length = frame.length or 0
            if length > max_bytes:
                return False
            _copy(rfile, length, None)
            return True
        _Chunked(rfile).read(None, max_bytes)
    except (BodyTooLargeError, MalformedBodyError, RequestTimeoutError, EOFError, OSError):
        return False
    return True


class _Chunked:
    """A chunked body being read; it can stop at the size limit and carry on (to drain)."""

    def __init__(self, rfile: io.BufferedIOBase) -> None:
        self._rfile = rfile
        self._left = 0  # data bytes of the current chunk not read yet

    def read(self, out: bytearray | None, limit: int) -> None:
        """Read to the end of the body (trailers included), adding at most `limit` bytes.

        `BodyTooLargeError` is raised before the chunk that would pass the limit is read.
        """
        total = 0
        while True:
            if not self._left:
                self._left = _chunk_size(_line(self._rfile))
                if not self._left:
                    self._trailers()
                    return
            if total + self._left > limit:
                raise BodyTooLargeError(limit, None)
            _copy(self._rfile, self._left, out)
            total += self._left
            self._left = 0
            if _line(self._rfile).strip():
                msg = "chunk data longer than its size says"
                raise MalformedBodyError(msg)

    def _trailers(self) -> None:
        for _ in range(_MAX_TRAILERS):
            if not _line(self._rfile).strip():
                return
        msg = f"more than {_MAX_TRAILERS} trailer fields"
        raise MalformedBodyError(msg)


def _copy(rfile: io.BufferedIOBase, length: int, out: bytearray | None) -> None:
    """Read exactly `length` bytes onto `out` (None: drop them); `EOFError` if cut short."""
    while length > 0:
        data = rfile.read(min(length, 1 << 16))
        if not data:
            raise EOFError
        if out is not None:
            out += data
        length -= len(data)


def _line(rfile: io.BufferedIOBase) -> bytes:
    line = rfile.readline(_LINE + 1)
    if not line.endswith(b"\n"):
        if len(line) > _LINE:
            msg = "chunk-size or trailer line too long"
            raise MalformedBodyError(msg)
        raise EOFError
    return line


def _chunk_size(line: bytes) -> int:
    text = line.split(b";", 1)[0].strip()
    if not text or len(text) > 16 or not set(text) <= _HEX:
        msg = f"bad chunk size {text[:20]!r}"
        raise MalformedBodyError(msg)
    return int(text, 16)
