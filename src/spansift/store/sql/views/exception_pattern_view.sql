-- One line per pattern (fingerprint: rule + workflow + tool unless the rule says otherwise):
-- how often, first and last seen, how many still need someone, and the latest example.
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
    round((count(*) - 1) / count(*), 3)                                AS repeat_rate
FROM exceptions e
JOIN exception_patterns p USING (exception_id)
GROUP BY p.fingerprint
ORDER BY open DESC, exceptions DESC, last_seen DESC;
