-- Suites read from the repository at each commit: a project suite may be a path instead of a
-- registered file (a new path is a new version, as a new text is), and the jobs a suite_file job
-- added to its run point back at it (a rerun submits the suite_file job again, not its jobs).
ALTER TABLE project_suites ADD COLUMN path text NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN expanded_from bigint REFERENCES jobs(id);
