// CI-integration benchmark: the real perfgate-controller on its embedded (durable) PostgreSQL,
// signed GitHub webhooks posted to it, simulated agents over gRPC that complete every
// assignment at once, and a local forge (an HTTP server in this process standing in for
// GitHub's REST API, answering at once) that receives the reports.
//
// Measures, in one invocation:
//   references: an HTTP round trip to the controller's /healthz, HMAC-SHA-256 of a webhook body
//               in this process;
//   webhook -> run queued: a signed push webhook answered 202 once its run is stored (p50/p99);
//   webhooks/s: signed deliveries from 4 client threads, pushes (each makes a run and two
//               reports) and ignored events (signature, parse, delivery recorded);
//   run end -> check run completed: from CompleteAttempt's acknowledgement to the forge
//               receiving the check run with status completed (analysis included), p50/p99.
// Bounded: every phase has a count and a deadline.
#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/hash/sha256.h"
#include "common/process/subprocess.h"
#include "perfgate/v1/agent_gateway.grpc.pb.h"
#include "perfgate/v1/controller.grpc.pb.h"
#include "tests/bench/bench_support.h"

namespace {

using namespace perfgate;
using bench::Percentile;
using bench::WaitFor;
using nlohmann::json;

constexpr char kSecret[] = "bench-secret";

// GitHub's REST API as far as the outbox uses it, answering at once; notes when each run's
// check run arrived completed.
class LocalForge {
 public:
  LocalForge() {
    auto answer = [this](const httplib::Request& req, httplib::Response& res) {
      const absl::Time now = absl::Now();
      ++requests_;
      if (req.method == "GET") {
        res.set_content(req.path.find("check-runs") != std::string::npos
                            ? R"({"total_count":0,"check_runs":[]})"
                            : "[]",
                        "application/json");
        return;
      }
      json b = json::parse(req.body, nullptr, false);
      if (b.is_object() && b.value("status", "") == "completed") {
        absl::MutexLock l(&mu_);
        completed_at_.emplace(std::stoll(b.value("external_id", "0")), now);
      }
      res.status = req.method == "POST" ? 201 : 200;
      res.set_content(absl::StrFormat(R"({"id": %d})", ++ids_), "application/json");
    };
    server_.Get(".*", answer);
    server_.Post(".*", answer);
    server_.Patch(".*", answer);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~LocalForge() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  int64_t requests() const { return requests_; }
  std::map<int64_t, absl::Time> Completed() {
    absl::MutexLock l(&mu_);
    return completed_at_;
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int64_t> requests_{0}, ids_{0};
  absl::Mutex mu_;
  std::map<int64_t, absl::Time> completed_at_;
};

// An agent that accepts and completes every assignment at once; notes when each run's
// completion was acknowledged.
// When each run's completion was acknowledged, from every simulated agent.
struct Ended {
  absl::Mutex mu;
  std::map<int64_t, absl::Time> at;
};

std::string PushBody(int64_t n) {
  // The fields perfgate reads from GitHub's push payload.
  return json{{"ref", "refs/heads/main"},
              {"after", absl::StrFormat("%040x", n)},
              {"deleted", false},
              {"repository", {{"full_name", "bench/app"}, {"default_branch", "main"}}}}
      .dump();
}

struct Posted {
  int status = 0;
  double ms = 0;
};

Posted PostHook(httplib::Client& c, const std::string& event, const std::string& body,
                const std::string& delivery) {
  const absl::Time t0 = absl::Now();
  auto r = c.Post("/hooks/github",
                  {{"X-GitHub-Event", event},
                   {"X-GitHub-Delivery", delivery},
                   {"X-Hub-Signature-256", "sha256=" + common::HmacSha256Hex(kSecret, body)}},
                  body, "application/json");
  return {r ? r->status : 0, absl::ToDoubleMilliseconds(absl::Now() - t0)};
}

}  // namespace

// main is the benchmark's script, read top to bottom as the README describes it.
int main(int argc, char** argv) {
  int samples = 300, throughput = 2000, ended = 100, agents = 4;
  std::string bin_dir;
  CLI::App app{"perfgate CI-integration benchmark"};
  app.add_option("--bin-dir", bin_dir, "where perfgate-controller is")->required();
  app.add_option("--latency-samples", samples, "sequential webhooks")->capture_default_str();
  app.add_option("--throughput-webhooks", throughput, "webhooks in each throughput phase")
      ->capture_default_str();
  app.add_option("--runs", ended, "runs completed for the run-end -> check-run figure")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  LocalForge forge;
  char tmpl[] = "/tmp/perfgate-forge-bench-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  chmod(dir.c_str(), 0755);
  std::ofstream(dir + "/secret") << kSecret << "\n";
  std::ofstream(dir + "/token") << "bench-token\n";
  auto controller = bench::BenchController::Start(
      bin_dir, dir,
      {"--github-webhook-secret-file", dir + "/secret", "--github-token-file", dir + "/token",
       "--github-api-url", absl::StrFormat("http://127.0.0.1:%d", forge.port())});
  if (!controller) return 1;
  const std::string addr = controller->grpc_addr();
  const int http_port = controller->http_port();
  auto stub =
      v1::Controller::NewStub(grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
  auto stop = [&](int code) {
    controller->Stop();
    return code;
  };
  {
    v1::PutProjectRequest req;
    v1::Project* p = req.mutable_project();
    p->set_name("bench");
    p->set_forge("github");
    p->set_repository("bench/app");
    p->set_comment("never");
    p->add_suites()->set_yaml("name: tiny\njobs:\n  - name: t\n    command: \"true\"\n");
    grpc::ClientContext ctx;
    v1::Project out;
    if (auto s = stub->AddProject(&ctx, req, &out); !s.ok()) {
      std::cerr << "project add: " << s.error_message() << "\n";
      return stop(1);
    }
  }
  httplib::Client http("127.0.0.1", http_port);
  http.set_keep_alive(true);
  http.set_tcp_nodelay(true);

  // References.
  std::vector<double> rtt;
  for (int i = 0; i < 1000; ++i) {
    const absl::Time t0 = absl::Now();
    http.Get("/healthz");
    rtt.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
  }
  const std::string sample = PushBody(1);
  const absl::Time h0 = absl::Now();
  for (int i = 0; i < 10000; ++i) common::HmacSha256Hex(kSecret, sample);
  const double hmac_us = absl::ToDoubleMicroseconds(absl::Now() - h0) / 10000;

  // Webhook -> run queued, one at a time.
  std::vector<double> lat;
  int64_t seq = 1000;
  for (int i = 0; i < samples; ++i) {
    ++seq;
    Posted p = PostHook(http, "push", PushBody(seq), absl::StrFormat("lat-%d", seq));
    if (p.status != 202) {
      std::cerr << "webhook answered " << p.status << "\n";
      return stop(1);
    }
    lat.push_back(p.ms);
  }

  // Throughput, 4 client threads (the ignored events make no run): pushes (a run and two reports
  // each), then ignored events.
  auto blast = [&](const std::string& event, bool push) {
    std::atomic<int> next{0}, ok{0};
    std::atomic<int64_t> base{seq};
    const absl::Time t0 = absl::Now();
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t) {
      ts.emplace_back([&] {
        httplib::Client c("127.0.0.1", http_port);
        c.set_keep_alive(true);
        c.set_tcp_nodelay(true);
        for (int i; (i = next++) < throughput;) {
          const int64_t n = base + 1 + i;
          const std::string body =
              push ? PushBody(n)
                   : json{{"action", "created"}, {"repository", {{"full_name", "bench/app"}}}}
                         .dump();
          Posted p = PostHook(c, event, body, absl::StrFormat("%s-%d", event, n));
          if (p.status == 202 || p.status == 200) ++ok;
        }
      });
    }
    for (auto& t : ts) t.join();
    seq += throughput;
    return ok / absl::ToDoubleSeconds(absl::Now() - t0);
  };
  const double push_rate = blast("push", true);
  const double ignored_rate = blast("star", false);

  // Drain what is queued so far, then measure run end -> check run completed.
  Ended completions;
  std::vector<std::unique_ptr<bench::SimAgent>> sims;
  for (int i = 0; i < agents; ++i) {
    bench::SimAgent::Options so;
    so.heartbeat_every = absl::Seconds(5);
    so.completed = [&completions](int64_t run, absl::Time t) {
      absl::MutexLock l(&completions.mu);
      completions.at.emplace(run, t);
    };
    sims.push_back(
        std::make_unique<bench::SimAgent>(addr, absl::StrFormat("sim-%d", i), std::move(so)));
  }
  auto queued = [&] {
    grpc::ClientContext ctx;
    v1::ListRunsRequest req;
    req.set_state(v1::RUN_STATE_QUEUED);
    req.set_page_size(1);
    v1::ListRunsResponse resp;
    return stub->ListRuns(&ctx, req, &resp).ok() && resp.runs().empty();
  };
  // ... and every report sent: the analyser has caught up with the backlog.
  auto outbox_empty = [&] {
    grpc::ClientContext ctx;
    v1::ListOutboxRequest req;
    req.set_state("pending");
    req.set_limit(1);
    v1::ListOutboxResponse resp;
    return stub->ListOutbox(&ctx, req, &resp).ok() && resp.entries().empty();
  };
  // The newest run analysed: the analyser (oldest first) has caught up.
  auto analysed = [&] {
    grpc::ClientContext ctx;
    v1::ListRunsRequest req;
    req.set_page_size(1);
    v1::ListRunsResponse resp;
    if (!stub->ListRuns(&ctx, req, &resp).ok() || resp.runs().empty()) return false;
    grpc::ClientContext c2;
    v1::GetRunRequest g;
    g.set_id(resp.runs(0).id());
    v1::Run r;
    return stub->GetRun(&c2, g, &r).ok() && r.analysed();
  };
  const absl::Time drain0 = absl::Now();
  const int64_t requests0 = forge.requests();
  if (!WaitFor([&] { return queued() && analysed() && outbox_empty(); }, absl::Minutes(10))) {
    std::cerr << "the queue and the outbox did not drain\n";
    return stop(1);
  }
  const double drain_s = absl::ToDoubleSeconds(absl::Now() - drain0);
  const double drain_rps = (forge.requests() - requests0) / std::max(drain_s, 1e-3);
  absl::SleepFor(absl::Seconds(1));
  std::vector<int64_t> measured;  // the runs this phase's webhooks queued
  for (int i = 0; i < ended; ++i) {
    ++seq;
    const std::string body = PushBody(seq);
    httplib::Client c("127.0.0.1", http_port);
    c.set_tcp_nodelay(true);
    auto r = c.Post("/hooks/github",
                    {{"X-GitHub-Event", "push"},
                     {"X-GitHub-Delivery", absl::StrFormat("end-%d", seq)},
                     {"X-Hub-Signature-256", "sha256=" + common::HmacSha256Hex(kSecret, body)}},
                    body, "application/json");
    json a = r ? json::parse(r->body, nullptr, false) : json();
    if (a.is_object() && a.contains("runs"))
      for (const auto& id : a["runs"]) measured.push_back(id.get<int64_t>());
    absl::SleepFor(absl::Milliseconds(100));  // a busy lab's steady trickle: 10 runs/s
  }
  auto ended_at = [&] {
    absl::MutexLock l(&completions.mu);
    return completions.at;
  };
  WaitFor(
      [&] {
        auto done = ended_at();
        auto checks = forge.Completed();
        for (int64_t id : measured)
          if (!done.count(id) || !checks.count(id)) return false;
        return true;
      },
      absl::Minutes(5));
  std::vector<double> end_to_check;
  {
    auto done = ended_at();
    auto checks = forge.Completed();
    for (int64_t id : measured) {
      if (!done.count(id) || !checks.count(id)) continue;
      end_to_check.push_back(absl::ToDoubleMilliseconds(checks[id] - done[id]));
    }
  }
  sims.clear();

  const double rtt50 = Percentile(rtt, 50);
  std::printf("== CI integration: webhooks in, reports out (%d-core machine) ==\n",
              static_cast<int>(std::thread::hardware_concurrency()));
  std::printf("  reference: HTTP round trip to /healthz p50       %8.3f ms\n", rtt50);
  std::printf("  reference: HMAC-SHA-256 of a %zu-byte body        %8.2f us\n", sample.size(),
              hmac_us);
  std::printf(
      "  webhook -> run queued (202) p50                  %8.3f ms  (%.1fx HTTP round trip)\n",
      Percentile(lat, 50), Percentile(lat, 50) / rtt50);
  std::printf("  webhook -> run queued (202) p99                  %8.3f ms  (target < 50 ms)\n",
              Percentile(lat, 99));
  std::printf("  signed push webhooks/s, 4 clients (run + reports) %7.0f /s  (target >= 1,000)\n",
              push_rate);
  std::printf("  signed ignored webhooks/s, 4 clients             %8.0f /s\n", ignored_rate);
  std::printf("  run end -> check run completed p50               %8.1f ms  (%zu of %zu runs)\n",
              Percentile(end_to_check, 50), end_to_check.size(), measured.size());
  std::printf("  run end -> check run completed p99               %8.1f ms  (target < 1 s)\n",
              Percentile(end_to_check, 99));
  std::printf(
      "  backlog of %d runs run, analysed and reported in %8.1f s  (%.0f forge requests/s)\n",
      samples + throughput, drain_s, drain_rps);
  std::printf("  forge requests received                          %8lld\n",
              static_cast<long long>(forge.requests()));
  return stop(0);
}
