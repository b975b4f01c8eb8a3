-- Each succeeded run's metrics summarised once (median, quartiles, count of the valid repetitions
-- of the attempt that completed each job), when the run succeeds: `perfgate history` reads a
-- row per point instead of grouping every repetition (issue 17: 1,000 points read 10,000
-- measurements, ~90 ms at 10^4 runs; from here a few ms). Written by RefreshRunState.
CREATE TABLE metric_summaries (
  run_id        bigint NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  job_name      text NOT NULL,
  machine_class text NOT NULL,
  metric        text NOT NULL,
  median        float8 NOT NULL,
  q1            float8 NOT NULL,
  q3            float8 NOT NULL,
  n             integer NOT NULL,
  unit          text NOT NULL,
  direction     integer NOT NULL,
  PRIMARY KEY (run_id, job_name, machine_class, metric)
);
CREATE INDEX metric_summaries_series_idx
  ON metric_summaries (metric, job_name, machine_class, run_id);

-- (Re)summarises one run: called as it succeeds.
CREATE FUNCTION summarise_run(run bigint) RETURNS void
LANGUAGE sql AS $$
  DELETE FROM metric_summaries WHERE run_id = run;
  INSERT INTO metric_summaries
  SELECT j.run_id, j.name, p.machine_class, m.name,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY m.value),
         percentile_cont(0.25) WITHIN GROUP (ORDER BY m.value),
         percentile_cont(0.75) WITHIN GROUP (ORDER BY m.value),
         count(*), max(m.unit), max(m.direction)
  FROM jobs j
  JOIN repetitions p ON p.job_id = j.id AND p.valid AND p.attempt_id = results_attempt(j.id)
  JOIN measurements m ON m.attempt_id = p.attempt_id AND m.repetition = p.repetition
  WHERE j.run_id = run
  GROUP BY j.run_id, j.name, p.machine_class, m.name;
$$;

SELECT summarise_run(id) FROM runs WHERE state = 'SUCCEEDED';
