-- Benchmark results: one row per measured repetition, its scalar measurements (written with
-- COPY) and its histograms. Keyed by (attempt, repetition) so that an agent's replay of an
-- upload is harmless.
CREATE TABLE repetitions (
  attempt_id     bigint NOT NULL REFERENCES attempts(id),
  repetition     int NOT NULL,
  run_id         bigint NOT NULL,
  job_id         bigint NOT NULL,
  valid          boolean NOT NULL,
  invalid_reason text NOT NULL DEFAULT '',
  generator      text NOT NULL DEFAULT '',
  started_at     timestamptz,
  ended_at       timestamptz,
  stored_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (attempt_id, repetition)
);
CREATE INDEX repetitions_run_idx ON repetitions (run_id, job_id);

CREATE TABLE measurements (
  attempt_id bigint NOT NULL,
  repetition int NOT NULL,
  run_id     bigint NOT NULL,
  job_id     bigint NOT NULL,
  name       text NOT NULL,
  unit       text NOT NULL,
  direction  smallint NOT NULL,
  value      double precision NOT NULL,
  PRIMARY KEY (attempt_id, repetition, name),
  FOREIGN KEY (attempt_id, repetition) REFERENCES repetitions (attempt_id, repetition)
);
CREATE INDEX measurements_run_idx ON measurements (run_id, name);

CREATE TABLE histograms (
  attempt_id bigint NOT NULL,
  repetition int NOT NULL,
  name       text NOT NULL,
  data       bytea NOT NULL,  -- a serialised perfgate.v1.HdrHistogram
  PRIMARY KEY (attempt_id, repetition, name),
  FOREIGN KEY (attempt_id, repetition) REFERENCES repetitions (attempt_id, repetition)
);
