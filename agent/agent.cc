#include "agent/agent.h"

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "agent/bench/benchmark_runner.h"
#include "agent/exec/command_runner.h"
#include "agent/spool/attempt_journal.h"
#include "agent/spool/uploader.h"
#include "common/grpc/auth.h"
#include "common/http/http_server.h"
#include "common/log/log.h"
#include "common/process/subprocess.h"
#include "perfgate/v1/agent_gateway.grpc.pb.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace fs = std::filesystem;

namespace perfgate::agent {
namespace {

constexpr char kVersion[] = "perfgate-agent/0.1";

std::map<std::string, std::string> DetectLabels(const AgentConfig& cfg) {
  std::map<std::string, std::string> l;
  l["machine_class"] = cfg.machine_class;
  l["cores"] = std::to_string(std::thread::hardware_concurrency());
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  l["memory_gib"] = std::to_string((pages * page) >> 30);
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  l["hostname"] = host;
  for (const auto& [k, v] : cfg.labels) l[k] = v;
  return l;
}

class AgentImpl : public Agent {
 public:
  absl::Status Init(const AgentConfig& cfg);
  void Run() override;
  void Shutdown() override;
  ~AgentImpl() override;

 private:
  std::unique_ptr<grpc::ClientContext> NewContext(absl::Duration timeout) const;
  absl::Status Recover();
  void SessionLoop();
  void RunSession();
  void ExecutorLoop();
  void Execute(const v1::Assign& a);
  void CancelAttempt(int64_t attempt_id, const std::string& reason);
  bool WriteToStream(const v1::AgentMessage& m);
  // A heartbeat listing every attempt not yet completed at the controller.
  v1::AgentMessage HeartbeatMessage();

  AgentConfig cfg_;
  std::string token_;
  std::map<std::string, std::string> labels_;
  int lock_fd_ = -1;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AgentGateway::Stub> stub_;
  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
  prometheus::Gauge* connected_gauge_ = nullptr;
  prometheus::Counter* reconnects_ = nullptr;
  prometheus::Family<prometheus::Counter>* attempts_family_ = nullptr;
  std::unique_ptr<Uploader> uploader_;
  std::unique_ptr<common::HttpServer> http_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<v1::Assign> pending_ ABSL_GUARDED_BY(mu_);
  int64_t current_attempt_ ABSL_GUARDED_BY(mu_) = 0;
  // Stops the running attempt (set while one runs).
  std::function<void(const std::string&)> cancel_running_ ABSL_GUARDED_BY(mu_);
  // Cancels that arrived for the current or a queued attempt before it started running.
  std::map<int64_t, std::string> cancelled_ ABSL_GUARDED_BY(mu_);
  grpc::ClientContext* session_ctx_ ABSL_GUARDED_BY(mu_) = nullptr;
  grpc::ClientReaderWriterInterface<v1::AgentMessage, v1::ControllerMessage>* stream_
      ABSL_GUARDED_BY(mu_) = nullptr;
  absl::Duration heartbeat_ ABSL_GUARDED_BY(mu_);
  uint64_t stream_generation_ ABSL_GUARDED_BY(mu_) = 0;

  absl::Mutex write_mu_;  // one writer at a time on the session stream
  std::thread session_thread_, executor_thread_;
};

absl::Status AgentImpl::Init(const AgentConfig& cfg) {
  cfg_ = cfg;
  if (cfg_.name.empty()) {
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    cfg_.name = host;
  }
  heartbeat_ = cfg_.default_heartbeat;
  labels_ = DetectLabels(cfg_);
  if (!cfg_.token_file.empty()) {
    auto t = common::ReadTokenFile(cfg_.token_file);
    if (!t.ok()) return t.status();
    token_ = *t;
  }
  std::error_code ec;
  // Absolute: services and build steps run in other directories and get paths under it.
  cfg_.work_dir = fs::absolute(cfg_.work_dir, ec).lexically_normal().string();
  if (cfg_.work_dir.size() > 1 && cfg_.work_dir.back() == '/') cfg_.work_dir.pop_back();
  fs::create_directories(cfg_.work_dir + "/attempts", ec);
  if (ec) return absl::FailedPreconditionError("--work-dir " + cfg_.work_dir + ": " + ec.message());
  // One agent per work directory: two would fight over the journal.
  std::string lock = cfg_.work_dir + "/agent.lock";
  lock_fd_ = open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0 || flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return absl::FailedPreconditionError("--work-dir " + cfg_.work_dir +
                                         " is in use by another agent");
  }

  connected_gauge_ = &prometheus::BuildGauge()
                          .Name("perfgate_agent_session_connected")
                          .Help("1 while the session with the controller is up")
                          .Register(*registry_)
                          .Add({});
  reconnects_ = &prometheus::BuildCounter()
                     .Name("perfgate_agent_session_reconnects_total")
                     .Help("Session (re)connection attempts")
                     .Register(*registry_)
                     .Add({});
  attempts_family_ = &prometheus::BuildCounter()
                          .Name("perfgate_agent_attempts_total")
                          .Help("Attempts run, by outcome")
                          .Register(*registry_);
  for (int o = 1; o <= v1::AttemptOutcome_MAX; ++o) {
    attempts_family_->Add(
        {{"outcome", v1::AttemptOutcome_Name(static_cast<v1::AttemptOutcome>(o))}});
  }

  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1'000);
  channel_ = grpc::CreateCustomChannel(cfg_.controller, grpc::InsecureChannelCredentials(), args);
  stub_ = v1::AgentGateway::NewStub(channel_);
  uploader_ = std::make_unique<Uploader>(
      *stub_, [this] { return NewContext(absl::Seconds(30)); },
      [this](int64_t id, const std::string& why) {
        CancelAttempt(id, "controller refused the attempt: " + why);
      },
      *registry_);

  if (auto s = Recover(); !s.ok()) return s;

  std::string host;
  int port = 0;
  if (auto s = common::ParseHostPort("--http-listen", cfg_.http_listen, &host, &port); !s.ok())
    return s;
  auto http = common::HttpServer::Start(host, port, registry_);
  if (!http.ok()) return http.status();
  http_ = *std::move(http);
  spdlog::info("msg=\"agent starting\" name={} controller={} metrics_port={}", cfg_.name,
               cfg_.controller, http_->port());
  return absl::OkStatus();
}

std::unique_ptr<grpc::ClientContext> AgentImpl::NewContext(absl::Duration timeout) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!token_.empty()) ctx->AddMetadata("authorization", "Bearer " + token_);
  if (timeout != absl::InfiniteDuration()) {
    ctx->set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(timeout));
  }
  return ctx;
}

absl::Status AgentImpl::Recover() {
  for (const auto& e : fs::directory_iterator(cfg_.work_dir + "/attempts")) {
    auto j = AttemptJournal::Open(e.path().string());
    if (!j.ok()) {
      spdlog::error("msg=\"unreadable attempt journal; moving it aside\" dir={} error=\"{}\"",
                    e.path().string(), j.status().message());
      std::error_code ec;
      fs::rename(e.path(), e.path().string() + ".corrupt", ec);
      continue;
    }
    std::shared_ptr<AttemptJournal> journal = *std::move(j);
    if (!journal->result()) {
      std::string note = "perfgate-agent: the agent restarted while this attempt ran";
      for (const ProcessRecord& p : journal->processes()) {
        if (!common::GroupAlive(p.pgid)) continue;
        auto ticks = common::ProcessStartTicks(p.pgid);
        // Only our own process: a recycled pid belongs to somebody else.
        if (!ticks.ok() || *ticks == p.start_ticks) {
          spdlog::warn("msg=\"killing orphaned process group\" attempt={} pgid={}",
                       journal->attempt_id(), p.pgid);
          common::SignalGroup(p.pgid, SIGKILL).IgnoreError();
          for (int i = 0; i < 200 && common::GroupAlive(p.pgid); ++i) usleep(50'000);
          note += absl::StrCat("; killed its orphaned process group ", p.pgid);
        }
      }
      journal->AppendLog(v1::LOG_STREAM_AGENT, note + "\n").IgnoreError();
      v1::CompleteAttemptRequest r;
      r.set_outcome(v1::ATTEMPT_OUTCOME_INFRA_FAILURE);
      r.set_message("agent restarted while the attempt ran");
      if (auto s = journal->Finish(r); !s.ok()) return s;
    }
    spdlog::info("msg=\"recovered attempt journal\" attempt={} unacked_chunks={}",
                 journal->attempt_id(), journal->chunk_count() - journal->acked());
    uploader_->Add(std::move(journal));
  }
  return absl::OkStatus();
}

void AgentImpl::Run() {
  uploader_->Start();
  executor_thread_ = std::thread([this] { ExecutorLoop(); });
  session_thread_ = std::thread([this] { SessionLoop(); });
  session_thread_.join();
  executor_thread_.join();
  // Give the uploader a moment to deliver the last completion.
  for (int i = 0; i < 50 && !uploader_->Idle(); ++i) usleep(100'000);
  uploader_->Stop();
}

void AgentImpl::Shutdown() {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  stopping_ = true;
  spdlog::info("msg=\"agent shutting down\"");
  if (cancel_running_) cancel_running_("agent shutting down");
  if (session_ctx_) session_ctx_->TryCancel();
}

AgentImpl::~AgentImpl() {
  if (lock_fd_ >= 0) close(lock_fd_);
}

bool AgentImpl::WriteToStream(const v1::AgentMessage& m) {
  absl::MutexLock wl(&write_mu_);
  grpc::ClientReaderWriterInterface<v1::AgentMessage, v1::ControllerMessage>* s;
  {
    absl::MutexLock lock(&mu_);
    s = stream_;
  }
  return s != nullptr && s->Write(m);
}

void AgentImpl::SessionLoop() {
  std::mt19937_64 rng(std::random_device{}());
  absl::Duration backoff = cfg_.reconnect_min;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;
    }
    reconnects_->Increment();
    absl::Time started = absl::Now();
    RunSession();
    // A session that lasted a while was healthy: start the backoff over.
    if (absl::Now() - started > absl::Seconds(30)) backoff = cfg_.reconnect_min;
    std::uniform_real_distribution<double> jitter(0.5, 1.5);
    absl::Duration wait = backoff * jitter(rng);
    backoff = std::min(backoff * 2, cfg_.reconnect_max);
    absl::MutexLock lock(&mu_);
    auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    mu_.AwaitWithTimeout(absl::Condition(&stop), wait);
  }
  absl::MutexLock lock(&mu_);
  stopping_ = true;
}

void AgentImpl::RunSession() {
  auto ctx = NewContext(absl::InfiniteDuration());
  // Wait for the channel to connect instead of failing fast while it backs off: the session
  // starts the moment the controller is back.
  ctx->set_wait_for_ready(true);
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    session_ctx_ = ctx.get();
  }
  auto stream = stub_->Session(ctx.get());
  v1::AgentMessage hello_msg;
  v1::Hello* hello = hello_msg.mutable_hello();
  hello->set_name(cfg_.name);
  hello->mutable_labels()->insert(labels_.begin(), labels_.end());
  hello->set_capacity(1);
  hello->set_version(kVersion);
  for (auto& h : uploader_->Held()) *hello->add_held() = h;
  uint64_t generation;
  {
    absl::MutexLock lock(&mu_);
    stream_ = stream.get();
    generation = ++stream_generation_;
  }
  std::thread heartbeat;
  if (WriteToStream(hello_msg)) {
    connected_gauge_->Set(1);
    heartbeat = std::thread([this, generation] {
      while (true) {
        absl::Duration interval;
        {
          absl::MutexLock lock(&mu_);
          interval = heartbeat_;
          // The controller's HelloAck may shorten the interval after this wait began (the
          // lease could run out before a long default interval passes): start over then.
          auto woken = [this, generation, interval]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
            return stopping_ || stream_generation_ != generation || heartbeat_ != interval;
          };
          if (mu_.AwaitWithTimeout(absl::Condition(&woken), interval)) {
            if (stopping_ || stream_generation_ != generation) return;
            continue;
          }
        }
        if (!WriteToStream(HeartbeatMessage())) return;
      }
    });
    v1::ControllerMessage msg;
    while (stream->Read(&msg)) {
      if (msg.has_hello_ack()) {
        absl::MutexLock lock(&mu_);
        if (msg.hello_ack().heartbeat_seconds() > 0)
          heartbeat_ = absl::Seconds(msg.hello_ack().heartbeat_seconds());
        spdlog::info("msg=\"session established\" controller={}", msg.hello_ack().controller_id());
      } else if (msg.has_assign()) {
        absl::MutexLock lock(&mu_);
        pending_.push_back(msg.assign());
      } else if (msg.has_cancel()) {
        CancelAttempt(msg.cancel().attempt_id(), msg.cancel().reason());
      } else if (msg.has_drain()) {
        spdlog::info("msg=\"drain\" draining={}", msg.drain().draining());
      }
    }
  }
  {
    absl::MutexLock lock(&mu_);
    ++stream_generation_;  // ends the heartbeat thread
  }
  if (heartbeat.joinable()) heartbeat.join();
  {
    absl::MutexLock wl(&write_mu_);
    absl::MutexLock lock(&mu_);
    stream_ = nullptr;
    session_ctx_ = nullptr;
  }
  grpc::Status s = stream->Finish();
  connected_gauge_->Set(0);
  spdlog::warn("msg=\"session ended\" code={} error=\"{}\"", static_cast<int>(s.error_code()),
               s.error_message());
}

void AgentImpl::CancelAttempt(int64_t attempt_id, const std::string& reason) {
  absl::MutexLock lock(&mu_);
  bool queued = std::any_of(pending_.begin(), pending_.end(),
                            [&](const v1::Assign& p) { return p.attempt_id() == attempt_id; });
  if (current_attempt_ == attempt_id && cancel_running_) {
    spdlog::info("msg=\"cancelling attempt\" attempt={} reason=\"{}\"", attempt_id, reason);
    cancel_running_(reason);
  } else if (current_attempt_ == attempt_id || queued) {
    cancelled_[attempt_id] = reason;  // applied when it starts
  } else {
    // Already over, or never ours: nothing to stop, and nothing to remember.
    spdlog::debug("msg=\"cancel for an attempt not running here\" attempt={}", attempt_id);
  }
}

void AgentImpl::ExecutorLoop() {
  while (true) {
    v1::Assign a;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !pending_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (stopping_) return;
      a = pending_.front();
      pending_.pop_front();
      current_attempt_ = a.attempt_id();  // from here a cancel is remembered until it starts
    }
    Execute(a);
    absl::MutexLock lock(&mu_);
    current_attempt_ = 0;
    cancelled_.erase(a.attempt_id());
  }
}

void AgentImpl::Execute(const v1::Assign& a) {
  std::string dir = absl::StrCat(cfg_.work_dir, "/attempts/", a.attempt_id());
  auto created = AttemptJournal::Create(dir, a);
  if (!created.ok()) {
    spdlog::warn("msg=\"assignment not journaled\" attempt={} error=\"{}\"", a.attempt_id(),
                 created.status().message());
    return;  // a duplicate delivery, or a broken disk: the lease will run out
  }
  std::shared_ptr<AttemptJournal> journal = *std::move(created);
  uploader_->Add(journal);
  spdlog::info("msg=\"attempt assigned\" run={} job={} attempt={} epoch={}", a.run_id(), a.job_id(),
               a.attempt_id(), a.epoch());
  // Accept, retrying while the controller is unreachable (the lease covers a short outage).
  v1::AcceptAttemptRequest req;
  req.set_attempt_id(a.attempt_id());
  req.set_epoch(a.epoch());
  req.set_agent(cfg_.name);
  grpc::Status accepted;
  for (int i = 0; i < 60; ++i) {
    v1::AcceptAttemptResponse resp;
    auto ctx = NewContext(absl::Seconds(10));
    accepted = stub_->AcceptAttempt(ctx.get(), req, &resp);
    if (accepted.ok() || IsFinalRefusal(accepted)) break;
    usleep(500'000);
  }
  if (!accepted.ok()) {
    spdlog::warn("msg=\"attempt not accepted\" attempt={} error=\"{}\"", a.attempt_id(),
                 accepted.error_message());
    uploader_->Drop(a.attempt_id());
    journal->Remove().IgnoreError();
    return;
  }
  RunOutcome outcome;
  {
    CommandRunner command(*journal, dir + "/work");
    ObserveConfig observe;
    observe.prometheus_url = cfg_.prometheus_url;
    observe.prometheus_bin = cfg_.prometheus_bin;
    BenchmarkRunner benchmark(
        *journal, cfg_.work_dir + "/cache", dir + "/work", [this] { uploader_->Wake(); }, observe);
    std::function<void(const std::string&)> cancel;
    if (a.spec().has_benchmark()) {
      cancel = [&benchmark](const std::string& why) { benchmark.Cancel(why); };
    } else {
      cancel = [&command](const std::string& why) { command.Cancel(why); };
    }
    {
      absl::MutexLock lock(&mu_);
      cancel_running_ = cancel;
      if (auto it = cancelled_.find(a.attempt_id()); it != cancelled_.end()) cancel(it->second);
      if (stopping_) cancel("agent shutting down");
    }
    if (a.spec().has_benchmark()) {
      outcome = benchmark.Run(a.spec().benchmark());
    } else if (a.spec().has_command()) {
      outcome = command.Run(a.spec().command());
    } else {
      outcome = {v1::ATTEMPT_OUTCOME_FAILED, 0, "this agent does not know the job's type"};
    }
    absl::MutexLock lock(&mu_);
    cancel_running_ = nullptr;
  }
  v1::CompleteAttemptRequest result;
  result.set_outcome(outcome.outcome);
  result.set_exit_code(outcome.exit_code);
  result.set_message(outcome.message);
  if (auto s = journal->Finish(result); !s.ok()) {
    spdlog::error("msg=\"cannot journal result\" attempt={} error=\"{}\"", a.attempt_id(),
                  s.message());
  }
  attempts_family_->Add({{"outcome", v1::AttemptOutcome_Name(outcome.outcome)}}).Increment();
  spdlog::info("msg=\"attempt finished\" attempt={} outcome={} exit_code={}", a.attempt_id(),
               v1::AttemptOutcome_Name(outcome.outcome), outcome.exit_code);
  // The completion, delivered by the uploader, tells the controller this agent is free.
  uploader_->Wake();
}

v1::AgentMessage AgentImpl::HeartbeatMessage() {
  v1::AgentMessage hb;
  hb.mutable_heartbeat();
  for (auto& h : uploader_->Held()) *hb.mutable_heartbeat()->add_held() = h;
  return hb;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Agent>> Agent::Create(const AgentConfig& cfg) {
  auto a = std::make_unique<AgentImpl>();
  if (auto s = a->Init(cfg); !s.ok()) return s;
  return a;
}

}  // namespace perfgate::agent
