#include "common/process/subprocess.h"

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

extern char** environ;

namespace perfgate::common {

absl::StatusOr<pid_t> Spawn(const SpawnOptions& opts) {
  if (opts.argv.empty()) return absl::InvalidArgumentError("Spawn: empty argv");
  // Build everything the child needs before fork: only async-signal-safe calls after it.
  std::vector<std::string> env_strings;
  std::map<std::string, std::string> env;
  for (char** e = environ; opts.inherit_env && *e; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string_view::npos)
      env[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
  }
  for (const auto& [k, v] : opts.env_add) env[k] = v;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = opts.argv;
  std::vector<char*> argv;
  for (auto& s : argv_copy) argv.push_back(s.data());
  argv.push_back(nullptr);

  int netns_fd = -1;
  if (!opts.netns.empty()) {
    netns_fd = open(opts.netns.c_str(), O_RDONLY | O_CLOEXEC);
    if (netns_fd < 0)
      return absl::InternalError("open " + opts.netns + ": " + std::string(strerror(errno)));
  }
  // Placed on a test host: the parent waits until the child has joined its cgroup and
  // namespaces (the pipe closes when the child closes its inherited descriptors, just before
  // exec), so that the pid it returns is already inside, and a child that could not get in is
  // reported as an error rather than an exit status.
  const bool placed = !opts.cgroup_procs.empty() || netns_fd >= 0 || !opts.hostname.empty();
  int setup[2] = {-1, -1};
  if (placed && pipe2(setup, O_CLOEXEC) != 0) {
    if (netns_fd >= 0) close(netns_fd);
    return absl::InternalError(std::string("pipe: ") + strerror(errno));
  }
  pid_t pid = fork();
  if (pid < 0) {
    if (netns_fd >= 0) close(netns_fd);
    if (placed) {
      close(setup[0]);
      close(setup[1]);
    }
    return absl::InternalError(std::string("fork: ") + strerror(errno));
  }
  if (pid == 0) {
    if (opts.new_process_group) setpgid(0, 0);
    // Only system calls from here to exec: the parent may have had other threads. A failure
    // is told to the parent as {step, errno}.
    auto fail = [&](int step) {
      const int report[2] = {step, errno};
      (void)!write(setup[1], report, sizeof report);
      _exit(125);
    };
    if (!opts.cgroup_procs.empty()) {
      char digits[24];
      int n = 0;
      for (pid_t self = getpid(); self > 0; self /= 10)
        digits[n++] = static_cast<char>('0' + self % 10);
      char pid_text[24];
      for (int i = 0; i < n; ++i) pid_text[i] = digits[n - 1 - i];
      for (const std::string& procs : opts.cgroup_procs) {
        int fd = open(procs.c_str(), O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, pid_text, n) != n) fail(1);
        close(fd);
      }
    }
    if (netns_fd >= 0 && setns(netns_fd, CLONE_NEWNET) != 0) fail(2);
    if (!opts.hostname.empty() && (unshare(CLONE_NEWUTS) != 0 ||
                                   sethostname(opts.hostname.data(), opts.hostname.size()) != 0))
      fail(3);
    int devnull = open("/dev/null", O_RDWR);
    dup2(opts.stdin_fd >= 0 ? opts.stdin_fd : devnull, 0);
    if (opts.stdout_fd >= 0) dup2(opts.stdout_fd, 1);
    if (opts.stderr_fd >= 0) dup2(opts.stderr_fd, 2);
    // Close everything else the parent had open (sockets, pipes of other jobs).
    for (int fd = 3; fd < 1024; ++fd) close(fd);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    // The supplementary groups too: root's would otherwise stay with the new user.
    if (opts.gid && (setgroups(1, &*opts.gid) != 0 || setgid(*opts.gid) != 0)) _exit(126);
    if (opts.uid && setuid(*opts.uid) != 0) _exit(126);
    if (!opts.working_dir.empty() && chdir(opts.working_dir.c_str()) != 0) _exit(126);
    execvpe(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  if (netns_fd >= 0) close(netns_fd);
  if (opts.new_process_group) setpgid(pid, pid);  // no race with the child's own call
  if (placed) {
    close(setup[1]);
    int report[2] = {0, 0};
    ssize_t got;
    while ((got = read(setup[0], report, sizeof report)) < 0 && errno == EINTR) {
    }
    close(setup[0]);
    if (got == static_cast<ssize_t>(sizeof report)) {
      int status = 0;
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      const std::string step = report[0] == 1   ? "joining its cgroup"
                               : report[0] == 2 ? "entering network namespace " + opts.netns
                                                : "setting its hostname " + opts.hostname;
      return absl::InternalError(opts.argv[0] + ": " + step + ": " + strerror(report[1]));
    }
  }
  return pid;
}

absl::Status SignalGroup(pid_t pgid, int sig) {
  if (pgid <= 1) return absl::InvalidArgumentError("SignalGroup: refusing pgid <= 1");
  if (kill(-pgid, sig) != 0 && errno != ESRCH) {
    return absl::InternalError("kill(-" + std::to_string(pgid) + "): " + strerror(errno));
  }
  return absl::OkStatus();
}

bool GroupAlive(pid_t pgid) { return pgid > 1 && (kill(-pgid, 0) == 0 || errno == EPERM); }

absl::StatusOr<uint64_t> ProcessStartTicks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!in || !std::getline(in, line))
    return absl::NotFoundError("no process " + std::to_string(pid));
  // The command name (field 2) may contain spaces: fields restart after the last ')'.
  auto rp = line.rfind(')');
  if (rp == std::string::npos) return absl::InternalError("malformed /proc stat");
  std::vector<absl::string_view> f = absl::StrSplit(absl::string_view(line).substr(rp + 2), ' ');
  // f[0] is field 3 (state); field 22 (starttime) is f[19].
  uint64_t ticks = 0;
  if (f.size() < 20 || !absl::SimpleAtoi(f[19], &ticks))
    return absl::InternalError("malformed /proc stat");
  return ticks;
}

int ExitCodeFromWaitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

absl::StatusOr<int> WaitFor(pid_t pid, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  absl::Duration step = absl::Milliseconds(1);
  while (true) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR)
      return absl::InternalError(std::string("waitpid: ") + strerror(errno));
    if (absl::Now() >= deadline)
      return absl::DeadlineExceededError("process " + std::to_string(pid) + " still running");
    std::this_thread::sleep_for(absl::ToChronoNanoseconds(step));
    step = std::min(step * 2, absl::Milliseconds(50));
  }
}

absl::StatusOr<std::string> RunAndCapture(const SpawnOptions& opts, int* exit_code) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    return absl::InternalError(std::string("pipe: ") + strerror(errno));
  SpawnOptions o = opts;
  o.stdout_fd = fds[1];
  o.stderr_fd = fds[1];
  auto pid = Spawn(o);
  close(fds[1]);
  if (!pid.ok()) {
    close(fds[0]);
    return pid.status();
  }
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0 && out.size() < (1u << 20)) out.append(buf, n);
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(*pid, &status, 0) < 0 && errno == EINTR) {
  }
  *exit_code = ExitCodeFromWaitStatus(status);
  return out;
}

std::string FindProgram(const std::string& name) {
  if (name.empty()) return "";
  if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    std::string full = (dir.empty() ? "." : dir) + "/" + name;
    if (access(full.c_str(), X_OK) == 0) return full;
    start = end + 1;
  }
  return "";
}

}  // namespace perfgate::common
