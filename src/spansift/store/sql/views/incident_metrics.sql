-- Per exception: time to detection (span end to row written), to acknowledgement and to
-- resolution (first such decision after the row was written), in seconds.
CREATE OR REPLACE VIEW incident_metrics AS
SELECT
    e.exception_id,
    e.workflow,
    e.exception_type                                                   AS "type",
    e.severity,
    e.status,
    epoch(e.detected_at - e.occurred_at)                               AS detect_s,
    epoch(min(d.decided_at) FILTER (WHERE d.action = 'ack') - e.detected_at)     AS ack_s,
    epoch(min(d.decided_at) FILTER (WHERE d.action = 'resolve') - e.detected_at) AS resolve_s
FROM exceptions e
LEFT JOIN decisions d USING (exception_id)
GROUP BY e.exception_id, e.workflow, e.exception_type, e.severity, e.status, e.occurred_at,
    e.detected_at;
