#include "tests/bench/detection/lab.h"

#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "common/process/subprocess.h"
#include "common/stats/summary.h"

namespace perfgate::bench {
namespace {

// Runs a command to completion; exits the benchmark when it fails.
std::string Must(std::vector<std::string> argv, const std::string& cwd = "") {
  common::SpawnOptions o;
  o.argv = argv;
  o.working_dir = cwd;
  int code = 0;
  auto out = common::RunAndCapture(o, &code);
  if (!out.ok() || code != 0) {
    std::cerr << "bench: " << argv[0] << " " << (argv.size() > 1 ? argv[1] : "")
              << " failed (" << code << "): " << (out.ok() ? *out : out.status().ToString())
              << "\n";
    std::exit(1);
  }
  return *out;
}

}  // namespace

double Median(std::vector<double> v) { return common::Summarize(std::move(v)).median; }

bool WaitFor(const std::function<bool()>& cond, absl::Duration timeout) {
  absl::Time end = absl::Now() + timeout;
  while (absl::Now() < end) {
    if (cond()) return true;
    absl::SleepFor(absl::Milliseconds(200));
  }
  return cond();
}

// A child process with its output in a file, stopped (SIGTERM to its group) on destruction.
class Lab::Child {
 public:
  Child(std::vector<std::string> argv, const std::string& log,
        std::map<std::string, std::string> env = {}) {
    FILE* f = fopen(log.c_str(), "w");
    common::SpawnOptions o;
    o.argv = std::move(argv);
    o.env_add = std::move(env);
    o.stdout_fd = fileno(f);
    o.stderr_fd = fileno(f);
    auto pid = common::Spawn(o);
    fclose(f);
    pid_ = pid.ok() ? *pid : -1;
  }
  ~Child() {
    if (pid_ <= 0) return;
    common::SignalGroup(pid_, SIGTERM).IgnoreError();
    if (!common::WaitFor(pid_, absl::Seconds(30)).ok()) {
      common::SignalGroup(pid_, SIGKILL).IgnoreError();
      common::WaitFor(pid_, absl::Seconds(5)).IgnoreError();
    }
  }
  bool ok() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
};

Lab::Lab(std::string bin_dir, std::string dir) : bin_(std::move(bin_dir)), dir_(std::move(dir)) {}
Lab::~Lab() = default;

bool Lab::Start(const std::string& source_dir, const std::string& suite_extra, bool confirm,
                const std::string& suite_file) {
  std::vector<std::string> argv = {bin_ + "/perfgate-controller",
                                   "--data-dir",
                                   dir_ + "/controller",
                                   "--grpc-listen",
                                   "127.0.0.1:0",
                                   "--http-listen",
                                   "127.0.0.1:0",
                                   "--ready-file",
                                   dir_ + "/ready",
                                   "--log-level",
                                   "warn"};
  if (!confirm) argv.push_back("--no-confirm-inconclusive");
  controller_ = std::make_unique<Child>(argv, dir_ + "/controller.log");
  if (!controller_->ok() ||
      !WaitFor([&] { return access((dir_ + "/ready").c_str(), R_OK) == 0; }, absl::Seconds(90))) {
    std::cerr << "controller did not start; see " << dir_ << "/controller.log\n";
    return false;
  }
  auto ready = nlohmann::json::parse(std::ifstream(dir_ + "/ready"));
  addr_ = "127.0.0.1:" + std::to_string(ready["grpc_port"].get<int>());
  stub_ = v1::Controller::NewStub(grpc::CreateChannel(addr_, grpc::InsecureChannelCredentials()));
  // The agent finds perfgate-sample-target on its PATH, as in the demo.
  agent_ = std::make_unique<Child>(
      std::vector<std::string>{bin_ + "/perfgate-agent", "--controller", addr_, "--name",
                               "lab-agent", "--work-dir", dir_ + "/agent", "--http-listen",
                               "127.0.0.1:0"},
      dir_ + "/agent.log",
      std::map<std::string, std::string>{
          {"PATH", bin_ + ":" + (getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin")}});
  if (!agent_->ok()) return false;
  sut_ = dir_ + "/sut";
  Must({"git", "init", "-q", sut_});
  Must({"git", "-C", sut_, "config", "user.email", "bench@perfgate.invalid"});
  Must({"git", "-C", sut_, "config", "user.name", "perfgate bench"});
  std::stringstream text;
  text << std::ifstream(source_dir + "/" + suite_file).rdbuf();
  suite_ = dir_ + "/suite.yaml";
  std::ofstream(suite_) << absl::StrReplaceAll(text.str(), {{"repository: /tmp/perfgate-demo/sut",
                                                             "repository: " + sut_}})
                        << suite_extra;
  return true;
}

std::string Lab::Commit(const std::string& flags) {
  std::ofstream(sut_ + "/flags") << flags << "\n";
  Must({"git", "-C", sut_, "add", "flags"});
  Must({"git", "-C", sut_, "commit", "-q", "--allow-empty", "-m", flags});
  std::string head = Must({"git", "-C", sut_, "rev-parse", "HEAD"});
  return head.substr(0, head.find('\n'));
}

int64_t Lab::Submit(const std::string& commit, const std::string& kind, const std::string& branch) {
  std::string out = Must({bin_ + "/perfgate", "--controller", addr_, "-o", "json", "run", "submit",
                          "--suite", suite_, "--commit", commit, "--kind", kind, "--branch", branch,
                          "--baseline-branch", "main"});
  return std::stoll(nlohmann::json::parse(out)["id"].get<std::string>());
}

v1::Run Lab::GetRun(int64_t id) {
  grpc::ClientContext ctx;
  v1::GetRunRequest req;
  req.set_id(id);
  v1::Run run;
  stub_->GetRun(&ctx, req, &run).ok();
  return run;
}

bool Lab::Terminal(const v1::Run& r) {
  return r.state() == v1::RUN_STATE_SUCCEEDED || r.state() == v1::RUN_STATE_FAILED ||
         r.state() == v1::RUN_STATE_CANCELLED;
}

void Lab::WaitSucceeded(int64_t id) {
  v1::Run run;
  bool done = WaitFor(
      [&] {
        run = GetRun(id);
        return Terminal(run);
      },
      absl::Minutes(15));
  if (!done || run.state() != v1::RUN_STATE_SUCCEEDED) {
    std::cerr << "run " << id << " did not succeed (perfgate run logs " << id << "; agent log "
              << dir_ << "/agent.log)\n";
    std::exit(1);
  }
}

absl::StatusOr<v1::Comparison> Lab::Compare(int64_t cand, int64_t against) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(2));
  v1::CompareRunRequest req;
  req.set_run_id(cand);
  req.set_against_run_id(against);
  v1::Comparison c;
  grpc::Status s = stub_->CompareRun(&ctx, req, &c);
  if (!s.ok()) return absl::UnavailableError(s.error_message());
  return c;
}

v1::Comparison Lab::MustCompare(int64_t cand, int64_t against) {
  auto c = Compare(cand, against);
  if (!c.ok()) {
    std::cerr << "compare " << cand << " against " << against << ": " << c.status() << "\n";
    std::exit(1);
  }
  return *c;
}

v1::Comparison Lab::FinalComparison(int64_t cand, int64_t* confirmation) {
  *confirmation = 0;
  v1::Comparison c;
  if (!WaitFor(
          [&] {
            auto first = Compare(cand, 0);
            if (first.ok()) c = *std::move(first);
            return first.ok();
          },
          absl::Minutes(2))) {
    std::cerr << "run " << cand << " was never compared\n";
    std::exit(1);
  }
  // Already decided ("decided by confirmation run N ..."): that run is the confirmation.
  constexpr absl::string_view kDecided = "decided by confirmation run ";
  if (absl::StartsWith(c.note(), kDecided)) {
    *confirmation = std::atoll(c.note().c_str() + kDecided.size());
    return c;
  }
  if (!absl::StrContains(c.note(), "confirmation run interleaving")) return c;
  // Scheduled: find the confirmation, wait for it and for its decision.
  WaitFor(
      [&] {
        grpc::ClientContext ctx;
        v1::ListRunsRequest req;
        req.set_kind(v1::RUN_KIND_EXPERIMENT);
        req.set_page_size(500);
        v1::ListRunsResponse resp;
        if (!stub_->ListRuns(&ctx, req, &resp).ok()) return false;
        for (const auto& r : resp.runs())
          if (r.confirms_run_id() == cand) *confirmation = r.id();
        return *confirmation != 0;
      },
      absl::Minutes(1));
  if (*confirmation == 0) return c;
  WaitFor([&] { return Terminal(GetRun(*confirmation)); }, absl::Minutes(30));
  WaitFor(
      [&] {
        auto d = Compare(cand, 0);
        if (d.ok()) c = *d;
        return absl::StrContains(c.note(), "decided by confirmation run");
      },
      absl::Minutes(1));
  return c;  // still inconclusive when the confirmation failed or measured nothing
}

double Lab::RunP50(int64_t id) {
  grpc::ClientContext ctx;
  v1::GetRunResultsRequest req;
  req.set_run_id(id);
  v1::RunResults r;
  std::vector<double> v;
  if (!stub_->GetRunResults(&ctx, req, &r).ok()) return 0.0;
  for (const auto& job : r.jobs())
    for (const auto& rep : job.repetitions())
      for (const auto& m : rep.measurements())
        if (rep.valid() && m.name() == kPrimary) v.push_back(m.value());
  return Median(v);
}

}  // namespace perfgate::bench
