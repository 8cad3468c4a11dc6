"""Run state as text: the compact records of a trace, written while its run is open.

`dump` and `load` round-trip what `normalize.compact` keeps (span identity, timing,
status, redacted attributes and events, canonical fields and notes), so a run restored
after a restart judges its earlier traces exactly as before.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from spansift.evidence import scrub
from spansift.model import AttrValue, Event, Span, SpanKind, SpanRecord, StatusCode


def _default(value: Any) -> str:
    """What JSON cannot hold: bytes by their size, anything else as text."""
    return f"<{len(value)} bytes>" if isinstance(value, bytes) else str(value)


# Tuples become arrays and bytes their size in the encoder itself: fields and resources,
# which are not scrubbed, need no copy on the way (`_plain` is for attribute text).
_encode = json.JSONEncoder(separators=(",", ":"), default=_default).encode


def _plain(value: Any, scrubbed: bool = False) -> Any:
    """JSON-ready; attribute text `scrubbed` as evidence is (run state is stored, like rows).

    Fields are the normalizers' values (names, decisions, digests) and stay as they are.
    """
    if isinstance(value, str):
        return scrub(value) if scrubbed else value
    if isinstance(value, tuple):
        return [_plain(v, scrubbed) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v, scrubbed) for k, v in value.items()}
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


def _value(value: Any) -> AttrValue:
    if isinstance(value, list):
        return tuple(_value(v) for v in value)
    if isinstance(value, dict):
        return {str(k): _value(v) for k, v in value.items()}
    return value  # type: ignore[no-any-return]


def thawed(value: Any) -> dict[str, AttrValue]:
    """Attributes (or fields) from decoded JSON: arrays back to tuples."""
    return {str(k): _value(v) for k, v in value.items()} if isinstance(value, dict) else {}


def dump(records: Sequence[SpanRecord]) -> str:
    """The records as one JSON document."""
    out = []
    for record in records:
        s = record.span
        out.append(
            {
                "t": s.trace_id, "s": s.span_id, "p": s.parent_span_id, "n": s.name,
                "k": int(s.kind), "b": s.start_ns, "e": s.end_ns, "c": int(s.status),
                "m": scrub(s.status_message), "a": _plain(s.attributes, True),
                "r": s.resource, "o": s.scope, "i": record.item, "f": record.fields,
                "v": [[e.name, e.time_ns, _plain(e.attributes, True)] for e in s.events],
            }
        )  # fmt: skip
    return _encode(out)


def load(text: str) -> list[SpanRecord]:
    """Records from `dump`; entries that do not parse are left out."""
    try:
        items = json.loads(text)
    except ValueError:
        return []
    out: list[SpanRecord] = []
    for item in items if isinstance(items, list) else ():
        try:
            span = Span(
                trace_id=str(item["t"]),
                span_id=str(item["s"]),
                parent_span_id=item["p"],
                name=str(item["n"]),
                kind=SpanKind(int(item["k"])),
                start_ns=int(item["b"]),
                end_ns=int(item["e"]),
                status=StatusCode(int(item["c"])),
                status_message=str(item["m"]),
                attributes=thawed(item["a"]),
                events=tuple(Event(str(n), int(t), thawed(a)) for n, t, a in item["v"]),
                resource=thawed(item["r"]),
                scope=str(item["o"]),
            )
            out.append(SpanRecord(span, thawed(item["f"]), str(item["i"])))
        except (KeyError, TypeError, ValueError):
            continue
    return out
