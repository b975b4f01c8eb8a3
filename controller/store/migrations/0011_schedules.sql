-- Schedules (docs/campaigns.md): a cron expression that submits a campaign or a run for a
-- branch's head. A fire locks the row, checks that next_fire_at is still the slot it saw,
-- submits and moves next_fire_at on in one transaction: one fire per slot, whatever the number
-- of controllers.
CREATE TABLE schedules (
  id               bigserial PRIMARY KEY,
  cron             text NOT NULL,
  project          text NOT NULL,
  branch           text NOT NULL,
  kind             text NOT NULL,
  suite_name       text NOT NULL,
  spec             bytea NOT NULL,   -- perfgate.v1.Schedule with its campaign or run
  paused           boolean NOT NULL DEFAULT false,
  next_fire_at     timestamptz NOT NULL,
  last_fired_at    timestamptz,
  last_run_id      bigint,
  last_campaign_id bigint,
  last_error       text NOT NULL DEFAULT '',
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX schedules_due_idx ON schedules (next_fire_at) WHERE NOT paused;
