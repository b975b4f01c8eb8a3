#include "controller/store/pg_result_store.h"

#include <pqxx/stream_to>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "controller/store/pg_job_store.h"
#include "controller/store/pg_util.h"

namespace perfgate::controller {
namespace {

double EpochSeconds(const google::protobuf::Timestamp& t) {
  return static_cast<double>(t.seconds()) + t.nanos() / 1e9;
}

}  // namespace

absl::StatusOr<int64_t> PgResultStore::StoreResults(const v1::UploadResultsRequest& req) {
  int64_t run_id = 0;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    // The attempt row lock serialises uploads of one attempt, so the "already stored" check
    // below cannot race with a concurrent replay.
    auto r = Exec(tx,
                  "SELECT a.epoch, j.run_id, j.id FROM attempts a JOIN jobs j ON j.id = a.job_id "
                  "WHERE a.id = $1 FOR UPDATE OF a",
                  req.attempt_id());
    if (r.empty()) return pgq::AttemptNotFound(req.attempt_id());
    if (r[0][0].as<int64_t>() != req.epoch()) return pgq::StaleEpoch(req.attempt_id(), req.epoch());
    run_id = r[0][1].as<int64_t>();
    const int64_t job_id = r[0][2].as<int64_t>();
    std::set<int> stored;
    for (const auto& row :
         Exec(tx, "SELECT repetition FROM repetitions WHERE attempt_id = $1", req.attempt_id())) {
      stored.insert(row[0].as<int>());
    }
    std::vector<const v1::RepetitionResult*> fresh;
    for (const auto& rep : req.results()) {
      if (stored.insert(rep.repetition()).second) fresh.push_back(&rep);
    }
    if (fresh.empty()) return absl::OkStatus();
    for (const auto* rep : fresh) {
      Exec(tx,
           "INSERT INTO repetitions (attempt_id, repetition, run_id, job_id, valid, "
           "invalid_reason, generator, started_at, ended_at) VALUES ($1, $2, $3, $4, $5, $6, $7, "
           "to_timestamp($8), to_timestamp($9))",
           req.attempt_id(), rep->repetition(), run_id, job_id, rep->valid(), rep->invalid_reason(),
           rep->generator(), EpochSeconds(rep->started_at()), EpochSeconds(rep->ended_at()));
      for (const auto& h : rep->histograms()) {
        std::string data = h.histogram().SerializeAsString();
        Exec(tx,
             "INSERT INTO histograms (attempt_id, repetition, name, data) VALUES ($1, $2, $3, $4)",
             req.attempt_id(), rep->repetition(), h.name(),
             pqxx::binarystring(data.data(), data.size()));
      }
    }
    pqxx::stream_to copy(tx, "measurements",
                         std::vector<std::string>{"attempt_id", "repetition", "run_id", "job_id",
                                                  "name", "unit", "direction", "value"});
    for (const auto* rep : fresh) {
      for (const auto& m : rep->measurements()) {
        copy << std::make_tuple(req.attempt_id(), rep->repetition(), run_id, job_id, m.name(),
                                m.unit(), static_cast<int>(m.direction()), m.value());
      }
    }
    copy.complete();
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return run_id;
}

absl::StatusOr<v1::RunResults> PgResultStore::GetRunResults(int64_t run_id) {
  v1::RunResults out;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    out.Clear();
    out.set_run_id(run_id);
    if (Exec(tx, "SELECT 1 FROM runs WHERE id = $1", run_id).empty()) {
      return absl::NotFoundError(absl::StrCat("run ", run_id, " not found"));
    }
    // Per job: the latest attempt that reported results (a retried job's earlier, failed
    // attempt may have reported some too).
    std::map<int64_t, v1::JobResults*> by_attempt;
    for (const auto& r : Exec(tx,
                              "SELECT j.id, j.name, (SELECT max(attempt_id) FROM repetitions p "
                              "WHERE p.job_id = j.id) FROM jobs j WHERE j.run_id = $1 ORDER BY "
                              "j.idx",
                              run_id)) {
      v1::JobResults* jr = out.add_jobs();
      jr->set_job_id(r[0].as<int64_t>());
      jr->set_job_name(r[1].as<std::string>());
      if (!r[2].is_null()) {
        jr->set_attempt_id(r[2].as<int64_t>());
        by_attempt[jr->attempt_id()] = jr;
      }
    }
    if (by_attempt.empty()) return absl::OkStatus();
    std::vector<int64_t> attempts;
    for (const auto& [a, _] : by_attempt) attempts.push_back(a);
    std::map<std::pair<int64_t, int>, v1::RepetitionResult*> reps;
    for (const auto& r : Exec(tx,
                              "SELECT attempt_id, repetition, valid, invalid_reason, generator, "
                              "extract(epoch from started_at)::float8, "
                              "extract(epoch from ended_at)::float8 FROM repetitions "
                              "WHERE attempt_id = ANY($1::bigint[]) ORDER BY attempt_id, "
                              "repetition",
                              BigintArray(attempts))) {
      int64_t a = r[0].as<int64_t>();
      v1::RepetitionResult* rep = by_attempt[a]->add_repetitions();
      rep->set_repetition(r[1].as<int>());
      rep->set_valid(r[2].as<bool>());
      rep->set_invalid_reason(r[3].as<std::string>());
      rep->set_generator(r[4].as<std::string>());
      SetTimestamp(r[5], rep->mutable_started_at());
      SetTimestamp(r[6], rep->mutable_ended_at());
      reps[{a, rep->repetition()}] = rep;
    }
    for (const auto& r : Exec(tx,
                              "SELECT attempt_id, repetition, name, unit, direction, value FROM "
                              "measurements WHERE attempt_id = ANY($1::bigint[]) ORDER BY "
                              "attempt_id, repetition, name",
                              BigintArray(attempts))) {
      auto it = reps.find({r[0].as<int64_t>(), r[1].as<int>()});
      if (it == reps.end()) continue;
      v1::Measurement* m = it->second->add_measurements();
      m->set_name(r[2].as<std::string>());
      m->set_unit(r[3].as<std::string>());
      m->set_direction(static_cast<v1::Direction>(r[4].as<int>()));
      m->set_value(r[5].as<double>());
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace perfgate::controller
