-- What agents observe besides the load generator's figures: gaps (values asked for and not
-- had), Prometheus range-query series, pg_stat_statements/EXPLAIN captures, and pprof profiles,
-- whose bytes are content-addressed blobs uploaded in chunks.
CREATE TABLE gaps (
  attempt_id bigint NOT NULL,
  repetition int NOT NULL,
  name       text NOT NULL,
  reason     text NOT NULL,
  PRIMARY KEY (attempt_id, repetition, name),
  FOREIGN KEY (attempt_id, repetition) REFERENCES repetitions (attempt_id, repetition)
);

CREATE TABLE series (
  attempt_id bigint NOT NULL,
  repetition int NOT NULL,
  name       text NOT NULL,
  idx        int NOT NULL,       -- a range query may return several series
  data       bytea NOT NULL,     -- a serialised perfgate.v1.Series
  PRIMARY KEY (attempt_id, repetition, name, idx),
  FOREIGN KEY (attempt_id, repetition) REFERENCES repetitions (attempt_id, repetition)
);

CREATE TABLE dbstats (
  attempt_id bigint NOT NULL,
  repetition int NOT NULL,
  data       bytea NOT NULL,     -- a serialised perfgate.v1.DbStats
  PRIMARY KEY (attempt_id, repetition),
  FOREIGN KEY (attempt_id, repetition) REFERENCES repetitions (attempt_id, repetition)
);

CREATE TABLE blobs (
  sha256     text PRIMARY KEY,   -- hex
  size       bigint NOT NULL,
  received   bigint NOT NULL DEFAULT 0,
  complete   boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE blob_chunks (
  sha256 text NOT NULL REFERENCES blobs (sha256) ON DELETE CASCADE,
  off    bigint NOT NULL,
  data   bytea NOT NULL,
  PRIMARY KEY (sha256, off)
);

CREATE TABLE profiles (
  id          bigserial PRIMARY KEY,
  attempt_id  bigint NOT NULL,
  repetition  int NOT NULL,
  run_id      bigint NOT NULL,
  job_id      bigint NOT NULL,
  service     text NOT NULL,
  kind        text NOT NULL,
  point       text NOT NULL,
  sha256      text NOT NULL REFERENCES blobs (sha256),
  size        bigint NOT NULL,
  captured_at timestamptz,
  UNIQUE (attempt_id, repetition, service, kind, point),
  FOREIGN KEY (attempt_id, repetition) REFERENCES repetitions (attempt_id, repetition)
);
CREATE INDEX profiles_run_idx ON profiles (run_id);
