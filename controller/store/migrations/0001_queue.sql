-- Runs, jobs, attempts, agents, logs: the durable queue (README "How a run flows").
CREATE TABLE runs (
  id          bigserial PRIMARY KEY,
  project     text NOT NULL,
  branch      text NOT NULL,
  commit_sha  text NOT NULL,
  kind        text NOT NULL,
  suite_name  text NOT NULL,
  state       text NOT NULL,
  cancel_requested boolean NOT NULL DEFAULT false,
  created_at  timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);
CREATE INDEX runs_state_idx ON runs (state, id);
CREATE INDEX runs_branch_idx ON runs (branch, id);
CREATE INDEX runs_commit_idx ON runs (commit_sha);

CREATE TABLE jobs (
  id            bigserial PRIMARY KEY,
  run_id        bigint NOT NULL REFERENCES runs(id),
  idx           int NOT NULL,
  name          text NOT NULL,
  spec          jsonb NOT NULL,
  selector      jsonb NOT NULL DEFAULT '{}',
  state         text NOT NULL,
  max_attempts  int NOT NULL,
  attempts_made int NOT NULL DEFAULT 0,
  current_epoch bigint NOT NULL DEFAULT 0,
  not_before    timestamptz NOT NULL DEFAULT now(),
  enqueued_at   timestamptz NOT NULL DEFAULT now(),
  message       text NOT NULL DEFAULT '',
  updated_at    timestamptz NOT NULL DEFAULT now(),
  UNIQUE (run_id, idx)
);
-- The claim query scans only claimable jobs.
CREATE INDEX jobs_claimable_idx ON jobs (id) WHERE state IN ('QUEUED', 'RETRY_WAIT');

CREATE SEQUENCE attempt_epoch_seq;

CREATE TABLE attempts (
  id               bigserial PRIMARY KEY,
  job_id           bigint NOT NULL REFERENCES jobs(id),
  agent_name       text NOT NULL,
  epoch            bigint NOT NULL UNIQUE DEFAULT nextval('attempt_epoch_seq'),
  state            text NOT NULL,
  outcome          text NOT NULL DEFAULT '',
  exit_code        int NOT NULL DEFAULT 0,
  message          text NOT NULL DEFAULT '',
  log_chunks       bigint NOT NULL DEFAULT 0,
  lease_expires_at timestamptz NOT NULL,
  lost_at          timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  accepted_at      timestamptz,
  finished_at      timestamptz
);
CREATE INDEX attempts_job_idx ON attempts (job_id);
-- Never two benchmarks on one node: at most one live attempt per agent. LOST keeps the node
-- reserved until the agent reports the attempt's true state or lost_after passes.
CREATE UNIQUE INDEX attempts_one_active_per_agent ON attempts (agent_name)
  WHERE state IN ('ASSIGNED', 'RUNNING', 'LOST');

CREATE TABLE agents (
  name          text PRIMARY KEY,
  labels        jsonb NOT NULL DEFAULT '{}',
  capacity      int NOT NULL DEFAULT 1,
  connected     boolean NOT NULL DEFAULT false,
  controller_id text NOT NULL DEFAULT '',
  draining      boolean NOT NULL DEFAULT false,
  version       text NOT NULL DEFAULT '',
  first_seen    timestamptz NOT NULL DEFAULT now(),
  last_seen     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE log_chunks (
  id         bigserial PRIMARY KEY,
  run_id     bigint NOT NULL,
  job_id     bigint NOT NULL,
  attempt_id bigint NOT NULL REFERENCES attempts(id),
  seq        bigint NOT NULL,
  stream     smallint NOT NULL,
  data       bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (attempt_id, seq)
);
CREATE INDEX log_chunks_run_idx ON log_chunks (run_id, id);
