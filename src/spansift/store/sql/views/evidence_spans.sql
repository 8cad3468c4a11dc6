-- The spans behind each exception: every span of the traces linked to it, the one the rule
-- fired on marked `offending`. Each trace's spans are one document in `trace_evidence`,
-- unnested after the join, so a query for one exception reads only its traces' documents.
CREATE OR REPLACE VIEW evidence_spans AS
SELECT
    exception_id,
    e ->> 0 AS span_id,
    trace_id,
    e ->> 1 AS parent_span_id,
    e ->> 2 AS name,
    e ->> 3 AS status,
    CAST(e ->> 4 AS TIMESTAMP) AS start_at,
    CAST(e ->> 5 AS TIMESTAMP) AS end_at,
    (trace_id = row_trace_id AND e ->> 0 = row_span_id) AS offending,
    CAST(e ->> 6 AS JSON) AS span
FROM (
    SELECT
        x.exception_id,
        x.trace_id,
        r.trace_id AS row_trace_id,
        r.span_id AS row_span_id,
        unnest(from_json(d.spans, '["JSON"]')) AS e
    FROM exception_traces x
    JOIN exception_rows r USING (exception_id)
    JOIN trace_evidence d ON d.trace_id = x.trace_id
);
