"""Sources: everything that turns outside bytes or SDK objects into `Span` values.

- `otlp_proto`: OTLP protobuf requests, with a fast path for the ingest hot loop.
- `otlp_json`: OTLP/JSON documents (Collector file exporter, OTLP/HTTP JSON).
- `sdk`: the OpenTelemetry SDK's `ReadableSpan`.
- `files`: OTLP files for backfill (`.jsonl`, `.json`, `.pb`, each optionally gzipped).
"""
