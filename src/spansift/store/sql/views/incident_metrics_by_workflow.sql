-- Incident metrics per workflow: medians of detection, acknowledgement and resolution times,
-- human-review bypasses, and how many patterns repeat.
CREATE OR REPLACE VIEW incident_metrics_by_workflow AS
SELECT
    coalesce(m.workflow, '(none)')                                     AS workflow,
    count(*)                                                           AS exceptions,
    round(median(m.detect_s), 3)                                       AS median_detect_s,
    round(median(m.ack_s), 3)                                          AS median_ack_s,
    round(median(m.resolve_s), 3)                                      AS median_resolve_s,
    count(*) FILTER (WHERE m."type" = 'approval_bypassed')             AS review_bypasses,
    count(*) FILTER (WHERE m.resolve_s IS NOT NULL)                    AS resolved
FROM incident_metrics m
GROUP BY ALL
ORDER BY exceptions DESC, workflow;
