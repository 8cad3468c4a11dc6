"""Where the log's rows go besides DuckDB: OTel logs and metrics (`otel`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from spansift.export.otel import OtelExport, enabled
from spansift.store.log import ExceptionLog

__all__ = ["OtelExport", "attach_otel", "enabled"]

_LOOKUP_SQL = (
    "SELECT exception_id, trace_id, span_id, detected_at FROM exception_rows "
    "WHERE list_contains(?, exception_id)"
)
_OPEN_SQL = (
    "SELECT exception_type, coalesce(workflow, ''), severity, count(*) FROM exceptions "
    "WHERE status IN ('open', 'regressed') GROUP BY ALL"
)


def attach_otel(log: ExceptionLog, flag: bool | None = None) -> OtelExport | None:
    """When export is on (`flag`, else SPANSIFT_OTEL_EXPORT), listen to `log`'s writes."""
    if not enabled(flag):
        return None

    def lookup(ids: Sequence[str]) -> Mapping[str, tuple[str, str, datetime]]:
        _, rows = log.query(_LOOKUP_SQL, [list(ids)])
        return {str(r[0]): (str(r[1]), str(r[2]), r[3]) for r in rows}

    def open_counts() -> Iterable[tuple[tuple[str, str, str], int]]:
        _, rows = log.query(_OPEN_SQL)
        return [((str(t), str(w), str(s)), int(n)) for t, w, s, n in rows]

    exporter = OtelExport(lookup, open_counts)
    log.listeners.append(exporter.listener)
    return exporter
