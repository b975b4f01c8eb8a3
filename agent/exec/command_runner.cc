#include "agent/exec/command_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/log/log.h"
#include "common/process/subprocess.h"

namespace perfgate::agent {
namespace {

constexpr size_t kMaxChunk = 64 * 1024;
constexpr absl::Duration kFlushEvery = absl::Milliseconds(100);

// Output of one stream, cut into chunks at line boundaries where possible.
struct StreamBuffer {
  v1::LogStream stream;
  int fd = -1;
  std::string pending;
  absl::Time first_byte = absl::InfiniteFuture();
};

}  // namespace

void CommandRunner::Emit(v1::LogStream stream, const std::string& data) {
  if (data.empty()) return;
  if (auto s = journal_.AppendLog(stream, data); !s.ok()) {
    spdlog::error("msg=\"cannot spool log chunk\" attempt={} error=\"{}\"", journal_.attempt_id(),
                  s.status().message());
  }
}

void CommandRunner::Cancel(const std::string& reason) {
  {
    absl::MutexLock lock(&mu_);
    if (cancel_reason_.empty()) cancel_reason_ = reason;
  }
  cancel_ = true;
}

RunOutcome CommandRunner::Run(const v1::CommandJob& job) {
  std::string workdir = job.working_dir().empty() ? default_workdir_ : job.working_dir();
  std::error_code ec;
  std::filesystem::create_directories(workdir, ec);
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    return {v1::ATTEMPT_OUTCOME_INFRA_FAILURE, 0, std::string("pipe: ") + strerror(errno)};
  }
  common::SpawnOptions opts;
  opts.argv = {"/bin/sh", "-c", job.command()};
  opts.env_add.insert(job.env().begin(), job.env().end());
  const v1::Assign& a = journal_.assign();
  opts.env_add["PERFGATE_RUN_ID"] = std::to_string(a.run_id());
  opts.env_add["PERFGATE_JOB_ID"] = std::to_string(a.job_id());
  opts.env_add["PERFGATE_ATTEMPT_ID"] = std::to_string(a.attempt_id());
  opts.env_add["PERFGATE_COMMIT"] = a.commit();
  opts.working_dir = workdir;
  opts.stdout_fd = out_pipe[1];
  opts.stderr_fd = err_pipe[1];
  Emit(v1::LOG_STREAM_AGENT, absl::StrCat("perfgate-agent: attempt ", a.attempt_id(),
                                          " starting: ", job.command(), "\n"));
  auto pid = common::Spawn(opts);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (!pid.ok()) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    return {v1::ATTEMPT_OUTCOME_INFRA_FAILURE, 0, std::string(pid.status().message())};
  }
  if (auto start = common::ProcessStartTicks(*pid); start.ok()) {
    if (auto s = journal_.SetProcess({*pid, *start}); !s.ok()) {
      spdlog::error("msg=\"cannot journal process\" error=\"{}\"", s.message());
    }
  }
  StreamBuffer bufs[2] = {{v1::LOG_STREAM_STDOUT, out_pipe[0]},
                          {v1::LOG_STREAM_STDERR, err_pipe[0]}};
  for (auto& b : bufs) fcntl(b.fd, F_SETFL, O_NONBLOCK);
  const absl::Time started = absl::Now();
  const absl::Time deadline =
      started + absl::Seconds(job.timeout_seconds() ? job.timeout_seconds() : 3600);
  const absl::Duration grace =
      absl::Seconds(job.cancel_grace_seconds() ? job.cancel_grace_seconds() : 30);
  absl::Time kill_at = absl::InfiniteFuture();
  bool exited = false, timed_out = false, cancelled = false, stopping = false;
  int wait_status = 0;
  absl::Time leader_exit_at = absl::InfiniteFuture();

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
      Emit(b.stream, b.pending.substr(0, cut));
      b.pending.erase(0, cut);
    }
    b.first_byte = absl::InfiniteFuture();
  };

  while (bufs[0].fd >= 0 || bufs[1].fd >= 0 || !exited) {
    absl::Time now = absl::Now();
    if (!stopping && (cancel_ || now >= deadline)) {
      stopping = true;
      cancelled = cancel_;
      timed_out = !cancelled;
      Emit(v1::LOG_STREAM_AGENT,
           timed_out ? absl::StrCat("perfgate-agent: timed out after ", job.timeout_seconds(),
                                    "s; sending SIGTERM to the process group\n")
                     : "perfgate-agent: cancelled; sending SIGTERM to the process group\n");
      common::SignalGroup(*pid, SIGTERM).IgnoreError();
      kill_at = now + grace;
    }
    if (now >= kill_at) {
      common::SignalGroup(*pid, SIGKILL).IgnoreError();
      kill_at = absl::InfiniteFuture();
    }
    // The shell is gone but its group still holds the pipes: stop the stragglers.
    if (exited && !stopping && now >= leader_exit_at + absl::Milliseconds(200)) {
      stopping = true;
      common::SignalGroup(*pid, SIGTERM).IgnoreError();
      kill_at = now + std::min(grace, absl::Seconds(5));
    }
    struct pollfd pfds[2];
    int n = 0;
    for (auto& b : bufs) {
      if (b.fd >= 0) pfds[n++] = {b.fd, POLLIN, 0};
    }
    if (n > 0) {
      poll(pfds, n, exited ? 50 : 20);
    } else {
      usleep(20'000);
    }
    for (auto& b : bufs) {
      if (b.fd < 0) continue;
      char buf[65536];
      ssize_t r = read(b.fd, buf, sizeof buf);
      if (r > 0) {
        if (b.pending.empty()) b.first_byte = absl::Now();
        b.pending.append(buf, r);
        flush(b, false);
      } else if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        flush(b, true);
        close(b.fd);
        b.fd = -1;
      }
      if (!b.pending.empty() && absl::Now() - b.first_byte >= kFlushEvery) flush(b, true);
    }
    if (!exited) {
      pid_t w = waitpid(*pid, &wait_status, WNOHANG);
      if (w == *pid) {
        exited = true;
        leader_exit_at = absl::Now();
      }
    }
  }
  // Nothing of the group may survive the attempt.
  if (common::GroupAlive(*pid)) common::SignalGroup(*pid, SIGKILL).IgnoreError();

  int code = common::ExitCodeFromWaitStatus(wait_status);
  RunOutcome out;
  out.exit_code = code;
  double secs = absl::ToDoubleSeconds(absl::Now() - started);
  if (cancelled) {
    absl::MutexLock lock(&mu_);
    out.outcome = v1::ATTEMPT_OUTCOME_CANCELLED;
    out.message = cancel_reason_.empty() ? "cancelled" : cancel_reason_;
  } else if (timed_out) {
    out.outcome = v1::ATTEMPT_OUTCOME_FAILED;
    out.message = absl::StrCat("timed out after ", job.timeout_seconds(), "s");
  } else if (code == 0) {
    out.outcome = v1::ATTEMPT_OUTCOME_SUCCEEDED;
  } else {
    out.outcome = v1::ATTEMPT_OUTCOME_FAILED;
    out.message =
        code == 127 ? "exit code 127 (command not found?)" : absl::StrCat("exit code ", code);
  }
  Emit(v1::LOG_STREAM_AGENT, absl::StrCat("perfgate-agent: attempt ", a.attempt_id(), " ended: ",
                                          v1::AttemptOutcome_Name(out.outcome), " exit_code=", code,
                                          absl::StrFormat(" after %.3fs\n", secs)));
  return out;
}

}  // namespace perfgate::agent
