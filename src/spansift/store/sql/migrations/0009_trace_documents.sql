-- Evidence is one document per trace instead of one row per span: `spans` is a JSON array
-- with one element per span, [span_id, parent_span_id, name, status, start_at, end_at, span]
-- (times as ISO text with microseconds, `span` the span's JSON as text, exactly as written).
-- A span arriving after its trace was written is appended to the array. `evidence_spans`
-- keeps its columns (see sql/views/evidence_spans.sql).
CREATE TABLE trace_evidence (
    trace_id VARCHAR PRIMARY KEY,
    spans    JSON NOT NULL
);

INSERT INTO trace_evidence
SELECT trace_id,
       to_json(list(json_array(
           span_id, parent_span_id, name, status,
           strftime(start_at, '%Y-%m-%dT%H:%M:%S.%f'), strftime(end_at, '%Y-%m-%dT%H:%M:%S.%f'),
           CAST(span AS VARCHAR)
       ) ORDER BY start_at, span_id))
FROM trace_spans
GROUP BY trace_id;

DROP VIEW IF EXISTS evidence_spans;
DROP TABLE trace_spans;
