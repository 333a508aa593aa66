-- The W3C traceparent of the request (or job) that queued a job, so the
-- job's span can link back to it in a trace. NULL when nothing was traced.
ALTER TABLE jobs ADD COLUMN trace_parent TEXT;
