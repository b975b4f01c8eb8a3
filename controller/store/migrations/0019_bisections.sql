-- Bisection (issue 19, docs/bisect.md): a good..bad range narrowed to the first bad commit. The
-- bisection's whole state (commits, marks, steps) is one document, advanced under a row lock by
-- whichever replica's bisector gets it; its steps are ordinary runs carrying bisection_id.
CREATE TABLE bisections (
  id              bigserial PRIMARY KEY,
  project         text NOT NULL,
  suite_name      text NOT NULL,
  state           text NOT NULL,
  change_point_id bigint REFERENCES change_points(id),
  doc             jsonb NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  finished_at     timestamptz
);
CREATE INDEX bisections_active_idx ON bisections (id) WHERE state IN ('LISTING', 'RUNNING');
CREATE INDEX bisections_project_idx ON bisections (project, id);
CREATE UNIQUE INDEX bisections_change_point_idx ON bisections (change_point_id)
  WHERE change_point_id IS NOT NULL;

ALTER TABLE runs ADD COLUMN bisection_id bigint REFERENCES bisections(id);
CREATE INDEX runs_bisection_idx ON runs (bisection_id) WHERE bisection_id IS NOT NULL;
-- A commit_range job's output (CommitList as proto3 JSON).
ALTER TABLE jobs ADD COLUMN commits jsonb;
-- What a change point's bisection found.
ALTER TABLE change_points ADD COLUMN bisection_id bigint REFERENCES bisections(id);
ALTER TABLE change_points ADD COLUMN culprit text NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN culprit text NOT NULL DEFAULT '';
