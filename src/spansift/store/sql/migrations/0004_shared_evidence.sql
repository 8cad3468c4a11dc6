-- Evidence spans are stored once per span, however many exceptions they back: a trace with
-- five exceptions keeps its spans once, and each exception links to the traces behind it
-- (its own, and for run rules the other traces of its run). `evidence_spans` becomes a view
-- with the same columns as the table it replaces (see sql/views/evidence_spans.sql).
CREATE TABLE trace_spans (
    trace_id       VARCHAR NOT NULL,
    span_id        VARCHAR NOT NULL,
    parent_span_id VARCHAR,
    name           VARCHAR NOT NULL,
    status         VARCHAR NOT NULL,
    start_at       TIMESTAMP NOT NULL,
    end_at         TIMESTAMP NOT NULL,
    span           JSON NOT NULL,
    PRIMARY KEY (trace_id, span_id)
);

CREATE TABLE exception_traces (
    exception_id VARCHAR NOT NULL,
    trace_id     VARCHAR NOT NULL,
    PRIMARY KEY (exception_id, trace_id)
);

INSERT INTO trace_spans
SELECT DISTINCT ON (trace_id, span_id)
       trace_id, span_id, parent_span_id, name, status, start_at, end_at, span
FROM evidence_spans;

INSERT INTO exception_traces SELECT DISTINCT exception_id, trace_id FROM evidence_spans;

DROP TABLE evidence_spans;
