-- Re-deriving kept traces with the current rules (`spansift rederive`): a row the rules no
-- longer produce is withdrawn, never deleted, and one they produce again is reinstated.
-- Append-only and chained like decisions; the latest row per exception wins.
CREATE TABLE withdrawals (
    withdrawal_id VARCHAR PRIMARY KEY,
    exception_id  VARCHAR NOT NULL,
    decided_at    TIMESTAMP NOT NULL,        -- UTC
    action        VARCHAR NOT NULL,          -- withdraw, reinstate
    actor         VARCHAR NOT NULL,          -- rederive
    reason        VARCHAR NOT NULL
);

-- The latest withdrawal or reinstatement per exception.
CREATE VIEW latest_withdrawals AS
SELECT * FROM withdrawals
QUALIFY row_number() OVER (PARTITION BY exception_id ORDER BY decided_at DESC, withdrawal_id DESC) = 1;

-- The exceptions view of 0006, with one more status: a withdrawn row shows `withdrawn`
-- whatever was decided about it, until a later rederive reinstates it.
CREATE OR REPLACE VIEW exceptions AS
WITH resolved_patterns AS (
    SELECT p.fingerprint, max(d.decided_at) AS resolved_at
    FROM latest_decisions d JOIN exception_patterns p USING (exception_id)
    WHERE d.status = 'resolved'
    GROUP BY p.fingerprint
),
state AS (
    SELECT
        r.exception_id,
        d.status AS row_status,
        d.suppressed_until,
        d.assigned_owner,
        d.resolution AS row_resolution,
        d.follow_up AS row_follow_up,
        rp.resolved_at,
        CASE WHEN pd.decided_at IS NOT NULL AND (d.decided_at IS NULL OR pd.decided_at > d.decided_at)
             THEN pd.action END AS pattern_action,
        pd.decided_at AS pattern_at,
        pd.until_at AS pattern_until,
        pd.resolution AS pattern_resolution,
        pd.follow_up AS pattern_follow_up
    FROM exception_rows r
    LEFT JOIN latest_decisions d USING (exception_id)
    LEFT JOIN exception_patterns p USING (exception_id)
    LEFT JOIN resolved_patterns rp ON rp.fingerprint = p.fingerprint
    LEFT JOIN latest_pattern_decisions pd ON pd.fingerprint = p.fingerprint
)
SELECT
    r.exception_id,
    r.occurred_at,
    r.detected_at,
    r.workflow,
    r.step,
    r.trace_id,
    r.span_id,
    r.exception_type,
    r.severity,
    r.rule_id,
    r.agent,
    r.tool,
    r.boundary,
    r.summary,
    coalesce(s.assigned_owner, r.owner) AS owner,
    CASE
        WHEN w.action = 'withdraw' THEN 'withdrawn'
        WHEN s.pattern_action = 'suppress' AND s.pattern_until > (now() AT TIME ZONE 'UTC')
            THEN 'suppressed'
        WHEN s.pattern_action = 'resolve' AND r.occurred_at <= s.pattern_at THEN 'resolved'
        WHEN s.pattern_action = 'resolve'
             AND (s.pattern_until IS NULL OR r.occurred_at <= s.pattern_until) THEN 'regressed'
        WHEN s.pattern_action IS NOT NULL THEN 'open'
        WHEN s.row_status = 'suppressed' AND s.suppressed_until > (now() AT TIME ZONE 'UTC')
            THEN 'suppressed'
        WHEN s.row_status IN ('acknowledged', 'resolved') THEN s.row_status
        WHEN s.resolved_at IS NOT NULL AND r.occurred_at > s.resolved_at THEN 'regressed'
        ELSE 'open'
    END AS status,
    CASE WHEN s.pattern_action IS NOT NULL THEN coalesce(s.pattern_resolution, r.resolution)
         ELSE coalesce(s.row_resolution, r.resolution) END AS resolution,
    CASE WHEN s.pattern_action IS NOT NULL THEN coalesce(s.pattern_follow_up, r.follow_up)
         ELSE coalesce(s.row_follow_up, r.follow_up) END AS follow_up,
    r.evidence,
    coalesce(c.controls, []::VARCHAR[]) AS controls
FROM exception_rows r
JOIN state s USING (exception_id)
LEFT JOIN exception_controls c USING (exception_id)
LEFT JOIN latest_withdrawals w USING (exception_id);
