-- The short exception view: one line per exception, newest first.
CREATE OR REPLACE VIEW exception_view AS
SELECT
    exception_id[1:12]                        AS id,
    strftime(occurred_at, '%Y-%m-%d %H:%M:%S') AS "when",
    workflow,
    exception_type                            AS "type",
    severity,
    coalesce(tool, agent, step)               AS subject,
    summary,
    owner,
    status,
    trace_id,
    span_id,
    occurred_at
FROM exceptions
ORDER BY occurred_at DESC, exception_id;
