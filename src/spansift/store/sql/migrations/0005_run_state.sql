-- Runs survive a restart: the compact records of every trace that joined a run still open
-- (a session whose window has not passed, a pause waiting for its resume). Written in the
-- same transaction as the rows the trace produced, deleted when the run closes. Working
-- state, not evidence: not chained.
CREATE TABLE run_state (
    run_key    VARCHAR NOT NULL,     -- the session id, or ~<trace id> for a pause with none
    trace_id   VARCHAR NOT NULL,
    updated_at TIMESTAMP NOT NULL,   -- UTC
    records    JSON NOT NULL,        -- see spansift.runs.state
    PRIMARY KEY (run_key, trace_id)
);

-- Spooled requests the pipeline could not process after retries: kept with the reason so
-- nothing acknowledged is silently dropped (each is also an evidence gap).
CREATE TABLE quarantine (
    quarantine_id VARCHAR PRIMARY KEY,
    received_at   TIMESTAMP NOT NULL,  -- UTC, when it was set aside
    source        VARCHAR NOT NULL,    -- receiver, ingest, processor
    kind          VARCHAR NOT NULL,    -- protobuf, json
    reason        VARCHAR NOT NULL,
    payload_bytes BIGINT NOT NULL,
    payload       BLOB                 -- the request as received (bounded by --max-body-mib)
);
