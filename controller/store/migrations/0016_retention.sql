-- Retention (issue 17): when a run's logs and profiles were removed for age, so that a reader is
-- told they are gone rather than shown nothing. Measurements are never removed.
ALTER TABLE runs ADD COLUMN logs_removed_at timestamptz;
ALTER TABLE runs ADD COLUMN profiles_removed_at timestamptz;
CREATE INDEX runs_finished_idx ON runs (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX profiles_sha256_idx ON profiles (sha256);
