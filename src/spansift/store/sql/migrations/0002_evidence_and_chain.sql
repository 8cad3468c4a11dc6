-- Evidence: the spans behind each exception, bounded and redacted, written in the same
-- transaction as the exception (and extended when the rest of its trace arrives).
CREATE TABLE evidence_spans (
    exception_id   VARCHAR NOT NULL,
    span_id        VARCHAR NOT NULL,      -- 16 lowercase hex digits
    trace_id       VARCHAR NOT NULL,
    parent_span_id VARCHAR,
    name           VARCHAR NOT NULL,
    status         VARCHAR NOT NULL,      -- ok, error, unset
    start_at       TIMESTAMP NOT NULL,    -- UTC
    end_at         TIMESTAMP NOT NULL,    -- UTC
    offending      BOOLEAN NOT NULL,      -- the span the rule fired on
    span           JSON NOT NULL,         -- see spansift.evidence.span_evidence
    PRIMARY KEY (exception_id, span_id)
);

-- The tamper-evidence chain: one entry per row written to the log, in write order.
-- row_hash = sha256(prev_hash || canonical JSON of the row); seq has no gaps.
CREATE TABLE log_chain (
    seq        BIGINT PRIMARY KEY,
    kind       VARCHAR NOT NULL,          -- exception, evidence
    row_id     VARCHAR NOT NULL,          -- exception_id, or exception_id/span_id
    prev_hash  VARCHAR NOT NULL,
    row_hash   VARCHAR NOT NULL,
    chained_at TIMESTAMP NOT NULL
);
