#include "controller/queue/upload_checks.h"

#include <cmath>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/hash/sha256.h"
#include "common/hist/hdr_histogram.h"

namespace perfgate::controller {
namespace {

absl::Status Bad(const std::string& m) { return absl::InvalidArgumentError(m); }

// The observation parts of a repetition (gaps, series, profiles, dbstats) within bounds: "" or
// ".field: problem".
std::string CheckObserved(const v1::RepetitionResult& r, const UploadLimits& l) {
  auto long_name = [&](const std::string& v) { return v.empty() || v.size() > l.max_name_bytes; };
  if (r.gaps_size() > l.max_measurements_per_repetition) return ".gaps: too many";
  for (int k = 0; k < r.gaps_size(); ++k) {
    if (long_name(r.gaps(k).name()) || r.gaps(k).reason().size() > l.max_message_bytes)
      return absl::StrCat(".gaps[", k, "]: name must be 1..", l.max_name_bytes,
                          " bytes, reason at most ", l.max_message_bytes);
  }
  if (r.series_size() > common::kMaxSeriesPerRepetition)
    return absl::StrCat(".series: at most ", common::kMaxSeriesPerRepetition);
  size_t points = 0;
  for (int k = 0; k < r.series_size(); ++k) {
    if (long_name(r.series(k).name())) return absl::StrCat(".series[", k, "].name: bad length");
    points += r.series(k).points_size();
  }
  if (points > common::kMaxSeriesPointsPerRepetition)
    return absl::StrCat(".series: more than ", common::kMaxSeriesPointsPerRepetition, " points");
  if (r.profiles_size() > 256) return ".profiles: at most 256";
  std::set<std::string> keys;
  for (int k = 0; k < r.profiles_size(); ++k) {
    const auto& p = r.profiles(k);
    std::string f = absl::StrCat(".profiles[", k, "]");
    if (!common::IsSha256Hex(p.sha256())) return f + ".sha256: want 64 lowercase hex digits";
    if (long_name(p.service()) || long_name(p.kind()) || long_name(p.point()))
      return f + ": service, kind and point must be 1.." + std::to_string(l.max_name_bytes) +
             " bytes";
    if (!keys.insert(p.service() + "/" + p.kind() + "/" + p.point()).second)
      return f + ": the same service, kind and point twice";
  }
  if (r.faults_size() > 64) return ".faults: at most 64";
  for (int k = 0; k < r.faults_size(); ++k) {
    const auto& f = r.faults(k);
    for (const std::string* v :
         {&f.name(), &f.action(), &f.target(), &f.host(), &f.service(), &f.phase()}) {
      if (v->size() > l.max_name_bytes)
        return absl::StrCat(".faults[", k, "]: names at most ", l.max_name_bytes, " bytes");
    }
    if (f.name().empty()) return absl::StrCat(".faults[", k, "].name: is required");
    for (const std::string* v : {&f.error(), &f.detail(), &f.recovery_note()}) {
      if (v->size() > l.max_message_bytes)
        return absl::StrCat(".faults[", k, "]: texts at most ", l.max_message_bytes, " bytes");
    }
    if (!std::isfinite(f.recovery_ms()))
      return absl::StrCat(".faults[", k, "].recovery_ms: not a number");
  }
  if (r.phases_size() > 64) return ".phases: at most 64";
  for (int k = 0; k < r.phases_size(); ++k) {
    const auto& p = r.phases(k);
    if (p.name().size() > l.max_name_bytes || p.kind().size() > l.max_name_bytes)
      return absl::StrCat(".phases[", k, "]: names at most ", l.max_name_bytes, " bytes");
    if (p.errors_size() > 10) return absl::StrCat(".phases[", k, "].errors: at most 10");
    for (const auto& e : p.errors()) {
      if (e.size() > l.max_message_bytes)
        return absl::StrCat(".phases[", k, "].errors: at most ", l.max_message_bytes,
                            " bytes each");
    }
    if (!std::isfinite(p.seconds()) || p.seconds() < 0)
      return absl::StrCat(".phases[", k, "].seconds: not a duration");
  }
  const auto& d = r.dbstats();
  if (d.statements_size() > 1000) return ".dbstats.statements: at most 1000";
  if (d.explains_size() > 100) return ".dbstats.explains: at most 100";
  for (int k = 0; k < d.statements_size(); ++k) {
    if (d.statements(k).query().size() > 64 * 1024)
      return absl::StrCat(".dbstats.statements[", k, "].query: at most 64 KiB");
  }
  for (int k = 0; k < d.explains_size(); ++k) {
    if (d.explains(k).plan_json().size() > (1 << 20))
      return absl::StrCat(".dbstats.explains[", k, "].plan_json: at most 1 MiB");
  }
  return "";
}

// The measurements and histograms of one repetition: "" or ".field: problem".
std::string CheckMeasured(const v1::RepetitionResult& r, const UploadLimits& l) {
  if (r.measurements_size() > l.max_measurements_per_repetition) return ".measurements: too many";
  if (r.histograms_size() > l.max_histograms_per_repetition) return ".histograms: too many";
  std::set<std::string> names;
  for (int k = 0; k < r.measurements_size(); ++k) {
    const auto& m = r.measurements(k);
    const std::string f = absl::StrCat(".measurements[", k, "]");
    if (!names.insert(m.name()).second)
      return f + ".name: '" + m.name() + "' appears twice in the repetition";
    if (m.name().empty() || m.name().size() > l.max_name_bytes ||
        m.unit().size() > l.max_name_bytes)
      return absl::StrCat(f, ": name must be 1..", l.max_name_bytes,
                          " bytes, unit at most as long");
    if (!std::isfinite(m.value())) return f + ".value: not a finite number";
    if (!v1::Direction_IsValid(m.direction())) return f + ".direction: unknown";
  }
  names.clear();
  for (int k = 0; k < r.histograms_size(); ++k) {
    const auto& h = r.histograms(k);
    const std::string f = absl::StrCat(".histograms[", k, "]");
    if (!names.insert(h.name()).second)
      return f + ".name: '" + h.name() + "' appears twice in the repetition";
    if (h.name().empty() || h.name().size() > l.max_name_bytes)
      return absl::StrCat(f, ".name: must be 1..", l.max_name_bytes, " bytes");
    if (auto parsed = common::HdrHistogram::FromProto(h.histogram()); !parsed.ok())
      return absl::StrCat(f, ": ", parsed.status().message());
  }
  return "";
}

}  // namespace

absl::Status CheckLogUpload(const v1::UploadLogRequest& req, const UploadLimits& l) {
  if (req.attempt_id() <= 0 || req.epoch() <= 0) return Bad("attempt_id and epoch are required");
  if (req.chunks_size() > l.max_chunks_per_request)
    return Bad(absl::StrCat("chunks: at most ", l.max_chunks_per_request, " per request"));
  for (int i = 0; i < req.chunks_size(); ++i) {
    const auto& c = req.chunks(i);
    if (c.seq() < 0) return Bad(absl::StrCat("chunks[", i, "].seq: negative"));
    if (c.data().size() > l.max_chunk_bytes) {
      return Bad(absl::StrCat("chunks[", i, "].data: ", c.data().size(), " bytes; at most ",
                              l.max_chunk_bytes));
    }
    if (c.stream() == v1::LOG_STREAM_UNSPECIFIED || !v1::LogStream_IsValid(c.stream()))
      return Bad(absl::StrCat("chunks[", i, "].stream: unknown"));
  }
  return absl::OkStatus();
}

absl::Status CheckResultsUpload(const v1::UploadResultsRequest& req, const UploadLimits& l) {
  if (req.attempt_id() <= 0 || req.epoch() <= 0) return Bad("attempt_id and epoch are required");
  if (req.results_size() > l.max_repetitions_per_request) {
    return Bad(absl::StrCat("results: at most ", l.max_repetitions_per_request,
                            " repetitions per request"));
  }
  for (int i = 0; i < req.results_size(); ++i) {
    const auto& r = req.results(i);
    const std::string f = absl::StrCat("results[", i, "]");
    if (r.repetition() < 1) return Bad(f + ".repetition: must be 1 or more");
    if (r.invalid_reason().size() > l.max_message_bytes * 64 ||
        r.generator().size() > l.max_name_bytes)
      return Bad(f + ": invalid_reason or generator too long");
    if (std::string why = CheckMeasured(r, l); !why.empty()) return Bad(f + why);
    if (std::string why = CheckObserved(r, l); !why.empty()) return Bad(f + why);
  }
  return absl::OkStatus();
}

}  // namespace perfgate::controller
