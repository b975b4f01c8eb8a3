#include "agent/bench/phases.h"

#include <fcntl.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <mutex>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/bench/faults.h"
#include "agent/bench/generators.h"
#include "agent/bench/resource_sampler.h"
#include "agent/exec/readiness.h"
#include "agent/load/pacer.h"
#include "common/hist/hdr_histogram.h"
#include "common/http/url.h"
#include "common/json/json_path.h"
#include "common/process/subprocess.h"
#include "common/spec/run_spec_rules.h"
#include "common/spec/template.h"
#include "common/status/macros.h"

namespace perfgate::agent {
namespace {

constexpr int kKeptErrors = 3;
constexpr size_t kErrorBytes = 300;

double SecondsSince(int64_t start_ns) { return (MonotonicNowNs() - start_ns) / 1e9; }

// What the workers of an ops phase share.
struct OpsTally {
  std::mutex mu;
  std::vector<std::string> errors;  // the first kKeptErrors
  int64_t failures = 0;
  void Fail(std::string why) {
    std::lock_guard<std::mutex> l(mu);
    ++failures;
    if (static_cast<int>(errors.size()) < kKeptErrors) {
      if (why.size() > kErrorBytes) why = why.substr(0, kErrorBytes) + "...";
      errors.push_back(std::move(why));
    }
  }
};

// One command operation: /bin/sh -c in the workdir, its output to `log` (read for the first
// line of a failure), killed with its group at the timeout.
std::string RunCommandOp(const std::string& cmd, const BenchContext& ctx, absl::Duration timeout,
                         const std::string& log) {
  const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  common::SpawnOptions o;
  o.argv = {"/bin/sh", "-c", cmd};
  o.working_dir = ctx.workdir;
  o.stdout_fd = fd;
  o.stderr_fd = fd;
  if (ctx.steps.sandbox()) ctx.steps.sandbox()->Apply(&o);
  auto pid = common::Spawn(o);
  if (fd >= 0) close(fd);
  if (!pid.ok()) return std::string(pid.status().message());
  auto status = common::WaitFor(*pid, timeout);
  if (!status.ok()) {
    common::SignalGroup(*pid, SIGKILL).IgnoreError();
    int ignored = 0;
    waitpid(*pid, &ignored, 0);
    return absl::StrCat("timed out after ", absl::FormatDuration(timeout));
  }
  const int code = common::ExitCodeFromWaitStatus(*status);
  if (code == 0) return "";
  std::ifstream in(log);
  std::string first;
  std::getline(in, first);
  return absl::StrCat("exit ", code, first.empty() ? "" : ": " + first);
}

// One HTTP operation on the worker's keep-alive client; "" when it answered under 400.
std::string RunHttpOp(httplib::Client& c, const v1::HttpRequestSpec& r,
                      const std::map<std::string, std::string>& vars) {
  httplib::Request req;
  req.method = r.method();
  auto path = common::ExpandTemplate(r.path(), vars);
  auto body = common::ExpandTemplate(r.body(), vars);
  if (!path.ok()) return std::string(path.status().message());
  if (!body.ok()) return std::string(body.status().message());
  req.path = *path;
  req.body = *body;
  for (const auto& [k, v] : r.headers()) {
    auto hv = common::ExpandTemplate(v, vars);
    if (!hv.ok()) return std::string(hv.status().message());
    req.headers.emplace(k, *hv);
  }
  if (!req.body.empty() && !req.has_header("Content-Type"))
    req.headers.emplace("Content-Type", "application/json");
  auto res = c.send(req);
  if (!res) return absl::StrCat(req.method, " ", req.path, ": ", httplib::to_string(res.error()));
  if (res->status >= 400) {
    return absl::StrCat(req.method, " ", req.path, ": status ", res->status, ": ",
                        res->body.substr(0, 200));
  }
  return "";
}

void AddOpsResult(const std::string& p, int64_t done, int64_t failed, double seconds,
                  const common::HdrHistogram& latency, v1::RepetitionResult* out) {
  AddMeasurement(out, p + ".rate", "op/s", seconds > 0 ? (done - failed) / seconds : 0,
                 v1::DIRECTION_HIGHER_IS_BETTER);
  AddMeasurement(out, p + ".failures", "count", static_cast<double>(failed),
                 v1::DIRECTION_LOWER_IS_BETTER);
  AddMeasurement(out, p + ".seconds", "s", seconds, v1::DIRECTION_LOWER_IS_BETTER);
  if (latency.total() > 0) {
    for (auto [suffix, q] : {std::pair{"p50", 50.0}, {"p99", 99.0}}) {
      AddMeasurement(out, absl::StrCat(p, ".latency.", suffix), "ms",
                     latency.ValueAtPercentile(q) / 1000.0, v1::DIRECTION_LOWER_IS_BETTER);
    }
    AddMeasurement(out, p + ".latency.max", "ms", latency.max() / 1000.0,
                   v1::DIRECTION_LOWER_IS_BETTER);
    v1::NamedHistogram* h = out->add_histograms();
    h->set_name(p + ".latency");
    *h->mutable_histogram() = latency.ToProto();
  }
}

absl::Status RunOps(const v1::OpsSpec& o, const std::string& prefix, BenchContext& ctx,
                    v1::RepetitionResult* out, v1::PhaseRecord* rec) {
  const bool http = !o.target().empty();
  std::string host, base;
  int port = 0;
  if (http) {
    ASSIGN_OR_RETURN(std::string target, ctx.Expand(o.target()));
    if (!common::SplitHttpUrl(target, &host, &port, &base))
      return absl::FailedPreconditionError(prefix + ": target '" + target + "' is no http URL");
  }
  const absl::Duration timeout = absl::Milliseconds(o.timeout_ms());
  std::atomic<int64_t> next{1};
  std::atomic<int64_t> done{0};
  OpsTally tally;
  const int workers = static_cast<int>(std::min<uint32_t>(o.concurrency(), o.count()));
  std::vector<common::HdrHistogram> latency;
  for (int w = 0; w < workers; ++w) latency.push_back(*common::HdrHistogram::Create());
  const int64_t start = MonotonicNowNs();
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      std::map<std::string, std::string> vars = ctx.vars;
      std::optional<httplib::Client> client;
      if (http) {
        client.emplace(host, port);
        client->set_keep_alive(true);
        const auto t = absl::ToChronoMicroseconds(timeout);
        client->set_connection_timeout(t);
        client->set_read_timeout(t);
        client->set_write_timeout(t);
      }
      const std::string log = absl::StrCat(ctx.workdir, "/", prefix, ".", w, ".log");
      while (!ctx.cancel) {
        const int64_t i = next++;
        if (i > static_cast<int64_t>(o.count())) break;
        vars["i"] = std::to_string(i);
        const int64_t t0 = MonotonicNowNs();
        std::string error;
        if (http) {
          error = RunHttpOp(*client, o.request(), vars);
        } else {
          auto cmd = common::ExpandTemplate(o.command(), vars);
          error = cmd.ok() ? RunCommandOp(*cmd, ctx, timeout, log)
                           : std::string(cmd.status().message());
        }
        latency[w].Record((MonotonicNowNs() - t0) / 1000);
        ++done;
        if (!error.empty()) tally.Fail(absl::StrCat("#", i, ": ", error));
      }
    });
  }
  for (auto& t : threads) t.join();
  const double seconds = SecondsSince(start);
  if (ctx.cancel) return absl::CancelledError("cancelled");
  for (int w = 1; w < workers; ++w) latency[0].Merge(latency[w]).IgnoreError();
  AddOpsResult(prefix, done, tally.failures, seconds, latency[0], out);
  rec->set_seconds(seconds);
  rec->set_failures(tally.failures);
  rec->set_ok(tally.failures == 0);
  for (auto& e : tally.errors) rec->add_errors(std::move(e));
  ctx.steps.Note(absl::StrFormat("%s: %d operations in %.2f s, %d failed%s", prefix, done.load(),
                                 seconds, tally.failures,
                                 tally.errors.empty() ? "" : "; first: " + tally.errors[0]));
  return absl::OkStatus();
}

// One poll of a wait_until probe: "" when true, else why not.
std::string ProbeOnce(const v1::WaitUntilSpec& u, BenchContext& ctx) {
  if (!u.command().empty()) {
    auto cmd = ctx.Expand(u.command());
    if (!cmd.ok()) return std::string(cmd.status().message());
    return RunCommandOp(*cmd, ctx, absl::Seconds(30), ctx.workdir + "/wait-probe.log");
  }
  auto url = ctx.Expand(u.url());
  if (!url.ok()) return std::string(url.status().message());
  auto body = ProbeGet(*url, static_cast<int>(u.status()));
  if (!body.ok()) return std::string(body.status().message());
  if (u.field().empty()) return "";
  auto want = ctx.Expand(u.equals());
  if (!want.ok()) return std::string(want.status().message());
  auto got = common::JsonFieldText(*body, u.field());
  if (!got.ok()) return std::string(got.status().message());
  if (*got == *want) return "";
  return absl::StrCat(u.field(), " is '", *got, "', want '", *want, "'");
}

absl::Status RunWait(const v1::WaitUntilSpec& u, const std::string& prefix, BenchContext& ctx,
                     v1::RepetitionResult* out, v1::PhaseRecord* rec) {
  const int64_t start = MonotonicNowNs();
  const int64_t deadline = start + int64_t{u.timeout_seconds()} * 1'000'000'000;
  std::string why = ProbeOnce(u, ctx);
  int polls = 1;
  while (!why.empty() && MonotonicNowNs() < deadline) {
    if (!ctx.Sleep(absl::Milliseconds(u.interval_ms()))) return absl::CancelledError("cancelled");
    why = ProbeOnce(u, ctx);
    ++polls;
  }
  const double seconds = SecondsSince(start);
  rec->set_seconds(seconds);
  rec->set_ok(why.empty());
  if (!why.empty()) {
    rec->add_errors(why.substr(0, kErrorBytes));
    ctx.steps.Note(absl::StrFormat("%s: not true after %d s (%d polls): %s", prefix,
                                   u.timeout_seconds(), polls, why));
    return absl::OkStatus();
  }
  AddMeasurement(out, prefix + ".seconds", "s", seconds, v1::DIRECTION_LOWER_IS_BETTER);
  ctx.steps.Note(absl::StrFormat("%s: true after %.2f s (%d polls)", prefix, seconds, polls));
  return absl::OkStatus();
}

// Moves what `from` measured into `to` under `prefix`.
void Prefixed(const std::string& prefix, v1::RepetitionResult&& from, v1::RepetitionResult* to) {
  for (auto& m : *from.mutable_measurements()) {
    m.set_name(prefix + "." + m.name());
    *to->add_measurements() = std::move(m);
  }
  for (auto& h : *from.mutable_histograms()) {
    h.set_name(prefix + "." + h.name());
    *to->add_histograms() = std::move(h);
  }
  for (auto& f : *from.mutable_faults()) {
    f.set_phase(prefix);
    *to->add_faults() = std::move(f);
  }
  for (auto& g : *from.mutable_gaps()) *to->add_gaps() = std::move(g);
  if (to->generator().empty()) to->set_generator(from.generator());
}

absl::Status RunSoak(const v1::SoakPhase& k, const std::string& prefix, BenchContext& ctx,
                     Stack* stack, const HeapSnapshotFn& heap_snapshot, v1::RepetitionResult* out,
                     v1::PhaseRecord* rec) {
  if (heap_snapshot) heap_snapshot(prefix + ".start");
  const int64_t start = MonotonicNowNs();
  ResourceSampler sampler(stack ? stack->Processes() : std::vector<ServiceProcesses>{}, {},
                          absl::Milliseconds(k.sample_ms()));
  sampler.Start();
  const absl::Duration d = absl::Seconds(k.duration_seconds());
  absl::Status s;
  if (k.has_http()) {
    v1::WorkloadSpec w;
    *w.mutable_http() = k.http();
    v1::RepetitionResult load;
    s = RunGenerator(w, d, false, ctx, &load);
    if (s.ok()) Prefixed(prefix, std::move(load), out);
  } else if (!ctx.Sleep(d)) {
    s = absl::CancelledError("cancelled");
  }
  v1::RepetitionResult ignored;
  sampler.Stop(&ignored);
  RETURN_IF_ERROR(s);
  rec->set_seconds(SecondsSince(start));
  if (heap_snapshot) heap_snapshot(prefix + ".end");
  std::string slopes;
  for (const auto& [service, slope] : sampler.RssSlopes()) {
    AddMeasurement(out, absl::StrCat(prefix, ".", service, ".rss_slope"), "MiB/h", slope,
                   v1::DIRECTION_LOWER_IS_BETTER);
    absl::StrAppend(&slopes, slopes.empty() ? "" : ", ", service, " ",
                    absl::StrFormat("%+.1f", slope), " MiB/h");
  }
  rec->set_ok(true);
  ctx.steps.Note(absl::StrCat(prefix, ": held ", absl::FormatDuration(d),
                              slopes.empty() ? "" : "; RSS slopes: " + slopes));
  return absl::OkStatus();
}

const char* KindName(const v1::PhaseSpec& p) {
  switch (p.kind_case()) {
    case v1::PhaseSpec::kOps:
      return "ops";
    case v1::PhaseSpec::kWaitUntil:
      return "wait";
    case v1::PhaseSpec::kLoad:
      return "load";
    case v1::PhaseSpec::kSoak:
      return "soak";
    case v1::PhaseSpec::kCleanup:
      return "cleanup";
    default:
      return "phase";
  }
}

}  // namespace

std::string PhasePrefix(const v1::PhaseSpec& p) {
  return common::PhaseMetricPrefix(KindName(p), p.name());
}

absl::Status RunLoadWindow(const v1::WorkloadSpec& w, absl::Duration window, BenchContext& ctx,
                           Stack* stack, uint64_t seed, const std::string& label,
                           v1::RepetitionResult* r) {
  // A fault schedule shares the load's time zero and reads its timeline afterwards.
  std::optional<FaultRunner> faults;
  LoadTimeline timeline;
  if (w.faults().actions_size() > 0) {
    HostControl* hosts = stack ? stack->host_control() : nullptr;
    if (!hosts) return absl::FailedPreconditionError("faults: the stack has no test hosts");
    timeline.start_ns = MonotonicNowNs() + 20'000'000;
    timeline.slice = std::max(absl::Milliseconds(100), window / 1000);
    faults.emplace(w.faults(), *hosts, ctx, seed);
    faults->Start(timeline.start_ns);
  }
  absl::Status s = RunGenerator(w, window, false, ctx, r, faults ? &timeline : nullptr);
  absl::Status whole;  // whether the faults left the stack as it was
  if (faults) {
    std::vector<v1::FaultRecord> records;
    std::string not_applied;
    whole = faults->Finish(&records, &not_applied);
    AddFaultResults(w.faults().recovery(), timeline.slices, timeline.slice,
                    absl::ToInt64Milliseconds(timeline.window), &records, r);
    for (auto& f : records) *r->add_faults() = std::move(f);
    if (!not_applied.empty()) {
      r->set_valid(false);
      r->set_invalid_reason(not_applied);
    }
  }
  RETURN_IF_ERROR(s);
  if (!whole.ok()) return absl::FailedPreconditionError(absl::StrCat(label, ": ", whole.message()));
  return absl::OkStatus();
}

absl::Status RunPhases(const v1::WorkloadSpec& w, BenchContext& ctx, Stack* stack, uint64_t seed,
                       const std::string& label, v1::RepetitionResult* r,
                       const HeapSnapshotFn& heap_snapshot) {
  r->set_valid(true);
  r->set_generator("phases");
  for (int i = 0; i < w.phases_size(); ++i) {
    const v1::PhaseSpec& p = w.phases(i);
    if (!r->valid() && !p.has_cleanup()) continue;  // a failed phase voids what follows
    if (ctx.cancel) return absl::CancelledError("cancelled");
    const std::string prefix = PhasePrefix(p);
    v1::PhaseRecord* rec = r->add_phases();
    rec->set_name(p.name());
    rec->set_kind(p.has_wait_until() ? "wait_until" : KindName(p));
    switch (p.kind_case()) {
      case v1::PhaseSpec::kOps:
        RETURN_IF_ERROR(RunOps(p.ops(), prefix, ctx, r, rec));
        break;
      case v1::PhaseSpec::kCleanup:
        RETURN_IF_ERROR(RunOps(p.cleanup(), prefix, ctx, r, rec));
        break;
      case v1::PhaseSpec::kWaitUntil:
        RETURN_IF_ERROR(RunWait(p.wait_until(), prefix, ctx, r, rec));
        if (!rec->ok()) {
          r->set_valid(false);
          r->set_invalid_reason(absl::StrCat("phase ", p.name(), ": not true within ",
                                             p.wait_until().timeout_seconds(),
                                             " s: ", rec->errors(0)));
        }
        break;
      case v1::PhaseSpec::kLoad: {
        const v1::LoadPhase& l = p.load();
        const v1::WorkloadSpec g = common::LoadPhaseWorkload(l);
        ctx.steps.Note(absl::StrCat(prefix, ": load for ", l.duration_seconds(), "s"));
        const int64_t start = MonotonicNowNs();
        v1::RepetitionResult load;
        load.set_valid(true);
        RETURN_IF_ERROR(RunLoadWindow(g, absl::Seconds(l.duration_seconds()), ctx, stack,
                                      seed * 64 + i, label + ", phase " + p.name(), &load));
        rec->set_seconds(SecondsSince(start));
        rec->set_ok(load.valid());
        if (!load.valid()) {
          rec->add_errors(load.invalid_reason());
          r->set_valid(false);
          r->set_invalid_reason(absl::StrCat("phase ", p.name(), ": ", load.invalid_reason()));
        }
        Prefixed(prefix, std::move(load), r);
        break;
      }
      case v1::PhaseSpec::kSoak:
        RETURN_IF_ERROR(RunSoak(p.soak(), prefix, ctx, stack, heap_snapshot, r, rec));
        break;
      default:
        return absl::FailedPreconditionError("phase " + p.name() + ": no kind");
    }
  }
  return absl::OkStatus();
}

}  // namespace perfgate::agent
