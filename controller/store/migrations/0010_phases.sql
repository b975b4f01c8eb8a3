-- How each phase of a phased workload's repetition went (perfgate.v1.PhaseRecord, serialised):
-- its time, success, failures and first messages (docs/campaigns.md).
CREATE TABLE phases (
  attempt_id bigint NOT NULL,
  repetition int NOT NULL,
  idx        int NOT NULL,
  data       bytea NOT NULL,
  PRIMARY KEY (attempt_id, repetition, idx),
  FOREIGN KEY (attempt_id, repetition) REFERENCES repetitions (attempt_id, repetition)
);
