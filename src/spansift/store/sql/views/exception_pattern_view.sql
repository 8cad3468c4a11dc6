-- One line per pattern (fingerprint: rule + workflow + tool unless the rule says otherwise):
-- how often, first and last seen, how many still need someone, and the latest example; then
-- what triage sorts by (highest severity, oldest open row) and the controls its rows evidence.
CREATE OR REPLACE VIEW exception_pattern_view AS
SELECT
    p.fingerprint,
    any_value(e.rule_id)                                               AS rule_id,
    any_value(e.exception_type)                                        AS "type",
    any_value(coalesce(e.workflow, '(none)'))                          AS workflow,
    any_value(coalesce(e.tool, e.agent, e.step))                       AS subject,
    count(*)                                                           AS exceptions,
    count(*) FILTER (WHERE e.status IN ('open', 'regressed'))          AS open,
    count(*) FILTER (WHERE e.status = 'regressed')                     AS regressed,
    min(e.occurred_at)                                                 AS first_seen,
    max(e.occurred_at)                                                 AS last_seen,
    arg_max(e.exception_id, e.occurred_at)[1:12]                       AS latest_id,
    arg_max(e.summary, e.occurred_at)                                  AS latest_summary,
    round((count(*) - 1) / count(*), 3)                                AS repeat_rate,
    arg_max(e.severity, CASE e.severity WHEN 'critical' THEN 4 WHEN 'high' THEN 3
            WHEN 'medium' THEN 2 WHEN 'low' THEN 1 ELSE 0 END)         AS severity,
    min(e.occurred_at) FILTER (WHERE e.status IN ('open', 'regressed')) AS oldest_open,
    arg_max(e.owner, e.occurred_at)                                    AS owner,
    arg_max(e.status, e.occurred_at)                                   AS latest_status,
    list_sort(list_distinct(flatten(list(e.controls))))                AS controls
FROM exceptions e
JOIN exception_patterns p USING (exception_id)
GROUP BY p.fingerprint
ORDER BY open DESC, exceptions DESC, last_seen DESC;
