-- Counts per workflow and exception type, with the open ones and the time span they cover.
CREATE OR REPLACE VIEW exceptions_by_workflow_type AS
SELECT
    coalesce(workflow, '(none)')              AS workflow,
    exception_type                            AS "type",
    count(*)                                  AS exceptions,
    count(*) FILTER (WHERE status = 'open')   AS open,
    min(occurred_at)                          AS first_seen,
    max(occurred_at)                          AS last_seen
FROM exceptions
GROUP BY ALL
ORDER BY exceptions DESC, workflow, "type";
