-- Idempotent campaign submissions (issue 17), as runs have them (0015): the submitter's
-- request_id, and a digest of the request it came with.
ALTER TABLE campaigns ADD COLUMN submitted_by text NOT NULL DEFAULT '';
ALTER TABLE campaigns ADD COLUMN request_id text;
ALTER TABLE campaigns ADD COLUMN request_digest text;
CREATE UNIQUE INDEX campaigns_request_idx ON campaigns (submitted_by, request_id)
  WHERE request_id IS NOT NULL;
