"""`spansift ingest --via-serve`: send OTLP files to the `spansift serve` holding the log.

While a receiver holds the database no other process may write it, so a backfill
goes through the receiver's OTLP/HTTP endpoint like any exporter: each JSON line
or protobuf message is one request, acknowledged once the receiver has spooled
it. 503 and 429 answers are retried after their `Retry-After`, as exporters do.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import click
from google.protobuf.message import DecodeError
from google.rpc import status_pb2

from spansift.model import Origin
from spansift.remote import ServerInfo, open_url
from spansift.sources.files import Chunk, iter_file, iter_paths
from spansift.sources.otlp_proto import count_spans

TIMEOUT_S = 60.0
RETRY_FOR_S = 300.0  # how long one request is retried while the receiver is busy
_RETRYABLE = (429, 503)


@dataclass(slots=True)
class Forwarded:
    """What was sent: files, requests and spans acknowledged, and inputs refused."""

    files: int = 0
    requests: int = 0
    spans: int = 0
    rejected: list[str] = field(default_factory=list)
    interrupted: bool = False


def forward(
    paths: Sequence[Path],
    server: ServerInfo,
    token: str | None,
    on_progress: Callable[[Path, int], None],
    should_stop: Callable[[], bool],
) -> Forwarded:
    """POST every request in `paths` to `server`; problems are collected, reading goes on."""
    done = Forwarded()
    for path in iter_paths(list(paths)):
        done.files += 1
        for chunk in iter_file(path):
            if chunk.error is not None:
                done.rejected.append(str(chunk.error))
            else:
                _send(server, token, chunk, done)
            on_progress(path, chunk.offset)
            if should_stop():
                done.interrupted = True
                return done
    return done


def _send(server: ServerInfo, token: str | None, chunk: Chunk, done: Forwarded) -> None:
    if chunk.request is not None:
        body = chunk.body or chunk.request.SerializeToString()
        media = "application/x-protobuf"
        spans = count_spans(chunk.request)
    else:
        body, media, spans = chunk.raw, "application/json", len(chunk.spans or ())
    headers = {"Content-Type": media}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    deadline = time.monotonic() + RETRY_FOR_S
    while True:
        request = urllib.request.Request(server.url + "/v1/traces", data=body, headers=headers)
        try:
            with open_url(server, request, TIMEOUT_S):
                done.requests += 1
                done.spans += spans
                return
        except urllib.error.HTTPError as exc:
            with exc:
                detail = _detail(exc.read(4096), media)
                retry_after = exc.headers.get("Retry-After", "1")
            if exc.code == 401:
                msg = (
                    f"the receiver at {server.url} needs a token: pass --token (or SPANSIFT_TOKEN)"
                )
                raise click.ClickException(msg) from None
            if exc.code in _RETRYABLE and time.monotonic() < deadline:
                time.sleep(float(retry_after) if retry_after.isdigit() else 1.0)
                continue
            done.rejected.append(f"{_where(chunk.origin)}: receiver answered {exc.code}: {detail}")
            return
        except (urllib.error.URLError, OSError) as exc:
            msg = f"no receiver at {server.url} ({exc}); start it, or ingest without --via-serve"
            raise click.ClickException(msg) from None


def _detail(body: bytes, media: str) -> str:
    """The message of a refusal: a `google.rpc.Status` in the request's encoding."""
    if media == "application/x-protobuf":
        try:
            return str(status_pb2.Status.FromString(body).message)
        except DecodeError:
            pass
    text = body.decode(errors="replace").strip()
    try:
        return str(json.loads(text)["message"])
    except (ValueError, KeyError, TypeError):
        return text[:300]


def _where(origin: Origin) -> str:
    return f"{origin.path}:{origin.line}" if origin.line else origin.path
