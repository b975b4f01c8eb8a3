-- Analysis: what a candidate is compared with, the machine class each repetition ran on, stored
-- comparisons, change points along baseline branches with their triage state, and alerts with
-- their delivery state.
ALTER TABLE runs ADD COLUMN baseline_branch text NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN baseline_runs int NOT NULL DEFAULT 1;
ALTER TABLE runs ADD COLUMN against_run_id bigint;
ALTER TABLE runs ADD COLUMN analysed_at timestamptz;
ALTER TABLE runs ADD COLUMN verdict text NOT NULL DEFAULT '';
-- The analyser's work list: finished runs not yet analysed.
CREATE INDEX runs_unanalysed_idx ON runs (id)
  WHERE analysed_at IS NULL AND state IN ('SUCCEEDED', 'FAILED', 'CANCELLED');
CREATE INDEX runs_baseline_idx ON runs (project, branch, suite_name, id) WHERE kind = 'BASELINE';

-- The agent's machine_class label when the repetition was stored: baselines are per class.
ALTER TABLE repetitions ADD COLUMN machine_class text NOT NULL DEFAULT '';

CREATE TABLE comparisons (
  id               bigserial PRIMARY KEY,
  candidate_run_id bigint NOT NULL REFERENCES runs(id),
  baseline_run_ids bigint[] NOT NULL,
  verdict          text NOT NULL,
  body             bytea NOT NULL,  -- a serialised perfgate.v1.Comparison
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX comparisons_run_idx ON comparisons (candidate_run_id, id);

CREATE TABLE change_points (
  id            bigserial PRIMARY KEY,
  project       text NOT NULL,
  branch        text NOT NULL,
  suite_name    text NOT NULL,
  machine_class text NOT NULL,
  job_name      text NOT NULL,
  metric        text NOT NULL,
  run_id        bigint NOT NULL REFERENCES runs(id),
  commit_sha    text NOT NULL,
  before_value  double precision NOT NULL,
  after_value   double precision NOT NULL,
  p             double precision NOT NULL,
  direction     smallint NOT NULL DEFAULT 0,
  state         text NOT NULL DEFAULT 'open',
  note          text NOT NULL DEFAULT '',
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  UNIQUE (project, branch, suite_name, machine_class, job_name, metric, run_id)
);

CREATE TABLE alerts (
  id                 bigserial PRIMARY KEY,
  kind               text NOT NULL,
  state              text NOT NULL DEFAULT 'firing',
  run_id             bigint NOT NULL REFERENCES runs(id),
  comparison_id      bigint REFERENCES comparisons(id),
  change_point_id    bigint REFERENCES change_points(id),
  job_name           text NOT NULL,
  metric             text NOT NULL,
  body               bytea NOT NULL,  -- a serialised perfgate.v1.Alert (evidence)
  webhook            text NOT NULL DEFAULT 'off',       -- pending, delivered, failed, off
  alertmanager       text NOT NULL DEFAULT 'off',
  delivery_attempts  int NOT NULL DEFAULT 0,
  next_delivery_at   timestamptz NOT NULL DEFAULT now(),
  last_error         text NOT NULL DEFAULT '',
  note               text NOT NULL DEFAULT '',
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  UNIQUE (comparison_id, job_name, metric),
  UNIQUE (change_point_id)
);
CREATE INDEX alerts_pending_idx ON alerts (next_delivery_at)
  WHERE webhook = 'pending' OR alertmanager = 'pending';
