-- Periods with missing evidence, newest first, so a review can say what it could not see.
CREATE OR REPLACE VIEW evidence_gap_view AS
SELECT
    source,
    strftime(first_at, '%Y-%m-%d %H:%M:%S') AS "from",
    strftime(last_at, '%Y-%m-%d %H:%M:%S')  AS "to",
    lost_spans,
    reason
FROM evidence_gaps
ORDER BY last_at DESC;
