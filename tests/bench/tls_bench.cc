// What TLS costs the queue: dispatch latency and job throughput with the gRPC port in plaintext
// against mutual TLS (the controller's certificate, and a client certificate per simulated
// agent, all made by tools/pki.sh), in one invocation. Rounds alternate plaintext / TLS, each
// on a fresh controller and embedded PostgreSQL, and the medians over rounds are compared
// (these machines are shared and noisy). Simulated agents are bench::SimAgent: a connection
// each, accepting and completing every assignment at once, so the controller's and the
// transport's costs are what is measured. Bounded: every phase has a deadline.
#include <grpcpp/grpcpp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "common/process/subprocess.h"
#include "perfgate/v1/controller.grpc.pb.h"
#include "tests/bench/bench_support.h"

namespace {

using namespace perfgate;
using bench::Percentile;
using bench::WaitFor;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Figures {
  double dispatch_p50_ms = 0, dispatch_p99_ms = 0, jobs_per_s = 0, rtt_p50_ms = 0;
};

// One round: a fresh controller, `agents` simulated agents, `samples` single-job dispatches
// timed, then `jobs` jobs drained. Null on any failure (said on stderr).
std::optional<Figures> Round(const std::string& bin_dir, const std::string& pki, bool tls,
                             int agents, int samples, int jobs) {
  char tmpl[] = "/tmp/perfgate-tls-bench-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  chmod(dir.c_str(), 0755);
  std::vector<std::string> extra;
  std::shared_ptr<grpc::ChannelCredentials> api_creds = grpc::InsecureChannelCredentials();
  if (tls) {
    extra = {"--tls-cert",      pki + "/controller.pem", "--tls-key", pki + "/controller.key",
             "--tls-client-ca", pki + "/ca.pem"};
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = ReadFile(pki + "/ca.pem");
    api_creds = grpc::SslCredentials(o);
  }
  auto controller = bench::BenchController::Start(bin_dir, dir, extra);
  if (!controller) return std::nullopt;
  auto stub = v1::Controller::NewStub(grpc::CreateChannel(controller->grpc_addr(), api_creds));

  std::vector<double> rtt;
  for (int i = 0; i < 500; ++i) {
    grpc::ClientContext ctx;
    v1::Run r;
    absl::Time t0 = absl::Now();
    stub->GetRun(&ctx, v1::GetRunRequest(), &r);  // INVALID_ARGUMENT before any database work
    rtt.push_back(absl::ToDoubleMicroseconds(absl::Now() - t0));
  }

  absl::Mutex mu;
  std::map<int64_t, absl::Time> assigned_at;
  std::atomic<int64_t> completed{0};
  std::vector<std::unique_ptr<bench::SimAgent>> sims;
  for (int i = 0; i < agents; ++i) {
    bench::SimAgent::Options o;
    o.labels["machine_class"] = "sim";
    o.heartbeat_every = absl::Seconds(5);
    o.assigned = [&](int64_t run, absl::Time t) {
      absl::MutexLock lock(&mu);
      assigned_at.emplace(run, t);
    };
    o.completed = [&](int64_t, absl::Time) { completed++; };
    const std::string name = absl::StrFormat("sim-%03d", i);
    if (tls) {
      grpc::SslCredentialsOptions c;
      c.pem_root_certs = ReadFile(pki + "/ca.pem");
      c.pem_cert_chain = ReadFile(pki + "/agents/" + name + ".pem");
      c.pem_private_key = ReadFile(pki + "/agents/" + name + ".key");
      o.credentials = grpc::SslCredentials(c);
    }
    sims.push_back(std::make_unique<bench::SimAgent>(controller->grpc_addr(), name, o));
  }
  if (!WaitFor([&] { return bench::ConnectedAgents(*stub) == agents; }, absl::Seconds(60))) {
    std::cerr << "agents did not connect (tls=" << tls << ")\n";
    return std::nullopt;
  }

  Figures f;
  std::vector<double> lat;
  for (int i = 0; i < samples; ++i) {
    int64_t before = completed;
    grpc::ClientContext ctx;
    v1::SubmitRunRequest req;
    req.mutable_spec()->add_jobs()->mutable_command()->set_command("true");
    v1::SubmitRunResponse resp;
    absl::Time t0 = absl::Now();
    if (!stub->SubmitRun(&ctx, req, &resp).ok() ||
        !WaitFor([&] { return completed > before; }, absl::Seconds(30))) {
      std::cerr << "a job was not dispatched (tls=" << tls << ")\n";
      return std::nullopt;
    }
    absl::MutexLock lock(&mu);
    lat.push_back(absl::ToDoubleMilliseconds(assigned_at[resp.run().id()] - t0));
  }
  int64_t base = completed;
  absl::Time t0 = absl::Now();
  for (int done = 0; done < jobs; done += 100) {
    grpc::ClientContext ctx;
    v1::SubmitRunRequest req;
    for (int i = 0; i < std::min(100, jobs - done); ++i)
      req.mutable_spec()->add_jobs()->mutable_command()->set_command("true");
    v1::SubmitRunResponse resp;
    if (!stub->SubmitRun(&ctx, req, &resp).ok()) std::cerr << "submit failed\n";
  }
  if (!WaitFor([&] { return completed - base >= jobs; }, absl::Minutes(5))) {
    std::cerr << "throughput phase did not finish (tls=" << tls << ")\n";
    return std::nullopt;
  }
  f.jobs_per_s = jobs / absl::ToDoubleSeconds(absl::Now() - t0);
  f.dispatch_p50_ms = Percentile(lat, 50);
  f.dispatch_p99_ms = Percentile(lat, 99);
  f.rtt_p50_ms = Percentile(rtt, 50) / 1000.0;
  sims.clear();
  controller->Stop();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return f;
}

double Median(std::vector<double> v) { return Percentile(v, 50); }

}  // namespace

int main(int argc, char** argv) {
  int agents = 10, samples = 200, jobs = 3000, rounds = 3;
  std::string bin_dir, pki_script;
  CLI::App app{"perfgate TLS benchmark: the queue over plaintext against mutual TLS"};
  app.add_option("--bin-dir", bin_dir, "where perfgate-controller is")->required();
  app.add_option("--pki", pki_script, "tools/pki.sh")->required();
  app.add_option("--agents", agents, "simulated agents")->capture_default_str();
  app.add_option("--latency-samples", samples, "single-job dispatches timed per round")
      ->capture_default_str();
  app.add_option("--jobs", jobs, "jobs drained per round")->capture_default_str();
  app.add_option("--rounds", rounds, "rounds per mode (alternating)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  char tmpl[] = "/tmp/perfgate-tls-pki-XXXXXX";
  const std::string pki = std::string(mkdtemp(tmpl)) + "/lab";
  std::string cmd = pki_script + " init " + pki + " >/dev/null";
  for (int i = 0; i < agents; ++i)
    cmd += absl::StrFormat(" && %s issue-agent %s sim-%03d >/dev/null", pki_script, pki, i);
  if (std::system(cmd.c_str()) != 0) {
    std::cerr << "certificates could not be made: " << cmd << "\n";
    return 1;
  }
  std::map<bool, std::vector<Figures>> by_mode;
  for (int r = 0; r < rounds; ++r) {
    for (bool tls : {false, true}) {
      auto f = Round(bin_dir, pki, tls, agents, samples, jobs);
      if (!f) return 1;
      by_mode[tls].push_back(*f);
      std::fflush(stdout);
      std::fprintf(stderr, "round %d %-9s dispatch p50 %.3f ms p99 %.3f ms, %.0f jobs/s\n", r + 1,
                   tls ? "mTLS" : "plaintext", f->dispatch_p50_ms, f->dispatch_p99_ms,
                   f->jobs_per_s);
    }
  }
  auto med = [&](bool tls, double Figures::*field) {
    std::vector<double> v;
    for (const Figures& f : by_mode[tls]) v.push_back(f.*field);
    return Median(v);
  };
  std::printf("perfgate TLS benchmark (%d agents; %d rounds per mode, alternating; medians)\n",
              agents, rounds);
  std::printf("  %-32s %12s %12s %10s\n", "", "plaintext", "mutual TLS", "TLS/plain");
  auto row = [&](const char* name, double Figures::*field, const char* unit) {
    double p = med(false, field), t = med(true, field);
    std::printf("  %-32s %9.3f %-2s %9.3f %-2s %9.2fx\n", name, p, unit, t, unit, t / p);
  };
  row("gRPC round trip p50", &Figures::rtt_p50_ms, "ms");
  row("dispatch latency p50", &Figures::dispatch_p50_ms, "ms");
  row("dispatch latency p99", &Figures::dispatch_p99_ms, "ms");
  row("jobs claimed+completed per s", &Figures::jobs_per_s, "/s");
  std::printf("  target: dispatch latency and throughput within 10%% of plaintext\n");
  std::error_code ec;
  std::filesystem::remove_all(std::filesystem::path(pki).parent_path(), ec);
  return 0;
}
