-- A campaign submitted by a webhook reports as one check run and commit status, kept on its
-- first tier's run (docs/campaigns.md): any tier's change (state, verdict, analysis, or its
-- confirmation's) must make those reports due, as a run's own change does.
CREATE OR REPLACE FUNCTION outbox_touch_run() RETURNS trigger AS $$
BEGIN
  UPDATE outbox o SET version = o.version + 1, state = 'pending', next_at = now(),
         attempts = 0, updated_at = now()
   WHERE o.kind <> 'reply'
     AND (o.run_id IN (NEW.id, NEW.confirms_run_id)
          OR o.run_id IN (SELECT t2.run_id FROM campaign_tiers t1
                            JOIN campaign_tiers t2 ON t2.campaign_id = t1.campaign_id
                           WHERE t1.run_id IN (NEW.id, NEW.confirms_run_id))
          OR (o.pr_number > 0 AND (o.project, o.pr_number) IN
                (SELECT f.project, f.pr_number FROM forge_runs f
                  WHERE f.run_id IN (NEW.id, NEW.confirms_run_id) AND f.pr_number > 0)));
  IF FOUND THEN
    PERFORM pg_notify('perfgate_events', 'outbox');
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
