-- Scale-tier campaigns: one run per tier of a suite at one commit (docs/campaigns.md). A
-- campaign's state and outcome are its runs'; only what no run holds is kept here.
CREATE TABLE campaigns (
  id          bigserial PRIMARY KEY,
  project     text NOT NULL,
  branch      text NOT NULL,
  commit_sha  text NOT NULL,
  kind        text NOT NULL,
  suite_name  text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX campaigns_branch_idx ON campaigns (project, branch, id);

CREATE TABLE campaign_tiers (
  campaign_id bigint NOT NULL REFERENCES campaigns(id),
  idx         int NOT NULL,
  name        text NOT NULL,
  run_id      bigint NOT NULL UNIQUE REFERENCES runs(id),
  hosts       int NOT NULL,
  params      jsonb NOT NULL DEFAULT '{}',
  PRIMARY KEY (campaign_id, idx),
  UNIQUE (campaign_id, name)
);
