-- The exception log. One row per (rule, trace, span); rows are evidence and are never
-- rewritten by the pipeline: `exception_id` is a hash of rule id, trace id and span id,
-- so re-ingesting a file or replaying an OTLP export inserts nothing new.
CREATE TABLE exceptions (
    exception_id   VARCHAR PRIMARY KEY,
    occurred_at    TIMESTAMP NOT NULL,   -- UTC, end of the span the rule hit
    detected_at    TIMESTAMP NOT NULL,   -- UTC, when spansift wrote the row
    workflow       VARCHAR,
    step           VARCHAR,
    trace_id       VARCHAR NOT NULL,     -- 32 lowercase hex digits
    span_id        VARCHAR NOT NULL,     -- 16 lowercase hex digits
    exception_type VARCHAR NOT NULL,
    severity       VARCHAR NOT NULL,
    rule_id        VARCHAR NOT NULL,
    agent          VARCHAR,
    tool           VARCHAR,
    boundary       VARCHAR,
    summary        VARCHAR,
    owner          VARCHAR,
    status         VARCHAR NOT NULL DEFAULT 'open',
    resolution     VARCHAR,
    follow_up      VARCHAR,
    evidence       JSON
);

-- Spans spansift never saw (a full in-process queue, a rejected file line): a reader of the
-- log must be able to tell that evidence is missing for a period.
CREATE TABLE evidence_gaps (
    gap_id        VARCHAR PRIMARY KEY,
    source        VARCHAR NOT NULL,      -- processor, ingest, receiver
    first_at      TIMESTAMP NOT NULL,    -- UTC
    last_at       TIMESTAMP NOT NULL,    -- UTC
    lost_spans    BIGINT NOT NULL,
    reason        VARCHAR NOT NULL,
    recorded_at   TIMESTAMP NOT NULL
);
