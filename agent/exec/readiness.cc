#include "agent/exec/readiness.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/http/url.h"
#include "common/status/macros.h"

namespace perfgate::agent {
namespace {

std::string ProbeTcp(const std::string& hostport) {
  size_t colon = hostport.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(hostport.substr(colon + 1), &port))
    return "'" + hostport + "' is not host:port";
  std::string host = hostport.substr(0, colon);
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || !res)
    return "cannot resolve " + host;
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int rc = fd >= 0 ? connect(fd, res->ai_addr, res->ai_addrlen) : -1;
  std::string err = rc == 0 ? "" : std::string("connect ") + hostport + ": " + strerror(errno);
  if (fd >= 0) close(fd);
  freeaddrinfo(res);
  return err;
}

}  // namespace

absl::StatusOr<std::string> ProbeGet(const std::string& url, int want_status) {
  std::string host, path;
  int port = 0;
  if (!common::SplitHttpUrl(url, &host, &port, &path))
    return absl::UnavailableError("'" + url + "' is not an http:// URL");
  httplib::Client cli(host, port);
  cli.set_connection_timeout(1, 0);
  cli.set_read_timeout(2, 0);
  auto res = cli.Get(path.c_str());
  if (!res) return absl::UnavailableError("GET " + url + ": " + httplib::to_string(res.error()));
  if (res->status != want_status) {
    return absl::UnavailableError(
        absl::StrCat("GET ", url, ": status ", res->status, ", want ", want_status));
  }
  return std::move(res->body);
}

absl::Status WaitReady(const v1::ReadinessCheck& check, BenchContext& ctx,
                       const std::function<std::string()>& alive) {
  return WaitReadyAny(check, ctx, {ctx.vars}, alive);
}

absl::Status WaitReadyAny(const v1::ReadinessCheck& check, BenchContext& ctx,
                          std::vector<std::map<std::string, std::string>> instances,
                          const std::function<std::string()>& alive) {
  absl::Duration timeout = absl::Seconds(check.timeout_seconds());
  absl::Time deadline = ctx.clock.Now() + timeout;
  std::string what, last;
  // One probe with the instance's variables in ctx.vars (put back after).
  auto probe = [&](std::map<std::string, std::string>& vars) -> absl::StatusOr<std::string> {
    std::swap(ctx.vars, vars);
    absl::Cleanup restore = [&] { std::swap(ctx.vars, vars); };
    switch (check.check_case()) {
      case v1::ReadinessCheck::kTcp: {
        ASSIGN_OR_RETURN(std::string hp, ctx.Expand(check.tcp()));
        what = "tcp " + hp;
        return ProbeTcp(hp);
      }
      case v1::ReadinessCheck::kHttp: {
        ASSIGN_OR_RETURN(std::string url, ctx.Expand(check.http()));
        what = "http " + url;
        auto got = ProbeGet(url, static_cast<int>(check.http_status()));
        return got.ok() ? "" : std::string(got.status().message());
      }
      case v1::ReadinessCheck::kCommand: {
        ASSIGN_OR_RETURN(std::string cmd, ctx.Expand(check.command()));
        what = "command " + cmd;
        StepOptions o;
        o.spawn.argv = {"/bin/sh", "-c", cmd};
        o.spawn.working_dir = ctx.workdir;
        o.stream_output = false;
        o.timeout =
            std::max(absl::Seconds(1), std::min(absl::Seconds(30), deadline - ctx.clock.Now()));
        StepResult r = ctx.steps.Run(o);
        return r.ok() ? "" : DescribeFailure(cmd, r);
      }
      default:
        return std::string();  // no check: ready once started
    }
  };
  while (true) {
    if (ctx.cancel) return absl::CancelledError("cancelled");
    if (alive) {
      if (std::string dead = alive(); !dead.empty()) return absl::FailedPreconditionError(dead);
    }
    for (auto& vars : instances) {
      ASSIGN_OR_RETURN(last, probe(vars));
      if (last.empty()) return absl::OkStatus();
    }
    if (ctx.clock.Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("not ready after ", absl::FormatDuration(timeout), " (", what, "): ", last));
    }
    ctx.Sleep(absl::Milliseconds(100));
  }
}

}  // namespace perfgate::agent
