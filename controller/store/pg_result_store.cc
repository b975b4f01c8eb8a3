#include "controller/store/pg_result_store.h"

#include <map>
#include <pqxx/stream_to>
#include <set>
#include <string_view>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "common/hash/sha256.h"
#include "common/status/macros.h"
#include "controller/store/pg_queue_tx.h"
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
                  "SELECT a.epoch, j.run_id, j.id, j.current_epoch, a.state FROM attempts a JOIN "
                  "jobs j ON j.id = a.job_id WHERE a.id = $1 FOR UPDATE OF a",
                  req.attempt_id());
    if (r.empty()) return pgq::AttemptNotFound(req.attempt_id());
    RETURN_IF_ERROR(pgq::CheckCurrentAttempt(req.attempt_id(), req.epoch(), r[0][0].as<int64_t>(),
                                             r[0][3].as<int64_t>()));
    run_id = r[0][1].as<int64_t>();
    const int64_t job_id = r[0][2].as<int64_t>();
    const std::string attempt_state = r[0][4].as<std::string>();
    std::set<int> stored;
    for (const auto& row :
         Exec(tx, "SELECT repetition FROM repetitions WHERE attempt_id = $1", req.attempt_id())) {
      stored.insert(row[0].as<int>());
    }
    std::vector<const v1::RepetitionResult*> fresh;
    for (const auto& rep : req.results()) {
      if (stored.insert(rep.repetition()).second) fresh.push_back(&rep);
    }
    if (fresh.empty()) return absl::OkStatus();  // a replay
    // Profiles name blobs, which must have arrived whole first.
    for (const auto* rep : fresh) {
      for (int i = 0; i < rep->profiles_size(); ++i) {
        const auto& p = rep->profiles(i);
        // FOR KEY SHARE: retention, which deletes unreferenced blobs, waits for this
        // transaction's profile rows (and then sees them) rather than deleting the blob
        // between this check and the insert.
        auto b = Exec(tx, "SELECT complete FROM blobs WHERE sha256 = $1 FOR KEY SHARE",
                      p.sha256());
        if (b.empty() || !b[0][0].as<bool>()) {
          return absl::InvalidArgumentError(
              absl::StrCat("results[repetition ", rep->repetition(), "].profiles[", i,
                           "].sha256: blob ", p.sha256(), " has not been uploaded whole"));
        }
      }
    }
    // An attempt the controller ended (expired, cancelled) stores nothing new.
    if (attempt_state != "ASSIGNED" && attempt_state != "RUNNING" && attempt_state != "LOST")
      return absl::FailedPreconditionError(absl::StrCat("attempt ", req.attempt_id(),
                                                        " already ended as ", attempt_state,
                                                        ": its results are refused"));
    for (const auto* rep : fresh) {
      Exec(tx,
           "INSERT INTO repetitions (attempt_id, repetition, run_id, job_id, valid, "
           "invalid_reason, generator, started_at, ended_at, machine_class) VALUES ($1, $2, $3, "
           "$4, $5, $6, $7, to_timestamp($8), to_timestamp($9), (SELECT coalesce(g.labels->>"
           "'machine_class', '') FROM attempts a JOIN agents g ON g.name = a.agent_name WHERE "
           "a.id = $1))",
           req.attempt_id(), rep->repetition(), run_id, job_id, rep->valid(), rep->invalid_reason(),
           rep->generator(), EpochSeconds(rep->started_at()), EpochSeconds(rep->ended_at()));
      for (const auto& h : rep->histograms()) {
        std::string data = h.histogram().SerializeAsString();
        Exec(tx,
             "INSERT INTO histograms (attempt_id, repetition, name, data) VALUES ($1, $2, $3, $4)",
             req.attempt_id(), rep->repetition(), h.name(),
             pqxx::binarystring(data.data(), data.size()));
      }
      for (const auto& g : rep->gaps()) {
        Exec(tx,
             "INSERT INTO gaps (attempt_id, repetition, name, reason) VALUES ($1, $2, $3, $4) "
             "ON CONFLICT DO NOTHING",
             req.attempt_id(), rep->repetition(), g.name(), g.reason());
      }
      for (int i = 0; i < rep->series_size(); ++i) {
        std::string data = rep->series(i).SerializeAsString();
        Exec(tx,
             "INSERT INTO series (attempt_id, repetition, name, idx, data) VALUES ($1, $2, $3, "
             "$4, $5)",
             req.attempt_id(), rep->repetition(), rep->series(i).name(), i,
             pqxx::binarystring(data.data(), data.size()));
      }
      for (int i = 0; i < rep->faults_size(); ++i) {
        std::string data = rep->faults(i).SerializeAsString();
        Exec(tx, "INSERT INTO faults (attempt_id, repetition, idx, data) VALUES ($1, $2, $3, $4)",
             req.attempt_id(), rep->repetition(), i, pqxx::binarystring(data.data(), data.size()));
      }
      for (int i = 0; i < rep->phases_size(); ++i) {
        std::string data = rep->phases(i).SerializeAsString();
        Exec(tx, "INSERT INTO phases (attempt_id, repetition, idx, data) VALUES ($1, $2, $3, $4)",
             req.attempt_id(), rep->repetition(), i, pqxx::binarystring(data.data(), data.size()));
      }
      if (rep->has_dbstats()) {
        std::string data = rep->dbstats().SerializeAsString();
        Exec(tx, "INSERT INTO dbstats (attempt_id, repetition, data) VALUES ($1, $2, $3)",
             req.attempt_id(), rep->repetition(), pqxx::binarystring(data.data(), data.size()));
      }
      for (const auto& p : rep->profiles()) {
        Exec(tx,
             "INSERT INTO profiles (attempt_id, repetition, run_id, job_id, service, kind, point, "
             "sha256, size, captured_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
             "to_timestamp($10)) ON CONFLICT DO NOTHING",
             req.attempt_id(), rep->repetition(), run_id, job_id, p.service(), p.kind(), p.point(),
             p.sha256(), p.size(), EpochSeconds(p.captured_at()));
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
                              "SELECT j.id, j.name, results_attempt(j.id) FROM jobs j WHERE "
                              "j.run_id = $1 ORDER BY j.idx",
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
    for (const auto& r : Exec(tx,
                              "SELECT attempt_id, repetition, name, reason FROM gaps WHERE "
                              "attempt_id = ANY($1::bigint[]) ORDER BY attempt_id, repetition, "
                              "name",
                              BigintArray(attempts))) {
      auto it = reps.find({r[0].as<int64_t>(), r[1].as<int>()});
      if (it == reps.end()) continue;
      v1::Gap* g = it->second->add_gaps();
      g->set_name(r[2].as<std::string>());
      g->set_reason(r[3].as<std::string>());
    }
    for (const auto& r : Exec(tx,
                              "SELECT attempt_id, repetition, data FROM faults WHERE attempt_id = "
                              "ANY($1::bigint[]) ORDER BY attempt_id, repetition, idx",
                              BigintArray(attempts))) {
      auto it = reps.find({r[0].as<int64_t>(), r[1].as<int>()});
      if (it == reps.end()) continue;
      pqxx::binarystring b(r[2]);
      it->second->add_faults()->ParseFromArray(b.data(), static_cast<int>(b.size()));
    }
    for (const auto& r : Exec(tx,
                              "SELECT attempt_id, repetition, data FROM phases WHERE attempt_id = "
                              "ANY($1::bigint[]) ORDER BY attempt_id, repetition, idx",
                              BigintArray(attempts))) {
      auto it = reps.find({r[0].as<int64_t>(), r[1].as<int>()});
      if (it == reps.end()) continue;
      pqxx::binarystring b(r[2]);
      it->second->add_phases()->ParseFromArray(b.data(), static_cast<int>(b.size()));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

namespace {

// The latest attempt with results of each job of the run, with the job's name. NOT_FOUND for
// an unknown run.
absl::StatusOr<std::map<int64_t, std::string>> LatestAttempts(pqxx::work& tx, int64_t run_id) {
  if (Exec(tx, "SELECT 1 FROM runs WHERE id = $1", run_id).empty()) {
    return absl::NotFoundError(absl::StrCat("run ", run_id, " not found"));
  }
  std::map<int64_t, std::string> out;
  for (const auto& r :
       Exec(tx, "SELECT results_attempt(j.id), j.name FROM jobs j WHERE j.run_id = $1", run_id)) {
    if (!r[0].is_null()) out[r[0].as<int64_t>()] = r[1].as<std::string>();
  }
  return out;
}

std::vector<int64_t> Keys(const std::map<int64_t, std::string>& m) {
  std::vector<int64_t> v;
  for (const auto& [k, _] : m) v.push_back(k);
  return v;
}

template <typename Msg>
bool ParseBytea(const pqxx::field& f, Msg* m) {
  pqxx::binarystring b(f);
  return m->ParseFromArray(b.data(), static_cast<int>(b.size()));
}

constexpr int64_t kMaxBlobBytes = 256ll << 20;
constexpr size_t kMaxChunkBytes = 4 << 20;

}  // namespace

absl::StatusOr<v1::UploadBlobChunkResponse> PgResultStore::StoreBlobChunk(
    const v1::UploadBlobChunkRequest& req) {
  if (!common::IsSha256Hex(req.sha256()))
    return absl::InvalidArgumentError("sha256: want 64 lowercase hex digits");
  if (req.size() <= 0 || req.size() > kMaxBlobBytes)
    return absl::InvalidArgumentError(absl::StrCat("size: want 1 to ", kMaxBlobBytes, " bytes"));
  if (req.data().size() > kMaxChunkBytes)
    return absl::InvalidArgumentError(absl::StrCat("data: at most ", kMaxChunkBytes, " bytes"));
  if (req.offset() < 0 || req.offset() + static_cast<int64_t>(req.data().size()) > req.size())
    return absl::InvalidArgumentError("offset: the chunk lies outside the blob");
  v1::UploadBlobChunkResponse resp;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    resp.Clear();
    auto a = Exec(tx,
                  "SELECT a.epoch, j.current_epoch FROM attempts a JOIN jobs j ON j.id = a.job_id "
                  "WHERE a.id = $1",
                  req.attempt_id());
    if (a.empty()) return pgq::AttemptNotFound(req.attempt_id());
    RETURN_IF_ERROR(pgq::CheckCurrentAttempt(req.attempt_id(), req.epoch(), a[0][0].as<int64_t>(),
                                             a[0][1].as<int64_t>()));
    Exec(tx, "INSERT INTO blobs (sha256, size) VALUES ($1, $2) ON CONFLICT DO NOTHING",
         req.sha256(), req.size());
    auto b = Exec(tx, "SELECT size, received, complete FROM blobs WHERE sha256 = $1 FOR UPDATE",
                  req.sha256());
    const int64_t size = b[0][0].as<int64_t>();
    int64_t received = b[0][1].as<int64_t>();
    if (size != req.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("size: ", req.size(), " disagrees with the ", size, " given before"));
    }
    if (b[0][2].as<bool>()) {
      resp.set_received(size);
      resp.set_complete(true);
      return absl::OkStatus();
    }
    if (req.offset() > received) {
      return absl::InvalidArgumentError(
          absl::StrCat("offset: ", req.offset(), " is beyond the ", received, " bytes held"));
    }
    const int64_t end = req.offset() + static_cast<int64_t>(req.data().size());
    if (end > received) {
      // Keep only the part not held yet: a resent chunk may overlap what arrived before.
      std::string_view fresh(req.data());
      fresh.remove_prefix(static_cast<size_t>(received - req.offset()));
      Exec(tx, "INSERT INTO blob_chunks (sha256, off, data) VALUES ($1, $2, $3)", req.sha256(),
           received, pqxx::binarystring(fresh.data(), fresh.size()));
      received = end;
      Exec(tx, "UPDATE blobs SET received = $2 WHERE sha256 = $1", req.sha256(), received);
    }
    if (received == size) {
      common::Sha256 h;
      for (const auto& r :
           Exec(tx, "SELECT data FROM blob_chunks WHERE sha256 = $1 ORDER BY off", req.sha256())) {
        pqxx::binarystring d(r[0]);
        h.Update(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
      }
      if (h.HexDigest() != req.sha256()) {
        Exec(tx, "DELETE FROM blobs WHERE sha256 = $1", req.sha256());
        return absl::InvalidArgumentError("sha256: the bytes received do not hash to " +
                                          req.sha256() + "; the partial blob is discarded");
      }
      Exec(tx, "UPDATE blobs SET complete = true WHERE sha256 = $1", req.sha256());
      resp.set_complete(true);
    }
    resp.set_received(received);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return resp;
}

absl::StatusOr<v1::GetRunSeriesResponse> PgResultStore::GetRunSeries(int64_t run_id,
                                                                     const std::string& name) {
  v1::GetRunSeriesResponse out;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    out.Clear();
    ASSIGN_OR_RETURN(auto attempts, LatestAttempts(tx, run_id));
    if (attempts.empty()) return absl::OkStatus();
    v1::RepetitionSeries* cur = nullptr;
    for (const auto& r :
         Exec(tx,
              "SELECT attempt_id, repetition, data FROM series WHERE attempt_id = "
              "ANY($1::bigint[]) AND name = $2 ORDER BY attempt_id, repetition, idx",
              BigintArray(Keys(attempts)), name)) {
      int64_t a = r[0].as<int64_t>();
      int rep = r[1].as<int>();
      if (!cur || cur->attempt_id() != a || cur->repetition() != rep) {
        cur = out.add_repetitions();
        cur->set_attempt_id(a);
        cur->set_repetition(rep);
        cur->set_job_name(attempts[a]);
      }
      if (!ParseBytea(r[2], cur->add_series()))
        return absl::DataLossError("a stored series does not parse");
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<v1::GetRunDbStatsResponse> PgResultStore::GetRunDbStats(int64_t run_id) {
  v1::GetRunDbStatsResponse out;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    out.Clear();
    ASSIGN_OR_RETURN(auto attempts, LatestAttempts(tx, run_id));
    if (attempts.empty()) return absl::OkStatus();
    for (const auto& r : Exec(tx,
                              "SELECT attempt_id, repetition, data FROM dbstats WHERE attempt_id "
                              "= ANY($1::bigint[]) ORDER BY attempt_id, repetition",
                              BigintArray(Keys(attempts)))) {
      v1::RepetitionDbStats* d = out.add_repetitions();
      d->set_attempt_id(r[0].as<int64_t>());
      d->set_repetition(r[1].as<int>());
      d->set_job_name(attempts[d->attempt_id()]);
      if (!ParseBytea(r[2], d->mutable_dbstats()))
        return absl::DataLossError("stored dbstats do not parse");
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

namespace {

void ReadProfileRow(const pqxx::row& r, v1::ProfileRef* p) {
  p->set_id(r[0].as<int64_t>());
  p->set_repetition(r[1].as<int>());
  p->set_service(r[2].as<std::string>());
  p->set_kind(r[3].as<std::string>());
  p->set_point(r[4].as<std::string>());
  p->set_sha256(r[5].as<std::string>());
  p->set_size(r[6].as<int64_t>());
  SetTimestamp(r[7], p->mutable_captured_at());
  p->set_job_name(r[8].as<std::string>());
}

constexpr const char* kProfileColumns =
    "p.id, p.repetition, p.service, p.kind, p.point, p.sha256, p.size, "
    "extract(epoch from p.captured_at)::float8, j.name";

}  // namespace

absl::StatusOr<v1::ListProfilesResponse> PgResultStore::ListProfiles(int64_t run_id) {
  v1::ListProfilesResponse out;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    out.Clear();
    ASSIGN_OR_RETURN(auto attempts, LatestAttempts(tx, run_id));
    if (attempts.empty()) return absl::OkStatus();
    for (const auto& r :
         Exec(tx,
              absl::StrCat("SELECT ", kProfileColumns,
                           " FROM profiles p JOIN jobs j ON j.id = p.job_id WHERE p.attempt_id = "
                           "ANY($1::bigint[]) ORDER BY p.id"),
              BigintArray(Keys(attempts)))) {
      ReadProfileRow(r, out.add_profiles());
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::pair<v1::ProfileRef, std::string>> PgResultStore::GetProfile(int64_t id) {
  std::pair<v1::ProfileRef, std::string> out;
  absl::Status s = pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    out = {};
    auto r = Exec(tx,
                  absl::StrCat("SELECT ", kProfileColumns,
                               " FROM profiles p JOIN jobs j ON j.id = p.job_id WHERE p.id = $1"),
                  id);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("profile ", id, " not found"));
    ReadProfileRow(r[0], &out.first);
    for (const auto& c : Exec(tx, "SELECT data FROM blob_chunks WHERE sha256 = $1 ORDER BY off",
                              out.first.sha256())) {
      pqxx::binarystring d(c[0]);
      out.second.append(reinterpret_cast<const char*>(d.data()), d.size());
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace perfgate::controller
