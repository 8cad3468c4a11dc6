-- The spans behind each exception: every span of the traces linked to it, the one the rule
-- fired on marked `offending`. Each trace's spans are one document in `trace_evidence`.
CREATE OR REPLACE VIEW evidence_spans AS
SELECT
    x.exception_id,
    s.e ->> 0 AS span_id,
    x.trace_id,
    s.e ->> 1 AS parent_span_id,
    s.e ->> 2 AS name,
    s.e ->> 3 AS status,
    CAST(s.e ->> 4 AS TIMESTAMP) AS start_at,
    CAST(s.e ->> 5 AS TIMESTAMP) AS end_at,
    (x.trace_id = r.trace_id AND s.e ->> 0 = r.span_id) AS offending,
    CAST(s.e ->> 6 AS JSON) AS span
FROM exception_traces x
JOIN exception_rows r USING (exception_id)
JOIN trace_evidence d ON d.trace_id = x.trace_id,
LATERAL (SELECT unnest(from_json(d.spans, '["JSON"]')) AS e) s;
