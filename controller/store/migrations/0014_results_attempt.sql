-- Whose results stand for a job (issue 17): its current attempt (the one holding the job's
-- current epoch, which completed it when the job has ended), when that attempt reported any.
-- A superseded attempt's repetitions (stored before its lease ran out) stay for the record but
-- are never analysed, shown as the job's results, or used as a noise estimate.
CREATE FUNCTION results_attempt(job bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
  SELECT a.id FROM jobs j JOIN attempts a ON a.epoch = j.current_epoch
  WHERE j.id = job AND EXISTS (SELECT 1 FROM repetitions p WHERE p.attempt_id = a.id)
$$;
