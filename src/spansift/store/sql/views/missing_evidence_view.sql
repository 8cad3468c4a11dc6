-- How much of the log rests on incomplete evidence: rows without evidence spans, rows whose
-- spans lacked a field the review needs (workflow, agent), and spans lost before the rules.
CREATE OR REPLACE VIEW missing_evidence_view AS
SELECT
    (SELECT count(*) FROM exceptions)                                  AS exceptions,
    (SELECT count(*) FROM exceptions e WHERE NOT EXISTS (
        SELECT 1 FROM evidence_spans s WHERE s.exception_id = e.exception_id)) AS without_spans,
    (SELECT count(*) FROM exceptions WHERE workflow IS NULL OR agent IS NULL) AS lacking_fields,
    (SELECT count(*) FROM evidence_gaps)                               AS gaps,
    (SELECT coalesce(sum(lost_spans), 0) FROM evidence_gaps)           AS lost_spans,
    (SELECT count(*) FROM evidence_gaps WHERE reason ILIKE '%evict%')  AS evictions,
    round(((SELECT count(*) FROM exceptions e WHERE workflow IS NULL OR agent IS NULL
            OR NOT EXISTS (SELECT 1 FROM evidence_spans s WHERE s.exception_id = e.exception_id))
        / greatest((SELECT count(*) FROM exceptions), 1)), 3)         AS missing_rate;
