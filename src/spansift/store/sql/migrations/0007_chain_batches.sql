-- The chain gets one entry per write batch instead of one per row: a `log_chain` entry of
-- kind 'batch' (row_id '<n> rows') whose hash covers a digest of every row the batch wrote
-- (see spansift.store.batch). This table names those rows. Entries written before keep
-- their per-row form and still verify.
CREATE TABLE log_batches (
    seq    BIGINT PRIMARY KEY,   -- the log_chain entry
    groups JSON NOT NULL         -- [[kind, digest, [row_id, ...]], ...] in write order
);
