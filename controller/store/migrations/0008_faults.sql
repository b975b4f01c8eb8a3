-- What each fault of a repetition's fault schedule did (perfgate.v1.FaultRecord, serialised):
-- which host it landed on, when it was applied and undone, its error and recovery time.
CREATE TABLE faults (
  attempt_id bigint NOT NULL,
  repetition int NOT NULL,
  idx        int NOT NULL,
  data       bytea NOT NULL,
  PRIMARY KEY (attempt_id, repetition, idx),
  FOREIGN KEY (attempt_id, repetition) REFERENCES repetitions (attempt_id, repetition)
);
