#include "agent/hosts/ssh_hosts.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/log/log.h"
#include "common/process/subprocess.h"
#include "common/spec/yaml_reader.h"
#include "common/status/macros.h"

namespace perfgate::agent {
namespace {

constexpr size_t kMaxPoolFileBytes = 64 * 1024;
constexpr size_t kMaxPoolHosts = 250;

// The pool file's reader: typed values, unknown keys refused, every error at its line.
class PoolReader : public common::YamlReader {
 public:
  using YamlReader::YamlReader;

  absl::StatusOr<std::vector<PoolHost>> Read(const YAML::Node& root) {
    RETURN_IF_ERROR(CheckKeys(root, "", {"hosts"}));
    if (!root["hosts"]) return Error(root, "hosts", "is required");
    const YAML::Node& list = root["hosts"];
    RETURN_IF_ERROR(List(list, "hosts", "a non-empty list of machines"));
    if (list.size() == 0) return Error(list, "hosts", "must list at least one machine");
    if (list.size() > kMaxPoolHosts)
      return Error(list, "hosts", absl::StrCat("at most ", kMaxPoolHosts, " machines"));
    std::vector<PoolHost> out;
    std::set<std::string> names;
    for (size_t i = 0; i < list.size(); ++i) {
      const YAML::Node& n = list[i];
      const std::string p = absl::StrCat("hosts[", i, "]");
      RETURN_IF_ERROR(CheckKeys(n, p,
                                {"name", "address", "port", "user", "key", "ssh_config",
                                 "known_hosts", "cpus", "memory", "labels"}));
      PoolHost h;
      for (const char* key : {"name", "address"})
        if (!n[key]) return Error(n, Join(p, key), "is required");
      ASSIGN_OR_RETURN(h.name, NonEmpty(n["name"], p + ".name"));
      bool ok = h.name.size() <= 64;
      for (char c : h.name)
        ok =
            ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.');
      if (!ok)
        return Error(n["name"], p + ".name", "letters, digits, '-', '_' and '.' (at most 64)");
      if (!names.insert(h.name).second)
        return Error(n["name"], p + ".name", "'" + h.name + "' is given twice");
      ASSIGN_OR_RETURN(h.address, NonEmpty(n["address"], p + ".address"));
      if (h.address[0] == '-' || h.address.find_first_of(" \t'\"\\") != std::string::npos)
        return Error(n["address"], p + ".address", "must be a host name or address");
      if (n["port"]) {
        ASSIGN_OR_RETURN(uint32_t port, Whole(n["port"], p + ".port", 1, 65535));
        h.port = static_cast<int>(port);
      }
      RETURN_IF_ERROR(OptStr(n, p, "user", &h.user));
      for (auto [key, field] : {std::pair{"key", &h.key},
                                {"ssh_config", &h.ssh_config},
                                {"known_hosts", &h.known_hosts}}) {
        RETURN_IF_ERROR(OptStr(n, p, key, field));
        if (!field->empty() && (*field)[0] != '/')
          return Error(n[key], Join(p, key), "must be an absolute path");
      }
      if (!h.key.empty() && access(h.key.c_str(), R_OK) != 0)
        return Error(n["key"], p + ".key", "'" + h.key + "' cannot be read");
      if (!h.ssh_config.empty() && access(h.ssh_config.c_str(), R_OK) != 0)
        return Error(n["ssh_config"], p + ".ssh_config", "'" + h.ssh_config + "' cannot be read");
      if (n["cpus"]) {
        ASSIGN_OR_RETURN(h.cpus, Number(n["cpus"], p + ".cpus", 0.01, 4096));
      }
      if (n["memory"]) {
        ASSIGN_OR_RETURN(h.memory_bytes, Bytes(n["memory"], p + ".memory"));
      }
      if (n["labels"]) {
        google::protobuf::Map<std::string, std::string> labels;
        RETURN_IF_ERROR(StrMap(n["labels"], p + ".labels", &labels));
        h.labels.insert(labels.begin(), labels.end());
      }
      out.push_back(std::move(h));
    }
    return out;
  }
};

// Every option but the control socket's: batch mode (never a prompt), bounded connects and a
// dead peer noticed within 15 s.
std::vector<std::string> BaseOptions(const PoolHost& h, const std::string& known_hosts) {
  // LogLevel=ERROR: no "Permanently added" warnings mixed into a command's output.
  std::vector<std::string> a = {
      "-o", "LogLevel=ERROR",        "-o", "BatchMode=yes",
      "-o", "ConnectTimeout=10",     "-o", "ServerAliveInterval=5",
      "-o", "ServerAliveCountMax=3", "-o", "StrictHostKeyChecking=accept-new"};
  const std::string& kh = h.known_hosts.empty() ? known_hosts : h.known_hosts;
  if (!kh.empty()) a.insert(a.end(), {"-o", "UserKnownHostsFile=" + kh});
  if (!h.ssh_config.empty()) a.insert(a.end(), {"-F", h.ssh_config});
  if (!h.key.empty()) a.insert(a.end(), {"-i", h.key, "-o", "IdentitiesOnly=yes"});
  if (h.port != 22) a.insert(a.end(), {"-p", std::to_string(h.port)});
  if (!h.user.empty()) a.insert(a.end(), {"-l", h.user});
  return a;
}

std::string DirOf(const std::string& prefix, const std::string& tag) {
  return "/tmp/perfgate-hosts/" + prefix + tag;
}

// Runs argv, capturing its output; FAILED_PRECONDITION naming `what` unless it exits 0.
absl::StatusOr<std::string> RunOk(const std::vector<std::string>& argv, const std::string& what) {
  common::SpawnOptions o;
  o.argv = argv;
  int code = 0;
  ASSIGN_OR_RETURN(std::string out, common::RunAndCapture(o, &code));
  if (code != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, ": exit code ", code, out.empty() ? "" : ": ", absl::StripAsciiWhitespace(out)));
  }
  return out;
}

}  // namespace

std::string ShellQuote(const std::string& s) {
  bool plain = !s.empty();
  for (char c : s)
    plain = plain && (std::isalnum(static_cast<unsigned char>(c)) ||
                      std::string_view("-_./=:,@%+").find(c) != std::string_view::npos);
  if (plain) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

absl::StatusOr<std::vector<PoolHost>> LoadHostPool(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return absl::InvalidArgumentError(path + ": " + ec.message());
  if (size > kMaxPoolFileBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", size, " bytes; a host pool file has at most ", kMaxPoolFileBytes));
  }
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  YAML::Node root;
  try {
    root = YAML::Load(text.str());
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ":", e.mark.line + 1, ":", e.mark.column + 1, ": ", e.msg));
  }
  PoolReader reader(path);
  auto hosts = reader.Read(root);
  if (!hosts.ok()) return absl::InvalidArgumentError(hosts.status().message());
  return hosts;
}

absl::StatusOr<std::vector<const PoolHost*>> HostPool::Acquire(
    const std::vector<std::pair<double, uint64_t>>& sizes) {
  absl::MutexLock l(&mu_);
  std::vector<const PoolHost*> out;
  std::vector<size_t> taken;
  for (const auto& [cpus, memory] : sizes) {
    size_t found = hosts_.size();
    for (size_t i = 0; i < hosts_.size() && found == hosts_.size(); ++i) {
      const PoolHost& h = hosts_[i];
      const bool fits =
          (h.cpus == 0 || h.cpus >= cpus) && (h.memory_bytes == 0 || h.memory_bytes >= memory);
      if (!busy_[i] && fits) found = i;
    }
    if (found == hosts_.size()) {
      for (size_t i : taken) busy_[i] = false;
      return absl::ResourceExhaustedError(absl::StrCat(
          "the host pool has no free machine for host ", out.size() + 1, " of ", sizes.size(), " (",
          cpus > 0 ? absl::StrCat(cpus, " cpus") : std::string("any cpus"), ", ",
          memory > 0 ? absl::StrCat(memory >> 20, " MiB") : std::string("any memory"),
          "): it lists ", hosts_.size(), " machine(s)"));
    }
    busy_[found] = true;
    taken.push_back(found);
    out.push_back(&hosts_[found]);
  }
  return out;
}

void HostPool::Release(const std::vector<const PoolHost*>& taken) {
  absl::MutexLock l(&mu_);
  for (const PoolHost* h : taken) busy_[h - hosts_.data()] = false;
}

std::vector<std::string> SshPrefix(const PoolHost& h, const std::string& known_hosts,
                                   const std::string& control_path) {
  std::vector<std::string> a = {"ssh"};
  for (auto& o : BaseOptions(h, known_hosts)) a.push_back(std::move(o));
  if (!control_path.empty())
    a.insert(a.end(), {"-o", "ControlMaster=no", "-o", "ControlPath=" + control_path});
  return a;
}

std::vector<std::string> SshArgv(const PoolHost& h, const std::string& known_hosts,
                                 const std::string& control_path, const std::string& command) {
  std::vector<std::string> a = SshPrefix(h, known_hosts, control_path);
  a.insert(a.end(), {h.address, "--", command});
  return a;
}

absl::StatusOr<std::unique_ptr<SshTopology>> SshTopology::Create(const std::string& prefix,
                                                                 const std::string& tag,
                                                                 const std::vector<Want>& want,
                                                                 HostPool& pool,
                                                                 const std::string& local_dir) {
  const absl::Time t0 = absl::Now();
  std::vector<std::pair<double, uint64_t>> sizes;
  for (const Want& w : want) sizes.emplace_back(w.cpus, w.memory_bytes);
  ASSIGN_OR_RETURN(std::vector<const PoolHost*> machines, pool.Acquire(sizes));
  std::unique_ptr<SshTopology> t(new SshTopology(pool));
  t->taken_ = machines;
  t->remote_dir_ = DirOf(prefix, tag);
  std::error_code ec;
  std::filesystem::create_directories(local_dir, ec);
  if (ec) return absl::FailedPreconditionError(local_dir + ": " + ec.message());
  // One master connection per host, in parallel: each a child of ours (ssh -N), whose socket
  // carries every later command.
  struct Master {
    pid_t pid = 0;
    std::string log;
  };
  std::vector<Master> masters(want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    Host h{want[i].name,
           want[i].role,
           want[i].index,
           machines[i],
           machines[i]->address,
           absl::StrCat(local_dir, "/", i, ".sock"),
           t->remote_dir_ + "/" + want[i].name};
    std::filesystem::remove(h.control_path, ec);
    common::SpawnOptions o;
    o.argv = SshPrefix(*h.machine, pool.known_hosts(), "");
    o.argv.insert(o.argv.end(), {"-N", "-o", "ControlMaster=yes", "-o",
                                 "ControlPath=" + h.control_path, h.machine->address});
    masters[i].log = absl::StrCat(local_dir, "/", i, ".ssh.log");
    FILE* f = fopen(masters[i].log.c_str(), "we");
    if (f) o.stdout_fd = o.stderr_fd = fileno(f);
    auto pid = common::Spawn(o);
    if (f) fclose(f);
    t->hosts_.push_back(std::move(h));
    if (!pid.ok()) {
      t->Teardown().IgnoreError();
      return absl::FailedPreconditionError("host " + want[i].name + ": " +
                                           std::string(pid.status().message()));
    }
    masters[i].pid = *pid;
    t->masters_.push_back(*pid);
  }
  // Each is up once its socket is there; a master that exits first failed (its words say why).
  for (size_t i = 0; i < t->hosts_.size(); ++i) {
    const Host& h = t->hosts_[i];
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    struct stat st;
    while (stat(h.control_path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) {
      auto gone = common::WaitFor(masters[i].pid, absl::ZeroDuration());
      if (gone.ok() || absl::Now() > deadline) {
        if (gone.ok()) t->masters_[i] = 0;
        std::ifstream in(masters[i].log);
        std::string words((std::istreambuf_iterator<char>(in)), {});
        t->Teardown().IgnoreError();
        return absl::FailedPreconditionError(
            absl::StrCat("host ", h.name, " (", h.machine->name, ", ", h.machine->address,
                         "): ssh could not connect", gone.ok() ? "" : " within 20 s",
                         words.empty() ? "" : ": ", absl::StripAsciiWhitespace(words)));
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
  }
  for (Host& h : t->hosts_) {
    auto out = t->Run(
        h, absl::StrCat("mkdir -p ", h.dir, "/pids && getconf PAGESIZE && ", "getconf CLK_TCK"));
    if (!out.ok()) {
      t->Teardown().IgnoreError();
      return out.status();
    }
    std::vector<std::string> lines = absl::StrSplit(*out, '\n', absl::SkipWhitespace());
    if (lines.size() >= 2) {
      (void)absl::SimpleAtoi(lines[0], &h.page_size);
      (void)absl::SimpleAtoi(lines[1], &h.clock_ticks);
    }
  }
  t->setup_time_ = absl::Now() - t0;
  return t;
}

SshTopology::~SshTopology() { Teardown().IgnoreError(); }

const SshTopology::Host* SshTopology::Find(const std::string& name) const {
  for (const auto& h : hosts_)
    if (h.name == name) return &h;
  return nullptr;
}

std::vector<std::string> SshTopology::Argv(const Host& h, const std::string& command) const {
  return SshArgv(*h.machine, pool_.known_hosts(), h.control_path, command);
}

absl::StatusOr<std::string> SshTopology::Run(const Host& h, const std::string& command) const {
  return RunOk(Argv(h, command), "host " + h.name + " (" + h.machine->name + ")");
}

absl::Status SshTopology::CopyToAll(const std::string& local, const std::string& under,
                                    const std::atomic<bool>* cancel) const {
  // rsync's remote shell: each host's ssh over its master connection; all hosts at once.
  std::vector<std::pair<pid_t, std::string>> running;  // rsync, its output file
  absl::Status first;
  for (size_t i = 0; i < hosts_.size(); ++i) {
    const Host& h = hosts_[i];
    std::vector<std::string> quoted;
    for (const auto& a : SshPrefix(*h.machine, pool_.known_hosts(), h.control_path))
      quoted.push_back(ShellQuote(a));
    common::SpawnOptions o;
    o.argv = {"rsync",
              "-a",
              "--delete",
              "-e",
              absl::StrJoin(quoted, " "),
              local + "/",
              absl::StrCat(h.machine->address, ":", h.dir, "/", under, "/")};
    const std::string log = absl::StrCat(h.control_path, ".rsync.log");
    FILE* f = fopen(log.c_str(), "we");
    if (f) o.stdout_fd = o.stderr_fd = fileno(f);
    auto pid = common::Spawn(o);
    if (f) fclose(f);
    if (!pid.ok()) {
      if (first.ok()) first = pid.status();
      continue;
    }
    running.emplace_back(*pid, log);
  }
  // Waited for in turn, each up to 30 minutes, watching for a cancel.
  bool cancelled = false;
  for (size_t i = 0; i < running.size(); ++i) {
    absl::StatusOr<int> w = absl::DeadlineExceededError("");
    const absl::Time give_up = absl::Now() + absl::Minutes(30);
    while (absl::IsDeadlineExceeded(w.status()) && absl::Now() < give_up) {
      if (!cancelled && cancel && cancel->load()) {
        cancelled = true;
        for (const auto& [pid, log] : running) kill(pid, SIGTERM);
      }
      w = common::WaitFor(running[i].first, absl::Milliseconds(100));
    }
    if (absl::IsDeadlineExceeded(w.status())) {
      kill(running[i].first, SIGKILL);
      common::WaitFor(running[i].first, absl::Seconds(5)).IgnoreError();
    }
    if (cancelled) continue;
    const int code = w.ok() ? common::ExitCodeFromWaitStatus(*w) : -1;
    if (code == 0 || !first.ok()) continue;
    std::ifstream in(running[i].second);
    std::string words((std::istreambuf_iterator<char>(in)), {});
    first = absl::FailedPreconditionError(absl::StrCat(
        "copying the build to host ", hosts_[i].name, " (rsync): ",
        code < 0 ? std::string("did not finish within 30 min") : absl::StrCat("exit code ", code),
        words.empty() ? "" : ": ", absl::StripAsciiWhitespace(words)));
  }
  if (cancelled) return absl::CancelledError("cancelled while copying the build");
  return first;
}

std::string SshTopology::LaunchCommand(const Host& h, const std::string& id, const std::string& dir,
                                       const std::map<std::string, std::string>& env,
                                       const std::vector<std::string>& argv) const {
  std::vector<std::string> words = {"exec", "env"};
  for (const auto& [k, v] : env) words.push_back(ShellQuote(k + "=" + v));
  for (const auto& a : argv) words.push_back(ShellQuote(a));
  return absl::StrCat("mkdir -p ", ShellQuote(dir), " && cd ", ShellQuote(dir), " && echo $$ > ",
                      ShellQuote(h.dir + "/pids/" + id), " && ", absl::StrJoin(words, " "));
}

absl::StatusOr<pid_t> SshTopology::LaunchedPid(const Host& h, const std::string& id,
                                               absl::Duration timeout) const {
  const std::string file = ShellQuote(h.dir + "/pids/" + id);
  const int64_t tries = std::max<int64_t>(1, absl::ToInt64Milliseconds(timeout) / 50);
  // One round trip that waits on the host.
  ASSIGN_OR_RETURN(std::string out,
                   Run(h, absl::StrCat("i=0; while [ ! -s ", file, " ] && [ $i -lt ", tries,
                                       " ]; do sleep 0.05; i=$((i+1)); done; cat ", file)));
  pid_t pid = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(out), &pid) || pid <= 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "host ", h.name, ": ", id, " did not start within ", absl::FormatDuration(timeout)));
  }
  return pid;
}

absl::Status SshTopology::Signal(const Host& h, pid_t pid, const std::string& signal) const {
  return Run(h, absl::StrCat("kill -s ", signal, " -- -", pid)).status();
}

absl::StatusOr<std::string> SshTopology::ReadProcStat(const Host& h) const {
  return Run(h, "cat /proc/[0-9]*/stat 2>/dev/null; true");
}

namespace {

// A shell command line that kills the process group of every pid file of the hosts' directories
// in each of `dirs` (a glob) and removes the directories, printing each one removed.
std::string CleanupCommand(const std::string& dirs) {
  return absl::StrCat("for d in ", dirs,
                      "; do [ -d \"$d\" ] || continue; for f in \"$d\"/*/pids/*; do [ -s \"$f\" ] "
                      "&& kill -s KILL -- -$(cat \"$f\") 2>/dev/null; done; rm -rf \"$d\"; "
                      "echo \"$d\"; done; true");
}

}  // namespace

absl::Status SshTopology::Teardown() {
  if (torn_down_) return absl::OkStatus();
  torn_down_ = true;
  absl::Status first;
  for (size_t i = 0; i < hosts_.size(); ++i) {
    if (i < masters_.size() && masters_[i] > 0) {
      auto out = Run(hosts_[i], CleanupCommand(remote_dir_));  // the hosts may share a disk
      if (!out.ok() && first.ok()) first = out.status();
    }
  }
  for (size_t i = 0; i < masters_.size(); ++i) {
    if (masters_[i] <= 0) continue;
    kill(masters_[i], SIGTERM);
    if (!common::WaitFor(masters_[i], absl::Seconds(5)).ok()) {
      kill(masters_[i], SIGKILL);
      common::WaitFor(masters_[i], absl::Seconds(5)).IgnoreError();
    }
    std::error_code ec;
    std::filesystem::remove(hosts_[i].control_path, ec);
  }
  masters_.clear();
  pool_.Release(taken_);
  taken_.clear();
  return first;
}

int RemoveLeftoverSshHosts(HostPool& pool, const std::string& prefix,
                           const std::string& local_dir) {
  // Master connections of the earlier life: told to exit over their own sockets.
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(local_dir, ec)) {
    if (e.path().filename().string().rfind(prefix, 0) != 0) continue;
    for (const auto& s : std::filesystem::directory_iterator(e.path(), ec)) {
      if (s.path().extension() != ".sock") continue;
      common::SpawnOptions o;
      o.argv = {"ssh", "-o", "ControlPath=" + s.path().string(), "-O", "exit", "leftover"};
      int code = 0;
      common::RunAndCapture(o, &code).IgnoreError();
    }
    std::filesystem::remove_all(e.path(), ec);
  }
  // Every machine at once, 16 at a time: an unreachable one costs its connect timeout (10 s)
  // once, not once per machine after it.
  std::atomic<int> removed{0};
  const std::vector<PoolHost>& machines = pool.hosts();
  constexpr size_t kAtOnce = 16;
  for (size_t first = 0; first < machines.size(); first += kAtOnce) {
    std::vector<std::thread> batch;
    for (size_t i = first; i < std::min(machines.size(), first + kAtOnce); ++i) {
      batch.emplace_back([&, i] {
        const PoolHost& h = machines[i];
        auto out = RunOk(SshArgv(h, pool.known_hosts(), "", CleanupCommand(DirOf(prefix, "*"))),
                         "host pool machine " + h.name);
        if (!out.ok()) {
          spdlog::warn("msg=\"cannot clean a host pool machine\" host={} error=\"{}\"", h.name,
                       out.status().message());
          return;
        }
        for (absl::string_view line : absl::StrSplit(*out, '\n', absl::SkipWhitespace()))
          removed += absl::StartsWith(line, "/tmp/perfgate-hosts/");
      });
    }
    for (auto& t : batch) t.join();
  }
  return removed;
}

}  // namespace perfgate::agent
