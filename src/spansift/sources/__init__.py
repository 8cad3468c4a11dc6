"""Sources: everything that turns outside bytes or SDK objects into `Span` values.

- `otlp_proto`: OTLP protobuf requests to spans (`spansift.sift` decides which to build).
- `otlp_json`: OTLP/JSON documents (Collector file exporter, OTLP/HTTP JSON).
- `sdk`: the OpenTelemetry SDK's `ReadableSpan`.
- `files`: OTLP files for backfill (`.jsonl`, `.json`, `.pb`, each optionally gzipped).
"""
