#include "agent/agent.h"

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "agent/executor.h"
#include "agent/hosts/cgroup.h"
#include "agent/hosts/netns_hosts.h"
#include "agent/hosts/ssh_hosts.h"
#include "agent/recovery.h"
#include "agent/session.h"
#include "agent/spool/uploader.h"
#include "common/grpc/auth.h"
#include "common/grpc/tls.h"
#include "common/http/http_server.h"
#include "common/log/log.h"
#include "common/spec/run_spec_rules.h"
#include "perfgate/v1/agent_gateway.grpc.pb.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace fs = std::filesystem;

namespace perfgate::agent {
namespace {

constexpr char kVersion[] = "perfgate-agent/0.1";

// The user job code runs as (none: the agent's own). A user named with --job-user must be
// usable; the default one is given up, with the reason, where this agent cannot switch to it.
absl::StatusOr<std::optional<JobUser>> ChooseJobUser(const AgentConfig& cfg) {
  if (cfg.job_user.empty()) return std::nullopt;
  absl::StatusOr<JobUser> user =
      geteuid() != 0 ? absl::FailedPreconditionError("--job-user " + cfg.job_user +
                                                     ": only an agent running as root can "
                                                     "switch users")
                     : LookupJobUser(cfg.job_user);
  if (user.ok()) return *user;
  if (cfg.job_user_explicit) return user.status();
  spdlog::warn(
      "msg=\"jobs run as the agent's own user: the default job user is not usable\" "
      "reason=\"{}\"",
      std::string(user.status().message()));
  return std::nullopt;
}

std::map<std::string, std::string> DetectLabels(const AgentConfig& cfg, bool can_make_hosts,
                                                const HostPool* pool) {
  std::map<std::string, std::string> l;
  l["machine_class"] = cfg.machine_class;
  l["cores"] = std::to_string(std::thread::hardware_concurrency());
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  l["memory_gib"] = std::to_string((pages * page) >> 30);
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  l["hostname"] = host;
  // Whether it can give a job test hosts (agent/hosts/): jobs whose stacks have them select it.
  if (can_make_hosts && cfg.max_hosts > 0) {
    l[common::kNetnsHostsLabel] = "true";
    l[common::kMaxHostsLabel] = std::to_string(cfg.max_hosts);
    const int64_t machine_mib = (static_cast<int64_t>(pages) * page) >> 20;
    l[common::kHostsMemoryLabel] = std::to_string(
        cfg.hosts_memory_mib > 0 ? cfg.hosts_memory_mib : std::max<int64_t>(0, machine_mib - 1024));
  }
  if (pool) l[common::kSshHostsLabel] = std::to_string(pool->hosts().size());
  for (const auto& [k, v] : cfg.labels) l[k] = v;
  return l;
}

// Wires the agent's parts: the session with the controller (session.h), the executor of its
// attempts (executor.h), the restart recovery (recovery.h), the spool's uploader and the
// metrics endpoint.
class AgentImpl : public Agent {
 public:
  absl::Status Init(const AgentConfig& cfg);
  void Run() override;
  void Shutdown() override;
  ~AgentImpl() override;

 private:
  std::unique_ptr<grpc::ClientContext> NewContext(absl::Duration timeout) const;
  void RegisterMetrics();

  AgentConfig cfg_;
  std::string token_;
  int lock_fd_ = -1;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AgentGateway::Stub> stub_;
  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
  prometheus::Gauge* connected_gauge_ = nullptr;
  prometheus::Counter* reconnects_ = nullptr;
  prometheus::Family<prometheus::Counter>* attempts_family_ = nullptr;
  std::unique_ptr<HostPool> host_pool_;  // --host-pool; before executor_, which uses it
  std::unique_ptr<Uploader> uploader_;
  std::unique_ptr<Executor> executor_;
  std::unique_ptr<Session> session_;
  std::unique_ptr<common::HttpServer> http_;
  std::thread session_thread_, executor_thread_;
};

absl::Status AgentImpl::Init(const AgentConfig& cfg) {
  cfg_ = cfg;
  // With a client certificate the controller knows this agent by the certificate's name.
  if (!cfg_.tls_cert.empty()) {
    auto cert_name = common::CertificateName("--tls-cert", cfg_.tls_cert);
    if (!cert_name.ok()) return cert_name.status();
    if (cfg_.name.empty()) cfg_.name = *cert_name;
    if (cfg_.name != *cert_name)
      return absl::InvalidArgumentError("--name " + cfg_.name + ": the certificate --tls-cert " +
                                        cfg_.tls_cert + " names agent '" + *cert_name +
                                        "'; the controller knows an agent by its certificate");
  }
  if (cfg_.name.empty()) {
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    cfg_.name = host;
  }
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

  RegisterMetrics();

  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1'000);
  auto creds = common::MakeChannelCredentials({cfg_.tls_ca, cfg_.tls_cert, cfg_.tls_key});
  if (!creds.ok()) return creds.status();
  channel_ = grpc::CreateCustomChannel(cfg_.controller, *creds, args);
  stub_ = v1::AgentGateway::NewStub(channel_);
  auto ctx = [this](absl::Duration timeout) { return NewContext(timeout); };
  uploader_ = std::make_unique<Uploader>(
      *stub_, [this] { return NewContext(absl::Seconds(30)); },
      [this](int64_t id, const std::string& why) {
        executor_->Cancel(id, "controller refused the attempt: " + why);
      },
      *registry_);
  // The ssh host pool: a bad file stops the agent here, with the line and field named.
  if (!cfg_.host_pool_file.empty()) {
    auto hosts = LoadHostPool(cfg_.host_pool_file);
    if (!hosts.ok())
      return absl::InvalidArgumentError("--host-pool " + std::string(hosts.status().message()));
    host_pool_ = std::make_unique<HostPool>(*std::move(hosts), cfg_.work_dir + "/known_hosts");
  }
  ExecutorOptions eo;
  eo.host_pool = host_pool_.get();
  eo.agent_name = cfg_.name;
  eo.work_dir = cfg_.work_dir;
  eo.observe.prometheus_url = cfg_.prometheus_url;
  eo.observe.prometheus_bin = cfg_.prometheus_bin;
  // The job sandbox: a control group per attempt where the agent may make them (root), and
  // the unprivileged user the job code runs as.
  eo.attempt_cgroups = geteuid() == 0 && Cgroup::Detect().ok();
  if (auto user = ChooseJobUser(cfg_); !user.ok()) {
    return user.status();
  } else if (*user) {
    eo.job_user = **user;
    // The job must reach its attempt's directory, and nothing else of ours: traverse, no list.
    chmod(cfg_.work_dir.c_str(), 0711);
    chmod((cfg_.work_dir + "/attempts").c_str(), 0711);
  } else if (geteuid() == 0) {
    spdlog::warn(
        "msg=\"jobs run as root, able to read this agent's credentials; pass --job-user "
        "perfgate-job (tools/install-deps.sh creates that user)\"");
  }
  if (eo.attempt_cgroups) {
    // What the attempts of a previous life left running (a daemon out of its process group).
    if (auto n = RemoveLeftoverCgroups(AttemptCgroupPrefix(cfg_.work_dir)); n.ok() && *n > 0)
      spdlog::info("msg=\"removed attempt groups of a previous life\" groups={}", *n);
  } else {
    spdlog::warn(
        "msg=\"no control group per attempt (needs root and cgroups): a job process that "
        "leaves its process group survives teardown\"");
  }
  spdlog::info("msg=\"job sandbox\" user={} attempt_cgroups={}",
               eo.job_user ? eo.job_user->name : "agent's own", eo.attempt_cgroups);
  executor_ = std::make_unique<Executor>(eo, *stub_, ctx, *uploader_, *attempts_family_);
  SessionOptions so;
  so.name = cfg_.name;
  // Probed once (it makes and removes a namespace): for the label and the cleanup below.
  const bool can_make_hosts = NetnsHostsAvailable().ok();
  so.labels = DetectLabels(cfg_, can_make_hosts, host_pool_.get());
  so.version = kVersion;
  so.reconnect_min = cfg_.reconnect_min;
  so.reconnect_max = cfg_.reconnect_max;
  so.default_heartbeat = cfg_.default_heartbeat;
  session_ = std::make_unique<Session>(so, *stub_, ctx, *executor_, *uploader_, *connected_gauge_,
                                       *reconnects_);

  if (auto s = RecoverAttempts(cfg_.work_dir + "/attempts", HostsPrefix(cfg_.name), *uploader_);
      !s.ok())
    return s;
  // Test hosts its previous life left (agent/hosts/): namespaces, bridge, rules, cgroups and
  // what ran in them, removed before it takes work. One that will not go is logged; the next
  // topology has names of its own.
  if (can_make_hosts) {
    auto removed = RemoveLeftoverHosts(HostsPrefix(cfg_.name));
    if (!removed.ok()) {
      spdlog::warn("msg=\"test hosts of a previous life not all removed\" error=\"{}\"",
                   removed.status().message());
    } else if (*removed > 0) {
      spdlog::info("msg=\"removed test hosts of a previous life\" hosts={}", *removed);
    }
  }
  // And what it left on the pool's machines: their services killed, its directories removed.
  if (host_pool_) {
    const int removed = RemoveLeftoverSshHosts(*host_pool_, HostsPrefix(cfg_.name), kSshLocalDir);
    spdlog::info("msg=\"ssh host pool\" machines={} leftovers_removed={}",
                 host_pool_->hosts().size(), removed);
  }

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

void AgentImpl::RegisterMetrics() {
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
}

void AgentImpl::Run() {
  uploader_->Start();
  executor_thread_ = std::thread([this] { executor_->Run(); });
  session_thread_ = std::thread([this] { session_->Run(); });
  session_thread_.join();
  executor_->Stop();
  executor_thread_.join();
  // Give the uploader a moment to deliver the last completion.
  for (int i = 0; i < 50 && !uploader_->Idle(); ++i) usleep(100'000);
  uploader_->Stop();
}

void AgentImpl::Shutdown() {
  spdlog::info("msg=\"agent shutting down\"");
  executor_->Stop();
  session_->Stop();
}

AgentImpl::~AgentImpl() {
  if (lock_fd_ >= 0) close(lock_fd_);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Agent>> Agent::Create(const AgentConfig& cfg) {
  auto a = std::make_unique<AgentImpl>();
  if (auto s = a->Init(cfg); !s.ok()) return s;
  return a;
}

}  // namespace perfgate::agent
