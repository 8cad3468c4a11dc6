-- A review that decides: controls on rows, decisions per pattern, revocable grants, the
-- traffic each workflow had, and pushed notifications with durable delivery state.

-- The controls a row evidences (its rule's `controls:` when it was written). Written in the
-- same transaction as the row and chained, like the row itself.
CREATE TABLE exception_controls (
    exception_id VARCHAR PRIMARY KEY,
    controls     VARCHAR[] NOT NULL          -- e.g. ['owasp-asi:ASI02', 'eu-ai-act:art12']
);

-- Decisions about a whole pattern (rule + fingerprint fields), so the next row of a
-- suppressed pattern stays suppressed and a resolved one shows a regression. Chained.
CREATE TABLE pattern_decisions (
    decision_id VARCHAR PRIMARY KEY,
    fingerprint VARCHAR NOT NULL,
    decided_at  TIMESTAMP NOT NULL,          -- UTC
    actor       VARCHAR NOT NULL,
    action      VARCHAR NOT NULL,            -- resolve, suppress, reopen
    until_at    TIMESTAMP,                   -- UTC; suppress: required, resolve: optional
    resolution  VARCHAR,
    follow_up   VARCHAR,
    note        VARCHAR
);

-- A grant taken back before its expiry. Chained.
CREATE TABLE grant_revocations (
    revocation_id VARCHAR PRIMARY KEY,
    grant_id      VARCHAR NOT NULL,
    revoked_at    TIMESTAMP NOT NULL,        -- UTC
    actor         VARCHAR NOT NULL,
    reason        VARCHAR NOT NULL
);

-- Traffic: runs (traces) seen per workflow per UTC day, the denominator of exception rates.
-- Operational counts, not evidence: not chained.
CREATE TABLE workflow_runs (
    day      DATE NOT NULL,
    workflow VARCHAR NOT NULL,
    runs     BIGINT NOT NULL,
    PRIMARY KEY (day, workflow)
);

-- Pushed notifications: one row per (hook, pattern, event). `state` is pending until the
-- hook answered 2xx (delivered) or refused it for good (a 4xx other than 429); failed rounds
-- are tried again after a growing pause. A restart resends what is pending and never what
-- was delivered. Operational, not chained.
CREATE TABLE notifications (
    notification_id VARCHAR PRIMARY KEY,
    hook            VARCHAR NOT NULL,
    fingerprint     VARCHAR NOT NULL,
    event           VARCHAR NOT NULL,        -- new, regressed
    exception_id    VARCHAR NOT NULL,        -- the row that raised the event
    owner           VARCHAR,
    state           VARCHAR NOT NULL,        -- pending, delivered, refused (4xx other than 429)
    attempts        INTEGER NOT NULL,        -- HTTP requests made so far
    rounds          INTEGER NOT NULL,        -- delivery rounds that failed (each with retries)
    http_status     INTEGER,
    error           VARCHAR,
    created_at      TIMESTAMP NOT NULL,      -- UTC
    next_at         TIMESTAMP NOT NULL,      -- UTC, not tried again before this
    sent_at         TIMESTAMP                -- UTC, when delivered
);

-- Where each hook started watching: patterns older than this are never announced as new.
CREATE TABLE notify_cursors (
    hook       VARCHAR PRIMARY KEY,
    started_at TIMESTAMP NOT NULL            -- UTC
);

-- The latest pattern decision per fingerprint.
CREATE VIEW latest_pattern_decisions AS
SELECT * FROM pattern_decisions
QUALIFY row_number() OVER (PARTITION BY fingerprint ORDER BY decided_at DESC, decision_id DESC) = 1;

-- The exceptions view again, now with pattern decisions and controls. Whichever decision is
-- later wins, the row's own or its pattern's. A row of a pattern resolved before it occurred
-- is `regressed` (until the resolution's expiry, if it has one).
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
LEFT JOIN exception_controls c USING (exception_id);
