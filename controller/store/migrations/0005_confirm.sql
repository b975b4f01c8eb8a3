-- A/A experiments (their repetitions join the noise estimate) and the confirmation runs the
-- analyser schedules for inconclusive candidates (baseline and candidate commits interleaved on
-- the candidate's agent). A run is confirmed at most once.
ALTER TABLE runs ADD COLUMN aa boolean NOT NULL DEFAULT false;
ALTER TABLE runs ADD COLUMN confirms_run_id bigint REFERENCES runs(id);
CREATE UNIQUE INDEX runs_confirms_idx ON runs (confirms_run_id) WHERE confirms_run_id IS NOT NULL;
