-- Claims take due jobs in (run_at, id) order; with id in the index too, the
-- claim reads the first few entries instead of sorting every queued job.
DROP INDEX jobs_due;
CREATE INDEX jobs_due ON jobs (run_at, id) WHERE state = 'queued';
