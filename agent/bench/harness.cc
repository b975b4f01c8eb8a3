#include "agent/bench/harness.h"

#include <fnmatch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agent/bench/generators.h"
#include "common/status/macros.h"

namespace perfgate::agent {
namespace {

using Json = nlohmann::json;

// Collects the repetitions of one report: repetition k (0-based) of every benchmark goes into
// results[k], each metric named once per repetition.
class ReportBuilder {
 public:
  ReportBuilder(const v1::HarnessSpec& h, std::string prefix)
      : spec_(h), prefix_(std::move(prefix)) {}

  // `benchmark` is the harness's name for it; `suffix` empty for the benchmark's main figure.
  absl::Status Add(size_t rep, const std::string& benchmark, const std::string& suffix,
                   const std::string& unit, double value, v1::Direction d) {
    if (!std::isfinite(value)) {
      return absl::FailedPreconditionError(
          absl::StrCat(benchmark, ": ", suffix.empty() ? "its value" : suffix, " is not finite"));
    }
    if (rep >= kMaxHarnessRepetitions) {
      return absl::FailedPreconditionError(
          absl::StrCat("more than ", kMaxHarnessRepetitions, " repetitions"));
    }
    std::string name = prefix_ + Safe(benchmark) + (suffix.empty() ? "" : "." + Safe(suffix));
    if (results_.size() <= rep) results_.resize(rep + 1);
    if (!seen_.insert({rep, name}).second) {
      return absl::FailedPreconditionError(absl::StrCat(
          "metric ", name, " twice in repetition ", rep + 1,
          " (two benchmarks whose names differ only in characters a metric name cannot hold?)"));
    }
    for (const auto& g : spec_.higher_is_better()) {
      if (fnmatch(g.c_str(), name.c_str(), 0) == 0) d = kHigher;
    }
    AddMeasurement(&results_[rep], name, unit, value, d);
    return absl::OkStatus();
  }

  absl::Status Invalid(size_t rep, const std::string& why) {
    if (rep >= kMaxHarnessRepetitions) {
      return absl::FailedPreconditionError(
          absl::StrCat("more than ", kMaxHarnessRepetitions, " repetitions"));
    }
    if (results_.size() <= rep) results_.resize(rep + 1);
    v1::RepetitionResult& r = results_[rep];
    if (!r.invalid_reason().empty()) {
      absl::StrAppend(r.mutable_invalid_reason(), "; ", why);
    } else {
      r.set_invalid_reason(why);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<v1::RepetitionResult>> Finish(const std::string& generator) && {
    if (results_.empty()) return absl::FailedPreconditionError("the report names no benchmark");
    for (size_t i = 0; i < results_.size(); ++i) {
      results_[i].set_repetition(static_cast<int32_t>(i + 1));
      results_[i].set_generator(generator);
      results_[i].set_valid(results_[i].invalid_reason().empty());
      if (results_[i].measurements_size() == 0 && results_[i].valid()) {
        results_[i].set_valid(false);
        results_[i].set_invalid_reason("no benchmark reported this repetition");
      }
    }
    return std::move(results_);
  }

 private:
  static std::string Safe(absl::string_view s) {
    std::string out;
    for (char c : s) {
      bool ok =
          absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
      if (ok) {
        out += c;
      } else if (!out.empty() && out.back() != '_') {
        out += '_';
      }
    }
    while (!out.empty() && out.back() == '_') out.pop_back();
    if (out.size() > 150) out.resize(150);
    return out.empty() ? "unnamed" : out;
  }

  const v1::HarnessSpec& spec_;
  std::string prefix_;
  std::vector<v1::RepetitionResult> results_;
  std::set<std::pair<size_t, std::string>> seen_;
};

// A JSON document, or an error naming the line and column where it stops being one.
absl::StatusOr<Json> ParseJson(const std::string& text) {
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    size_t upto = std::min<size_t>(e.byte == 0 ? 0 : e.byte - 1, text.size());
    size_t line = 1, col = 1;
    for (size_t i = 0; i < upto; ++i) {
      if (text[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    std::string what = e.what();
    if (auto p = what.find("syntax error"); p != std::string::npos) what = what.substr(p);
    return absl::FailedPreconditionError(
        absl::StrCat("line ", line, ", column ", col, ": not JSON (", what, ")"));
  }
}

// `doc[key]` as a list of objects, or an error naming it.
absl::StatusOr<const Json*> ListOfObjects(const Json& doc, const char* key) {
  if (!doc.is_object() || !doc.contains(key) || !doc[key].is_array())
    return absl::FailedPreconditionError(absl::StrCat("no '", key, "' list in the report"));
  for (size_t i = 0; i < doc[key].size(); ++i) {
    if (!doc[key][i].is_object())
      return absl::FailedPreconditionError(absl::StrCat(key, "[", i, "]: not an object"));
  }
  return &doc[key];
}

absl::StatusOr<double> Number(const Json& o, const std::string& where, const char* key) {
  if (!o.contains(key) || !o[key].is_number())
    return absl::FailedPreconditionError(absl::StrCat(where, ".", key, ": a number is required"));
  return o[key].get<double>();
}

absl::StatusOr<std::string> Text(const Json& o, const std::string& where, const char* key) {
  if (!o.contains(key) || !o[key].is_string() || o[key].get<std::string>().empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(where, ".", key, ": a non-empty string is required"));
  }
  return o[key].get<std::string>();
}

// Google Benchmark (--benchmark_format=json): every "iteration" entry is one repetition of one
// benchmark; aggregates (mean, median, stddev, cv, BigO) are left out: perfgate computes its own.
absl::Status ParseGoogleBenchmark(const Json& doc, ReportBuilder* b) {
  static const std::set<std::string> kBookkeeping = {"family_index", "per_family_instance_index",
                                                     "repetitions",  "repetition_index",
                                                     "threads",      "iterations",
                                                     "real_time",    "cpu_time",
                                                     "complexity_n"};
  ASSIGN_OR_RETURN(const Json* list, ListOfObjects(doc, "benchmarks"));
  for (size_t i = 0; i < list->size(); ++i) {
    const Json& e = (*list)[i];
    std::string where = absl::StrCat("benchmarks[", i, "]");
    if (e.value("run_type", "iteration") != "iteration") continue;
    std::string name = e.contains("run_name") && e["run_name"].is_string()
                           ? e["run_name"].get<std::string>()
                           : e.value("name", "");
    if (name.empty()) return absl::FailedPreconditionError(where + ".name: is required");
    size_t rep = 0;
    if (e.contains("repetition_index")) {
      if (!e["repetition_index"].is_number_unsigned())
        return absl::FailedPreconditionError(where + ".repetition_index: a whole number");
      rep = e["repetition_index"].get<size_t>();
    }
    if (e.value("error_occurred", false)) {
      RETURN_IF_ERROR(b->Invalid(rep, absl::StrCat(name, ": ", e.value("error_message", "error"))));
      continue;
    }
    std::string unit = e.value("time_unit", "ns");
    if (unit != "ns" && unit != "us" && unit != "ms" && unit != "s")
      return absl::FailedPreconditionError(where + ".time_unit: '" + unit + "' is not a unit");
    ASSIGN_OR_RETURN(double real, Number(e, where, "real_time"));
    ASSIGN_OR_RETURN(double cpu, Number(e, where, "cpu_time"));
    RETURN_IF_ERROR(b->Add(rep, name, "", unit, real, kLower));
    RETURN_IF_ERROR(b->Add(rep, name, "cpu_time", unit, cpu, kLower));
    // User counters sit beside the fixed fields, as numbers.
    for (const auto& [key, v] : e.items()) {
      if (!v.is_number() || kBookkeeping.count(key)) continue;
      bool rate = absl::EndsWith(key, "_per_second");
      std::string cunit = key == "bytes_per_second"   ? "B/s"
                          : key == "items_per_second" ? "items/s"
                          : rate                      ? "/s"
                                                      : "";
      RETURN_IF_ERROR(b->Add(rep, name, key, cunit, v.get<double>(), rate ? kHigher : kLower));
    }
  }
  return absl::OkStatus();
}

// pytest-benchmark (--benchmark-json): one repetition, each benchmark's median round (seconds)
// and its operations per second.
absl::Status ParsePytestBenchmark(const Json& doc, ReportBuilder* b) {
  ASSIGN_OR_RETURN(const Json* list, ListOfObjects(doc, "benchmarks"));
  for (size_t i = 0; i < list->size(); ++i) {
    const Json& e = (*list)[i];
    std::string where = absl::StrCat("benchmarks[", i, "]");
    ASSIGN_OR_RETURN(std::string name, Text(e, where, "name"));
    if (!e.contains("stats") || !e["stats"].is_object())
      return absl::FailedPreconditionError(where + ".stats: an object is required");
    ASSIGN_OR_RETURN(double median, Number(e["stats"], where + ".stats", "median"));
    ASSIGN_OR_RETURN(double ops, Number(e["stats"], where + ".stats", "ops"));
    RETURN_IF_ERROR(b->Add(0, name, "", "s", median, kLower));
    RETURN_IF_ERROR(b->Add(0, name, "ops", "op/s", ops, kHigher));
  }
  return absl::OkStatus();
}

// hyperfine (--export-json): run k of every command is repetition k.
absl::Status ParseHyperfine(const Json& doc, ReportBuilder* b) {
  ASSIGN_OR_RETURN(const Json* list, ListOfObjects(doc, "results"));
  for (size_t i = 0; i < list->size(); ++i) {
    const Json& e = (*list)[i];
    std::string where = absl::StrCat("results[", i, "]");
    ASSIGN_OR_RETURN(std::string command, Text(e, where, "command"));
    if (!e.contains("times") || !e["times"].is_array() || e["times"].empty())
      return absl::FailedPreconditionError(where + ".times: a non-empty list is required");
    const Json* codes =
        e.contains("exit_codes") && e["exit_codes"].is_array() ? &e["exit_codes"] : nullptr;
    for (size_t k = 0; k < e["times"].size(); ++k) {
      const Json& t = e["times"][k];
      if (!t.is_number())
        return absl::FailedPreconditionError(absl::StrCat(where, ".times[", k, "]: not a number"));
      if (codes && k < codes->size() && (*codes)[k].is_number_integer() && (*codes)[k] != 0) {
        RETURN_IF_ERROR(
            b->Invalid(k, absl::StrCat(command, ": exit code ", (*codes)[k].get<int64_t>())));
        continue;
      }
      RETURN_IF_ERROR(b->Add(k, command, "", "s", t.get<double>(), kLower));
    }
  }
  return absl::OkStatus();
}

// One go unit as a metric suffix, unit and direction: ns/op is the benchmark's main figure.
struct GoUnit {
  std::string suffix, unit;
  v1::Direction direction;
};
GoUnit GoUnitOf(const std::string& u) {
  if (u == "ns/op") return {"", "ns/op", kLower};
  if (u == "B/op") return {"bytes_per_op", "B/op", kLower};
  if (u == "allocs/op") return {"allocs_per_op", "allocs/op", kLower};
  if (u == "MB/s") return {"mb_per_s", "MB/s", kHigher};
  // Custom metrics (b.ReportMetric): per second is a rate, anything else lower is better.
  return {u, u, absl::EndsWith(u, "/s") ? kHigher : kLower};
}

// `go test -bench` (with -count N: N lines per benchmark, in order):
//   BenchmarkFib/n=10-8   300000   4000 ns/op   0 B/op   0 allocs/op
// A benchmark that logs gets its name on a line of its own, its figures on a later line.
absl::Status ParseGoTest(const std::string& text, ReportBuilder* b) {
  std::map<std::string, size_t> count;  // lines seen per benchmark = next repetition
  std::string pending;                  // a name whose figures come on a later line
  int lineno = 0;
  size_t found = 0;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    ++lineno;
    std::string line(absl::StripTrailingAsciiWhitespace(raw));
    auto bad = [&](const std::string& why) {
      return absl::FailedPreconditionError(absl::StrCat("line ", lineno, ": ", why, ": ", line));
    };
    if (absl::StartsWith(line, "--- FAIL") || line == "FAIL" || absl::StartsWith(line, "FAIL\t"))
      return bad("a benchmark failed");
    std::vector<std::string> f = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (f.empty()) continue;
    std::string name;
    size_t at = 0;
    if (absl::StartsWith(f[0], "Benchmark")) {
      name = f[0];
      at = 1;
      if (f.size() == 1) {
        pending = name;
        continue;
      }
    } else if (!pending.empty() && absl::ascii_isdigit(static_cast<unsigned char>(f[0][0]))) {
      name = pending;
    } else {
      continue;  // goos:, pkg:, PASS, ok, a benchmark's own log lines
    }
    pending.clear();
    int64_t iterations;
    if (!absl::SimpleAtoi(f[at], &iterations)) {
      // "BenchmarkX  some log text": a log line that starts with the benchmark's name.
      if (at == 1) continue;
      return bad("want an iteration count after the benchmark's name");
    }
    if ((f.size() - at - 1) % 2 != 0 || f.size() - at - 1 == 0)
      return bad("want value-unit pairs after the iteration count");
    // The -GOMAXPROCS suffix differs between machines; the benchmark is the same.
    if (size_t dash = name.rfind('-');
        dash != std::string::npos && dash + 1 < name.size() &&
        std::all_of(name.begin() + dash + 1, name.end(), ::isdigit)) {
      name.resize(dash);
    }
    size_t rep = count[name]++;
    for (size_t i = at + 1; i + 1 < f.size(); i += 2) {
      double v;
      if (!absl::SimpleAtod(f[i], &v)) return bad("'" + f[i] + "' is not a number");
      GoUnit u = GoUnitOf(f[i + 1]);
      RETURN_IF_ERROR(b->Add(rep, name, u.suffix, u.unit, v, u.direction));
    }
    ++found;
  }
  if (found == 0)
    return absl::FailedPreconditionError("no Benchmark lines (did the command pass -bench?)");
  return absl::OkStatus();
}

}  // namespace

std::string HarnessName(v1::HarnessSpec::Format f) {
  switch (f) {
    case v1::HarnessSpec::FORMAT_GOOGLE_BENCHMARK:
      return "google-benchmark";
    case v1::HarnessSpec::FORMAT_PYTEST_BENCHMARK:
      return "pytest-benchmark";
    case v1::HarnessSpec::FORMAT_GO_TEST:
      return "go-test";
    case v1::HarnessSpec::FORMAT_HYPERFINE:
      return "hyperfine";
    default:
      return "unknown";
  }
}

absl::StatusOr<std::vector<v1::RepetitionResult>> ParseHarnessReport(const v1::HarnessSpec& h,
                                                                     const std::string& text) {
  static const std::map<v1::HarnessSpec::Format, std::string> kPrefix = {
      {v1::HarnessSpec::FORMAT_GOOGLE_BENCHMARK, "gbench."},
      {v1::HarnessSpec::FORMAT_PYTEST_BENCHMARK, "pytest."},
      {v1::HarnessSpec::FORMAT_GO_TEST, "go."},
      {v1::HarnessSpec::FORMAT_HYPERFINE, "hyperfine."}};
  const std::string what = h.format() == v1::HarnessSpec::FORMAT_GO_TEST
                               ? "go test -bench output"
                               : HarnessName(h.format()) + " report";
  auto it = kPrefix.find(h.format());
  if (it == kPrefix.end()) return absl::FailedPreconditionError("harness: no format");
  ReportBuilder b(h, it->second);
  absl::Status s;
  if (h.format() == v1::HarnessSpec::FORMAT_GO_TEST) {
    s = ParseGoTest(text, &b);
  } else {
    absl::StatusOr<Json> doc = ParseJson(text);
    if (!doc.ok()) {
      s = doc.status();
    } else if (h.format() == v1::HarnessSpec::FORMAT_GOOGLE_BENCHMARK) {
      s = ParseGoogleBenchmark(*doc, &b);
    } else if (h.format() == v1::HarnessSpec::FORMAT_PYTEST_BENCHMARK) {
      s = ParsePytestBenchmark(*doc, &b);
    } else {
      s = ParseHyperfine(*doc, &b);
    }
  }
  if (!s.ok()) return absl::FailedPreconditionError(absl::StrCat(what, " ", s.message()));
  auto out = std::move(b).Finish("harness:" + HarnessName(h.format()));
  if (!out.ok())
    return absl::FailedPreconditionError(absl::StrCat(what, ": ", out.status().message()));
  return out;
}

absl::StatusOr<std::vector<v1::RepetitionResult>> RunHarness(const v1::HarnessSpec& h,
                                                             BenchContext& ctx) {
  const std::string what = "harness " + HarnessName(h.format());
  auto expand = [&](const std::string& t) -> absl::StatusOr<std::string> {
    auto e = ctx.Expand(t);
    if (!e.ok()) return absl::FailedPreconditionError(e.status().message());
    return e;
  };
  StepOptions o;
  ASSIGN_OR_RETURN(std::string cmd, expand(h.command()));
  ASSIGN_OR_RETURN(std::string dir, expand(h.working_dir()));
  std::filesystem::path wd =
      dir.empty() ? std::filesystem::path(ctx.workdir) : std::filesystem::path(ctx.workdir) / dir;
  o.spawn.argv = {"/bin/sh", "-c", cmd};
  o.spawn.working_dir = wd.string();
  for (const auto& [k, v] : h.env()) {
    ASSIGN_OR_RETURN(o.spawn.env_add[k], expand(v));
  }
  std::filesystem::path report;
  if (!h.output().empty()) {
    ASSIGN_OR_RETURN(std::string out, expand(h.output()));
    report = wd / out;
    std::error_code ec;
    std::filesystem::remove(report, ec);  // never read a report a previous run left
    std::filesystem::create_directories(report.parent_path(), ec);
    // The harness writes its report there; only a directory of the attempt's is given.
    const std::string parent = report.parent_path().lexically_normal().string();
    if (parent == ctx.workdir || absl::StartsWith(parent, ctx.workdir + "/"))
      GiveToJob(ctx.steps.sandbox(), parent);
  }
  o.timeout = absl::Seconds(h.timeout_seconds());
  o.stream_output = !report.empty();  // otherwise stdout is the report; stderr is kept
  o.capture_stdout = report.empty() ? kMaxHarnessReportBytes + 1 : 0;
  StepResult r = ctx.steps.Run(o);
  if (r.cancelled) return absl::CancelledError("cancelled");
  if (!r.ok()) return absl::FailedPreconditionError(DescribeFailure(what, r));
  std::string text = std::move(r.stdout_text);
  if (!report.empty()) {
    std::error_code ec;
    auto size = std::filesystem::file_size(report, ec);
    if (ec) {
      return absl::FailedPreconditionError(
          absl::StrCat(what, ": the command wrote no report at ", report.string()));
    }
    if (size <= kMaxHarnessReportBytes) {
      std::ifstream in(report, std::ios::binary);
      std::ostringstream ss;
      ss << in.rdbuf();
      text = ss.str();
    } else {
      text.assign(kMaxHarnessReportBytes + 1, ' ');
    }
  }
  if (text.size() > kMaxHarnessReportBytes) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, ": the report is over ", kMaxHarnessReportBytes >> 20, " MiB"));
  }
  return ParseHarnessReport(h, text);
}

}  // namespace perfgate::agent
