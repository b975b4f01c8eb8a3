// perfgate-sample-target: a small HTTP service to benchmark, with Prometheus metrics about
// itself and flags that inject a regression per request (added latency, CPU burn, memory
// growth), so that perfgate's demo and tests have a system under test whose performance they
// control.
//
//   GET  /api/items          a JSON list of 20 items
//   GET  /api/items/{id}     one item (404 for an unknown id)
//   POST /api/items          echoes the body's length (201)
//   GET  /healthz, /metrics
//   GET  /debug/pprof/profile?seconds=N   a CPU profile in pprof format (cpu_profiler.h)
//   GET  /debug/pprof/heap                the heap profile, with --heap-profile (heap_profiler.h)
//
// With --role manager or worker it is also a member of a small manager/worker cluster
// (cluster.h): managers place services' tasks on the workers that heartbeat to them.
#include <httplib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/cleanup/cleanup.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/http/http_server.h"
#include "common/process/signals.h"
#include "common/time/duration_flag.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "tools/sample_target/cluster.h"
#include "tools/sample_target/cpu_profiler.h"
#include "tools/sample_target/heap_profiler.h"

// Outside the anonymous namespace and never inlined: the CPU profile (cpu_profiler.h) names
// this function, so an injected CPU regression shows where it is in a profile diff.
namespace perfgate::sample_target {

// Uses `d` of this thread's CPU time (not wall time: a preempted thread keeps burning after).
__attribute__((noinline)) void BurnCpu(absl::Duration d) {
  auto cpu_now = [] {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return absl::DurationFromTimespec(ts);
  };
  const absl::Duration until = cpu_now() + d;
  volatile uint64_t x = 0;
  while (cpu_now() < until) {
    for (int i = 0; i < 1000; ++i) x = x * 31 + i;
  }
}

}  // namespace perfgate::sample_target

namespace {

struct Injection {
  absl::Duration added_latency = absl::ZeroDuration();
  absl::Duration cpu_burn = absl::ZeroDuration();
  int64_t leak_bytes = 0;
  // Noise like a real system's: every request sleeps noise_latency x L x E, E exponential with
  // mean 1 (each request its own), L a level with mean 1 and coefficient of variation noise_cv
  // that holds for noise_period (what a GC, a compaction or a neighbour does to a stretch of
  // time). Repetitions then differ the way they do on such a system.
  absl::Duration noise_latency = absl::ZeroDuration();
  double noise_cv = 0;
  absl::Duration noise_period = absl::Seconds(1);
  uint64_t noise_seed = 0;
};

// The noise level of period k: lognormal with mean 1 and CV `cv`, the same for every request
// of the period (a function of the seed and k, so no state is shared between threads).
double NoiseLevel(uint64_t seed, int64_t k, double cv) {
  if (cv <= 0) return 1;
  const double sigma = std::sqrt(std::log1p(cv * cv));
  std::mt19937_64 rng(seed ^ (static_cast<uint64_t>(k) * 0x9e3779b97f4a7c15ULL));
  std::normal_distribution<double> z(0, 1);
  return std::exp(-sigma * sigma / 2 + sigma * z(rng));
}

// Per-route metrics, looked up once.
struct RouteMetrics {
  prometheus::Histogram* latency;
  prometheus::Counter* ok;
  prometheus::Counter* other;
};

class Service {
 public:
  Service(Injection inj, prometheus::Registry& reg) : inj_(inj) {
    auto& latency = prometheus::BuildHistogram()
                        .Name("sample_target_request_duration_seconds")
                        .Help("Time to handle a request, by route")
                        .Register(reg);
    auto& requests = prometheus::BuildCounter()
                         .Name("sample_target_requests_total")
                         .Help("Requests handled, by route and status")
                         .Register(reg);
    prometheus::Histogram::BucketBoundaries b = {
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
    for (const char* r : {"list", "get", "create"}) {
      routes_[r] = {&latency.Add({{"route", r}}, b),
                    &requests.Add({{"route", r}, {"status", "2xx"}}),
                    &requests.Add({{"route", r}, {"status", "4xx"}})};
    }
    leaked_ = &prometheus::BuildGauge()
                   .Name("sample_target_leaked_bytes")
                   .Help("Memory deliberately kept by --leak-bytes")
                   .Register(reg)
                   .Add({});
  }

  void Routes(httplib::Server& s) {
    s.Get("/api/items", [this](const httplib::Request&, httplib::Response& res) {
      Handle("list", res, [&] {
        std::string body = "[";
        for (int i = 1; i <= 20; ++i)
          body += absl::StrCat(i > 1 ? "," : "", R"({"id":)", i, R"(,"name":"item-)", i, "\"}");
        res.set_content(body + "]", "application/json");
        return 200;
      });
    });
    s.Get(R"(/api/items/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
      Handle("get", res, [&] {
        int id = 0;
        if (!absl::SimpleAtoi(req.matches[1].str(), &id) || id < 1 || id > 20) {
          res.set_content(R"({"error":"no such item"})", "application/json");
          return 404;
        }
        res.set_content(absl::StrCat(R"({"id":)", id, R"(,"name":"item-)", id, "\"}"),
                        "application/json");
        return 200;
      });
    });
    // A CPU profile of the whole process, as Go's net/http/pprof serves it.
    s.Get("/debug/pprof/profile", [](const httplib::Request& req, httplib::Response& res) {
      int seconds = 30;
      if (req.has_param("seconds") &&
          (!absl::SimpleAtoi(req.get_param_value("seconds"), &seconds) || seconds < 1 ||
           seconds > 300)) {
        res.status = 400;
        res.set_content("seconds: want a whole number from 1 to 300\n", "text/plain");
        return;
      }
      auto p = perfgate::sample_target::ProfileCpu(absl::Seconds(seconds));
      if (!p.ok()) {
        res.status = absl::IsFailedPrecondition(p.status()) ? 409 : 500;
        res.set_content(std::string(p.status().message()) + "\n", "text/plain");
        return;
      }
      res.set_header("Content-Disposition", "attachment; filename=\"profile\"");
      res.set_content(*std::move(p), "application/octet-stream");
    });
    // The heap profile (live and allocated since the start), as Go's net/http/pprof serves it.
    s.Get("/debug/pprof/heap", [](const httplib::Request&, httplib::Response& res) {
      auto p = perfgate::sample_target::HeapProfile();
      if (!p.ok()) {
        res.status = absl::IsFailedPrecondition(p.status()) ? 404 : 500;
        res.set_content(std::string(p.status().message()) + "\n", "text/plain");
        return;
      }
      res.set_header("Content-Disposition", "attachment; filename=\"heap\"");
      res.set_content(*std::move(p), "application/octet-stream");
    });
    s.Post("/api/items", [this](const httplib::Request& req, httplib::Response& res) {
      Handle("create", res, [&] {
        res.set_content(absl::StrCat(R"({"received_bytes":)", req.body.size(), "}"),
                        "application/json");
        return 201;
      });
    });
  }

 private:
  template <typename F>
  void Handle(const char* route, httplib::Response& res, F body) {
    auto start = std::chrono::steady_clock::now();
    Inject();
    res.status = body();
    RouteMetrics& m = routes_[route];
    (res.status < 400 ? m.ok : m.other)->Increment();
    m.latency->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }

  void Inject() {
    if (inj_.cpu_burn > absl::ZeroDuration()) perfgate::sample_target::BurnCpu(inj_.cpu_burn);
    if (inj_.added_latency > absl::ZeroDuration())
      std::this_thread::sleep_for(absl::ToChronoNanoseconds(inj_.added_latency));
    if (inj_.noise_latency > absl::ZeroDuration()) {
      thread_local std::mt19937_64 rng(std::random_device{}());
      std::exponential_distribution<double> jitter(1.0);
      const int64_t k =
          absl::ToUnixNanos(absl::Now()) / absl::ToInt64Nanoseconds(inj_.noise_period);
      const double f = NoiseLevel(inj_.noise_seed, k, inj_.noise_cv) * jitter(rng);
      std::this_thread::sleep_for(absl::ToChronoNanoseconds(inj_.noise_latency * f));
    }
    if (inj_.leak_bytes > 0) {
      std::vector<char> block(inj_.leak_bytes, 1);  // touched, so it is resident
      std::lock_guard<std::mutex> l(leak_mu_);
      leaked_blocks_.push_back(std::move(block));
      leaked_->Increment(inj_.leak_bytes);
    }
  }

  Injection inj_;
  std::map<std::string, RouteMetrics> routes_;
  prometheus::Gauge* leaked_;
  std::mutex leak_mu_;
  std::vector<std::vector<char>> leaked_blocks_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:8080", ready_file;
  int threads = 64;
  Injection inj;
  CLI::App app{
      "perfgate-sample-target: a small HTTP service to benchmark, with injectable regressions."};
  app.add_option("--listen", listen, "HOST:PORT (port 0 picks a free one)")->capture_default_str();
  app.add_option("--ready-file", ready_file, "write {\"port\": N} here once listening");
  app.add_option(
         "--threads", threads,
         "worker threads; each keep-alive connection holds one, so allow at least as many as "
         "the load's connections")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  perfgate::common::AddDurationOption(app, "--added-latency", &inj.added_latency,
                                      "sleep this long in every request");
  perfgate::common::AddDurationOption(app, "--cpu-burn", &inj.cpu_burn,
                                      "use this much CPU in every request");
  app.add_option("--leak-bytes", inj.leak_bytes, "keep this many bytes per request (memory growth)")
      ->check(CLI::Range(int64_t{0}, int64_t{64} << 20));
  perfgate::common::AddDurationOption(
      app, "--noise-latency", &inj.noise_latency,
      "noise like a real system's: every request also sleeps this long on average, times a "
      "random per-request factor (exponential, mean 1) and a level that holds for "
      "--noise-period (mean 1, CV --noise-cv)");
  app.add_option("--noise-cv", inj.noise_cv,
                 "how much the noise level varies from period to period (0.3 = 30 %)")
      ->check(CLI::Range(0.0, 5.0));
  perfgate::common::AddDurationOption(app, "--noise-period", &inj.noise_period,
                                      "how long one noise level holds (default 1s)");
  app.add_option("--noise-seed", inj.noise_seed,
                 "seed of the noise levels (default: a random one); the per-request factor is "
                 "always random");
  std::string role = "standalone", name, services_flag;
  std::vector<std::string> managers, peers;
  absl::Duration worker_timeout = absl::Seconds(1);
  absl::Duration task_start = absl::ZeroDuration();
  int64_t leak_per_heartbeat = 0;
  std::string heap_profile;
  app.add_option("--role", role,
                 "standalone, or a member of a manager/worker cluster: manager or worker")
      ->check(CLI::IsMember({"standalone", "manager", "worker"}))
      ->capture_default_str();
  app.add_option("--manager", managers, "worker: the managers' URLs (http://HOST:PORT)")
      ->delimiter(',');
  app.add_option("--peers", peers, "manager: the other managers' URLs, told of new services")
      ->delimiter(',');
  app.add_option("--name", name, "worker: its name (default: the host's name)");
  app.add_option("--services", services_flag,
                 "manager: services to start with, NAME=REPLICAS[,NAME=REPLICAS...]");
  perfgate::common::AddDurationOption(app, "--task-start", &task_start,
                                      "worker: how long starting one task takes (tasks start "
                                      "one after another)");
  app.add_option("--leak-per-heartbeat", leak_per_heartbeat,
                 "manager: keep this many bytes per worker heartbeat received (a leak)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 24));
  app.add_option("--heap-profile", heap_profile,
                 "serve /debug/pprof/heap (gperftools): 'sampled' (an allocation per ~512 KiB, "
                 "cheap) or 'exact' (every allocation; a stack walk and a lock each)")
      ->check(CLI::IsMember({"sampled", "exact"}));
  perfgate::common::AddDurationOption(app, "--worker-timeout", &worker_timeout,
                                      "manager: a worker whose heartbeats stop this long is dead "
                                      "and its tasks move (default 1s)");
  CLI11_PARSE(app, argc, argv);
  if (role == "worker" && managers.empty()) {
    std::cerr << "--manager: a worker needs its managers' URLs\n";
    return 2;
  }
  if (worker_timeout <= absl::ZeroDuration()) {
    std::cerr << "--worker-timeout: must be positive\n";
    return 2;
  }
  if (inj.noise_period <= absl::ZeroDuration()) {
    std::cerr << "--noise-period: must be positive\n";
    return 2;
  }
  if (inj.noise_seed == 0) inj.noise_seed = std::random_device{}() | 1;

  std::string host;
  int port = 0;
  if (auto s = perfgate::common::ParseHostPort("--listen", listen, &host, &port); !s.ok()) {
    std::cerr << s.message() << "\n";
    return 2;
  }
  if (!heap_profile.empty()) {
    using perfgate::sample_target::HeapMode;
    const HeapMode mode = heap_profile == "exact" ? HeapMode::kExact : HeapMode::kSampled;
    if (mode == HeapMode::kSampled) {
      if (auto s = perfgate::sample_target::ExecWithHeapSampling(argv); !s.ok()) {
        std::cerr << "--heap-profile: " << s.message() << "\n";
        return 1;
      }
    }
    if (auto s = perfgate::sample_target::StartHeapProfiler(mode); !s.ok()) {
      std::cerr << "--heap-profile: " << s.message() << "\n";
      return 1;
    }
  }
  // Removes gperftools' private directory however main returns.
  absl::Cleanup stop_heap_profiler = [] { perfgate::sample_target::StopHeapProfiler(); };
  auto registry = std::make_shared<prometheus::Registry>();
  Service service(inj, *registry);
  std::unique_ptr<perfgate::sample_target::Manager> manager;
  if (role == "manager") {
    manager = std::make_unique<perfgate::sample_target::Manager>(peers, worker_timeout, *registry,
                                                                 leak_per_heartbeat);
    for (absl::string_view item : absl::StrSplit(services_flag, ',', absl::SkipEmpty())) {
      std::pair<std::string, std::string> kv = absl::StrSplit(item, '=');
      int replicas = 0;
      if (kv.first.empty() || !absl::SimpleAtoi(kv.second, &replicas) || replicas < 1 ||
          replicas > 1000) {
        std::cerr << "--services: want NAME=REPLICAS (1..1000); got '" << item << "'\n";
        return 2;
      }
      manager->AddService(kv.first, replicas);
    }
  }
  std::unique_ptr<perfgate::sample_target::Worker> worker;
  if (role == "worker") {
    if (name.empty()) {
      char h[256] = {0};
      gethostname(h, sizeof h - 1);
      name = h;
    }
    worker = std::make_unique<perfgate::sample_target::Worker>(name, managers, task_start);
  }
  std::atomic<bool> stop{false};
  perfgate::common::HandleTerminationSignals([&](int) { stop = true; });
  // A benchmark target: its clients hold keep-alive connections through a run's pauses, and
  // a load test may open many; the bound stays for memory.
  perfgate::common::HttpServerOptions http;
  http.limits.workers = threads;
  http.limits.max_connections = std::max(4096, http.limits.workers);
  http.limits.keep_alive_seconds = 60;
  http.add_routes = [&](httplib::Server& s) {
    service.Routes(s);
    if (manager) manager->Routes(s);
    if (worker) worker->Routes(s);
  };
  auto server = perfgate::common::HttpServer::Start(host, port, registry, std::move(http));
  if (!server.ok()) {
    std::cerr << server.status().message() << "\n";
    return 1;
  }
  std::cerr << "sample-target listening on " << host << ":" << (*server)->port() << "\n";
  if (worker) worker->Start(absl::StrCat(host, ":", (*server)->port()));
  if (!ready_file.empty()) {
    std::ofstream(ready_file + ".tmp") << "{\"port\": " << (*server)->port() << "}\n";
    std::rename((ready_file + ".tmp").c_str(), ready_file.c_str());
  }
  while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  (*server)->Stop();
  return 0;
}
