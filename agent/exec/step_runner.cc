#include "agent/exec/step_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/log/log.h"

namespace perfgate::agent {
namespace {

constexpr size_t kMaxChunk = 64 * 1024;
constexpr absl::Duration kFlushEvery = absl::Milliseconds(100);
// How long the loop may sleep when nothing is due: how soon it sees a cancel (an atomic flag,
// nothing to poll) and a moved fake clock. Without a pidfd the child's exit is found by
// polling waitpid this often instead.
constexpr int kIdleWakeMs = 100;
constexpr int kWaitpidPollMs = 20;

// Output of one stream, cut into chunks at line boundaries where possible.
struct StreamBuffer {
  v1::LogStream stream;
  int fd = -1;
  std::string pending;
  absl::Time first_byte = absl::InfiniteFuture();
};

}  // namespace

void StepRunner::Emit(v1::LogStream stream, const std::string& data) {
  if (data.empty()) return;
  if (auto s = journal_.AppendLog(stream, data); !s.ok()) {
    spdlog::error("msg=\"cannot spool log chunk\" attempt={} error=\"{}\"", journal_.attempt_id(),
                  s.status().message());
  }
}

StepResult StepRunner::Run(const StepOptions& o) {
  StepResult res;
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    res.spawn_error = std::string("pipe: ") + strerror(errno);
    return res;
  }
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    res.spawn_error = std::string("pipe: ") + strerror(errno);
    close(out_pipe[0]);
    close(out_pipe[1]);
    return res;
  }
  common::SpawnOptions spawn = o.spawn;
  if (sandbox_ && !o.agent_tool) sandbox_->Apply(&spawn);
  spawn.new_process_group = true;
  spawn.stdout_fd = out_pipe[1];
  spawn.stderr_fd = err_pipe[1];
  auto pid = common::Spawn(spawn);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (!pid.ok()) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    res.spawn_error = std::string(pid.status().message());
    return res;
  }
  if (auto start = common::ProcessStartTicks(*pid); start.ok()) {
    if (auto s = journal_.AddProcess({*pid, *start}); !s.ok()) {
      spdlog::error("msg=\"cannot journal process\" error=\"{}\"", s.message());
    }
  }
  StreamBuffer bufs[2] = {{v1::LOG_STREAM_STDOUT, out_pipe[0]},
                          {v1::LOG_STREAM_STDERR, err_pipe[0]}};
  for (auto& b : bufs) fcntl(b.fd, F_SETFL, O_NONBLOCK);
  const absl::Time started = clock_.Now();
  const absl::Time deadline = started + o.timeout;
  absl::Time kill_at = absl::InfiniteFuture();
  bool exited = false, stopping = false;
  int wait_status = 0;
  absl::Time leader_exit_at = absl::InfiniteFuture();
  // The child's exit wakes the poll below (Linux 5.3+); a command that runs for minutes costs
  // a wake-up every kIdleWakeMs, not every kWaitpidPollMs.
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, *pid, 0));

  auto flush = [&](StreamBuffer& b, bool all) {
    while (!b.pending.empty()) {
      size_t cut = b.pending.size();
      if (!all) {
        size_t nl = b.pending.rfind('\n', kMaxChunk - 1);
        if (nl != std::string::npos) {
          cut = nl + 1;
        } else if (b.pending.size() < kMaxChunk) {
          return;  // wait for the line to complete (or the timer)
        }
      }
      cut = std::min(cut, kMaxChunk);
      if (o.stream_output) Emit(b.stream, b.pending.substr(0, cut));
      b.pending.erase(0, cut);
    }
    b.first_byte = absl::InfiniteFuture();
  };

  while (bufs[0].fd >= 0 || bufs[1].fd >= 0 || !exited) {
    absl::Time now = clock_.Now();
    if (!stopping && (cancel_ || now >= deadline)) {
      stopping = true;
      res.cancelled = cancel_;
      res.timed_out = !res.cancelled;
      Note(res.timed_out ? "timed out after " + absl::FormatDuration(o.timeout) +
                               "; sending SIGTERM to the process group"
                         : "cancelled; sending SIGTERM to the process group");
      common::SignalGroup(*pid, SIGTERM).IgnoreError();
      kill_at = now + o.grace;
    }
    if (now >= kill_at) {
      common::SignalGroup(*pid, SIGKILL).IgnoreError();
      kill_at = absl::InfiniteFuture();
    }
    // The leader is gone but its group still holds the pipes: stop the stragglers.
    if (exited && !stopping && now >= leader_exit_at + absl::Milliseconds(200)) {
      stopping = true;
      common::SignalGroup(*pid, SIGTERM).IgnoreError();
      kill_at = now + std::min(o.grace, absl::Seconds(5));
    }
    // Sleep until output, the child's exit, or the next thing due: a deadline, a kill, a flush.
    absl::Time due = now + absl::Milliseconds(kIdleWakeMs);
    if (!stopping)
      due = std::min(due, exited ? leader_exit_at + absl::Milliseconds(200) : deadline);
    due = std::min(due, kill_at);
    for (const auto& b : bufs)
      if (!b.pending.empty()) due = std::min(due, b.first_byte + kFlushEvery);
    int wait_ms = static_cast<int>(std::clamp<int64_t>(
        absl::ToInt64Milliseconds(absl::Ceil(due - now, absl::Milliseconds(1))), 0, kIdleWakeMs));
    if (exited) wait_ms = std::min(wait_ms, 50);
    if (!exited && pidfd < 0) wait_ms = std::min(wait_ms, kWaitpidPollMs);
    struct pollfd pfds[3];
    int n = 0;
    for (auto& b : bufs) {
      if (b.fd >= 0) pfds[n++] = {b.fd, POLLIN, 0};
    }
    if (!exited && pidfd >= 0) pfds[n++] = {pidfd, POLLIN, 0};
    if (n > 0) {
      poll(pfds, n, wait_ms);
    } else {
      usleep(wait_ms * 1000);
    }
    for (auto& b : bufs) {
      if (b.fd < 0) continue;
      char buf[65536];
      ssize_t r = read(b.fd, buf, sizeof buf);
      if (r > 0) {
        if (b.stream == v1::LOG_STREAM_STDOUT && res.stdout_text.size() < o.capture_stdout) {
          res.stdout_text.append(buf,
                                 std::min<size_t>(r, o.capture_stdout - res.stdout_text.size()));
        }
        if (b.pending.empty()) b.first_byte = clock_.Now();
        b.pending.append(buf, r);
        flush(b, false);
      } else if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        flush(b, true);
        close(b.fd);
        b.fd = -1;
      }
      if (!b.pending.empty() && clock_.Now() - b.first_byte >= kFlushEvery) flush(b, true);
    }
    if (!exited) {
      pid_t w = waitpid(*pid, &wait_status, WNOHANG);
      if (w == *pid) {
        exited = true;
        leader_exit_at = clock_.Now();
      }
    }
  }
  if (pidfd >= 0) close(pidfd);
  // Nothing of the group may survive the step.
  if (common::GroupAlive(*pid)) common::SignalGroup(*pid, SIGKILL).IgnoreError();
  journal_.RemoveProcess(*pid).IgnoreError();
  res.exit_code = common::ExitCodeFromWaitStatus(wait_status);
  res.elapsed = clock_.Now() - started;
  return res;
}

}  // namespace perfgate::agent
