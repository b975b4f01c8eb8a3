-- Idempotent submissions (issue 17): a client's request_id, unique per submitter, and a digest
-- of the spec it came with (a reused id with another spec is refused, not silently answered).
ALTER TABLE runs ADD COLUMN request_id text;
ALTER TABLE runs ADD COLUMN request_digest text;
CREATE UNIQUE INDEX runs_request_idx ON runs (submitted_by, request_id) WHERE request_id IS NOT NULL;
