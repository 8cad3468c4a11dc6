-- The spans behind each exception: every span of the traces linked to it, the one the rule
-- fired on marked `offending`.
CREATE OR REPLACE VIEW evidence_spans AS
SELECT
    x.exception_id,
    s.span_id,
    s.trace_id,
    s.parent_span_id,
    s.name,
    s.status,
    s.start_at,
    s.end_at,
    (s.trace_id = e.trace_id AND s.span_id = e.span_id) AS offending,
    s.span
FROM exception_traces x
JOIN trace_spans s USING (trace_id)
JOIN exception_rows e USING (exception_id);
