-- The review loop. Rows the pipeline writes are evidence and never change, so the written
-- table becomes `exception_rows` and `exceptions` becomes a view: each row plus the latest
-- decision about it (status, owner, resolution, follow-up). Decisions, grants, grant uses
-- and suspensions are append-only and chained like every other row (see store/chain.py).
ALTER TABLE exceptions RENAME TO exception_rows;

-- Who decided what about an exception, when and why. The latest row per exception wins.
CREATE TABLE decisions (
    decision_id      VARCHAR PRIMARY KEY,
    exception_id     VARCHAR NOT NULL,
    decided_at       TIMESTAMP NOT NULL,   -- UTC
    actor            VARCHAR NOT NULL,
    action           VARCHAR NOT NULL,     -- ack, resolve, suppress, reopen
    status           VARCHAR NOT NULL,     -- acknowledged, resolved, suppressed, open
    owner            VARCHAR,
    resolution       VARCHAR,
    follow_up        VARCHAR,              -- eval_case, grader_rule, source_policy, ...
    note             VARCHAR,
    suppressed_until TIMESTAMP             -- UTC, suppress only
);

-- Standing approvals: a tool use they cover is recorded in grant_uses, not as an exception.
CREATE TABLE grants (
    grant_id      VARCHAR PRIMARY KEY,
    agent         VARCHAR NOT NULL,
    tool          VARCHAR NOT NULL,
    scope         VARCHAR NOT NULL,        -- e.g. 'workflow=refunds,uses=20' or '*'
    granted_at    TIMESTAMP NOT NULL,      -- UTC
    expires_at    TIMESTAMP NOT NULL,      -- UTC
    approvers     VARCHAR NOT NULL,        -- comma-separated
    justification VARCHAR NOT NULL
);

CREATE TABLE grant_uses (
    exception_id   VARCHAR PRIMARY KEY,    -- the row the use would have been
    grant_id       VARCHAR NOT NULL,
    occurred_at    TIMESTAMP NOT NULL,     -- UTC
    recorded_at    TIMESTAMP NOT NULL,     -- UTC
    workflow       VARCHAR,
    agent          VARCHAR,
    tool           VARCHAR,
    exception_type VARCHAR NOT NULL,
    rule_id        VARCHAR NOT NULL,
    trace_id       VARCHAR NOT NULL,
    span_id        VARCHAR NOT NULL
);

-- The containment switch: the latest row per (target_kind, target) says whether it is on.
CREATE TABLE suspensions (
    suspension_id VARCHAR PRIMARY KEY,
    target_kind   VARCHAR NOT NULL,        -- agent, workflow
    target        VARCHAR NOT NULL,
    action        VARCHAR NOT NULL,        -- suspend, resume
    actor         VARCHAR NOT NULL,
    reason        VARCHAR NOT NULL,
    decided_at    TIMESTAMP NOT NULL       -- UTC
);

-- Webhook deliveries: one row per attempt series (operational, not chained).
CREATE TABLE webhook_deliveries (
    delivery_id   VARCHAR PRIMARY KEY,
    exception_id  VARCHAR NOT NULL,
    hook          VARCHAR NOT NULL,        -- the hook's name, never its URL secret
    attempts      INTEGER NOT NULL,
    delivered     BOOLEAN NOT NULL,
    http_status   INTEGER,
    error         VARCHAR,
    finished_at   TIMESTAMP NOT NULL       -- UTC
);

-- Per-rule fingerprint fields (from a rule's `fingerprint:` key); absent means the default,
-- rule + workflow + tool. Configuration, rewritten when a receiver starts.
CREATE TABLE rule_fingerprints (
    rule_id VARCHAR PRIMARY KEY,
    fields  VARCHAR[] NOT NULL
);

-- One pattern per row: the rule plus the fields its fingerprint names.
CREATE VIEW exception_patterns AS
SELECT
    r.exception_id,
    md5(concat_ws('|', r.rule_id,
        CASE WHEN list_contains(coalesce(f.fields, ['workflow', 'tool']), 'workflow')
             THEN coalesce(r.workflow, '') END,
        CASE WHEN list_contains(coalesce(f.fields, ['workflow', 'tool']), 'tool')
             THEN coalesce(r.tool, '') END,
        CASE WHEN list_contains(f.fields, 'agent') THEN coalesce(r.agent, '') END,
        CASE WHEN list_contains(f.fields, 'step') THEN coalesce(r.step, '') END,
        CASE WHEN list_contains(f.fields, 'boundary') THEN coalesce(r.boundary, '') END,
        CASE WHEN list_contains(f.fields, 'severity') THEN r.severity END,
        CASE WHEN list_contains(f.fields, 'summary') THEN coalesce(r.summary, '') END
    ))[1:12] AS fingerprint
FROM exception_rows r
LEFT JOIN rule_fingerprints f USING (rule_id);

-- The latest decision per exception, and the owner it was last assigned to (by any decision).
CREATE VIEW latest_decisions AS
SELECT *, last_value(owner IGNORE NULLS) OVER (
        PARTITION BY exception_id ORDER BY decided_at, decision_id
        ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS assigned_owner
FROM decisions
QUALIFY row_number() OVER (PARTITION BY exception_id ORDER BY decided_at DESC, decision_id DESC) = 1;

-- The exception log as users read it: the written row, its state from the latest decision.
-- A row with no decision of its own whose pattern was resolved before it occurred is `regressed`;
-- a suppression past its expiry counts as open again.
CREATE VIEW exceptions AS
WITH resolved_patterns AS (
    SELECT p.fingerprint, max(d.decided_at) AS resolved_at
    FROM latest_decisions d JOIN exception_patterns p USING (exception_id)
    WHERE d.status = 'resolved'
    GROUP BY p.fingerprint
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
    coalesce(d.assigned_owner, r.owner) AS owner,
    CASE
        WHEN d.status = 'suppressed' AND d.suppressed_until > (now() AT TIME ZONE 'UTC')
            THEN 'suppressed'
        WHEN d.status IN ('acknowledged', 'resolved') THEN d.status
        WHEN rp.resolved_at IS NOT NULL AND r.occurred_at > rp.resolved_at THEN 'regressed'
        ELSE 'open'
    END AS status,
    coalesce(d.resolution, r.resolution) AS resolution,
    coalesce(d.follow_up, r.follow_up) AS follow_up,
    r.evidence
FROM exception_rows r
LEFT JOIN latest_decisions d USING (exception_id)
LEFT JOIN exception_patterns p USING (exception_id)
LEFT JOIN resolved_patterns rp ON rp.fingerprint = p.fingerprint;
