-- CI integration (docs/ci.md): projects and their registered suites (versioned), the webhook
-- deliveries already handled (a redelivery creates nothing twice), which pull request or push
-- a run reports to, and the durable outbox of reports to the forge.
CREATE TABLE projects (
  name        text PRIMARY KEY,
  forge       text NOT NULL,
  repository  text NOT NULL,
  body        bytea NOT NULL,  -- a serialised perfgate.v1.Project without its suites
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX projects_repository_idx ON projects (forge, lower(repository));

-- Every version of every registered suite is kept: a run can always be traced to its file.
CREATE TABLE project_suites (
  project     text NOT NULL REFERENCES projects(name) ON DELETE CASCADE,
  name        text NOT NULL,
  version     int NOT NULL,
  yaml        text NOT NULL,
  current     boolean NOT NULL DEFAULT true,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project, name, version)
);

CREATE TABLE webhook_deliveries (
  forge        text NOT NULL,
  delivery_id  text NOT NULL,
  event        text NOT NULL,
  project      text NOT NULL DEFAULT '',
  outcome      text NOT NULL,
  run_ids      bigint[] NOT NULL DEFAULT '{}',
  received_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (forge, delivery_id)
);

-- What perfgate knows of each pull (merge) request, from its webhooks: comments name only the
-- number, so commands act on the head recorded here.
CREATE TABLE pull_requests (
  project      text NOT NULL,
  number       int NOT NULL,
  head_sha     text NOT NULL,
  head_branch  text NOT NULL,
  base_branch  text NOT NULL,
  from_fork    boolean NOT NULL,
  open         boolean NOT NULL,
  labels       text[] NOT NULL DEFAULT '{}',
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project, number)
);

CREATE TABLE forge_runs (
  run_id          bigint PRIMARY KEY REFERENCES runs(id),
  project         text NOT NULL,
  pr_number       int NOT NULL DEFAULT 0,
  head_sha        text NOT NULL,
  installation_id bigint NOT NULL DEFAULT 0,
  superseded_by   bigint,
  trigger         text NOT NULL
);
CREATE INDEX forge_runs_pr_idx ON forge_runs (project, pr_number) WHERE pr_number > 0;

CREATE TABLE outbox (
  id              bigserial PRIMARY KEY,
  project         text NOT NULL,
  kind            text NOT NULL,
  target          text NOT NULL,
  run_id          bigint,
  pr_number       int NOT NULL DEFAULT 0,
  installation_id bigint NOT NULL DEFAULT 0,
  body            text NOT NULL DEFAULT '',  -- replies: the text; reports are built when sent
  remote_id       text NOT NULL DEFAULT '',
  state           text NOT NULL DEFAULT 'pending',
  version         bigint NOT NULL DEFAULT 1,
  sent_version    bigint NOT NULL DEFAULT 0,
  attempts        int NOT NULL DEFAULT 0,
  next_at         timestamptz NOT NULL DEFAULT now(),
  last_status     int NOT NULL DEFAULT 0,
  last_error      text NOT NULL DEFAULT '',
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (project, target)
);
CREATE INDEX outbox_due_idx ON outbox (next_at) WHERE state = 'pending';
CREATE INDEX outbox_run_idx ON outbox (run_id) WHERE run_id IS NOT NULL;
CREATE INDEX outbox_pr_idx ON outbox (project, pr_number) WHERE pr_number > 0;

-- The transactional outbox: whatever changes a run's state, verdict or analysis marks its
-- reports (and its pull request's comment) as due in the same transaction, so no report is
-- lost to a crash between the change and its delivery. A confirmation run's changes count for
-- the run it confirms.
CREATE FUNCTION outbox_touch_run() RETURNS trigger AS $$
BEGIN
  UPDATE outbox o SET version = o.version + 1, state = 'pending', next_at = now(),
         attempts = 0, updated_at = now()
   WHERE o.kind <> 'reply'
     AND (o.run_id IN (NEW.id, NEW.confirms_run_id)
          OR (o.pr_number > 0 AND (o.project, o.pr_number) IN
                (SELECT f.project, f.pr_number FROM forge_runs f
                  WHERE f.run_id IN (NEW.id, NEW.confirms_run_id) AND f.pr_number > 0)));
  IF FOUND THEN
    PERFORM pg_notify('perfgate_events', 'outbox');
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER runs_outbox AFTER UPDATE OF state, verdict, analysed_at ON runs FOR EACH ROW
  WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.verdict IS DISTINCT FROM NEW.verdict
        OR OLD.analysed_at IS DISTINCT FROM NEW.analysed_at)
  EXECUTE FUNCTION outbox_touch_run();
