#include "tools/cli/command.h"

#include <iostream>
#include <thread>

#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/json/proto_json.h"
#include "tools/cli/render.h"

namespace perfgate::cli {

Client::Client(const Globals& g) : g_(g) {
  // Reconnect within a second of a controller coming back (gRPC's default backoff grows to
  // minutes), so that a retried call finds it.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  stub_ = v1::Controller::NewStub(grpc::CreateCustomChannel(
      g.controller, g.credentials ? g.credentials : grpc::InsecureChannelCredentials(), args));
}

std::unique_ptr<grpc::ClientContext> Client::Ctx(absl::Duration timeout) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!g_.token.empty()) ctx->AddMetadata("authorization", "Bearer " + g_.token);
  if (timeout != absl::InfiniteDuration()) {
    ctx->set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(timeout));
  }
  return ctx;
}

const Action* Commands::Parsed(bool* needs_client) const {
  for (const Entry& e : actions_) {
    if (!e.sub->parsed()) continue;
    *needs_client = e.needs_client;
    return &e.action;
  }
  return nullptr;
}

namespace {
// A TLS mismatch also answers UNAVAILABLE; retrying it cannot help.
bool HandshakeFailure(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::UNAVAILABLE &&
         (absl::StrContains(s.error_message(), "Socket closed") ||
          absl::StrContains(s.error_message(), "handshake") ||
          absl::StrContains(s.error_message(), "SSL"));
}
}  // namespace

std::string NewRequestId() {
  absl::BitGen gen;
  return absl::StrCat("cli-", absl::Hex(absl::Uniform<uint64_t>(gen), absl::kZeroPad16),
                      absl::Hex(absl::Uniform<uint64_t>(gen), absl::kZeroPad16));
}

grpc::Status CallWithRetries(const std::string& what,
                             const std::function<grpc::Status(grpc::ClientContext*)>& call,
                             const Client& c) {
  absl::Duration wait = absl::Milliseconds(500);
  bool first_closed = false;
  for (int attempt = 0;; ++attempt) {
    // A retry waits up to 5 s for the channel to connect instead of failing at once while it
    // is still reconnecting.
    auto ctx = attempt == 0 ? c.Ctx() : c.Ctx(absl::Seconds(5));
    if (attempt > 0) ctx->set_wait_for_ready(true);
    grpc::Status s = call(ctx.get());
    if (s.ok()) return s;
    // A socket closed under the call is a controller that went away mid-call (its reply lost:
    // the case the request id is for) or a TLS mismatch, which closes it again at once: it is
    // retried once, within the 5 s a retry waits for the channel, and no more.
    const bool closed = HandshakeFailure(s);
    if (attempt == 0) first_closed = closed;
    const bool retryable = (s.error_code() == grpc::StatusCode::UNAVAILABLE ||
                            s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) &&
                           !(first_closed && attempt > 0) && !(closed && attempt > 0);
    if (!retryable || attempt == 4) return s;
    std::cerr << "perfgate: " << s.error_message() << "; retrying " << what << " in "
              << absl::FormatDuration(wait) << "\n";
    absl::SleepFor(wait);
    wait *= 2;
  }
}

int Fail(const grpc::Status& s) {
  std::cerr << "perfgate: " << s.error_message() << " (" << static_cast<int>(s.error_code())
            << ")\n";
  // What a plaintext client sees of a TLS port, and a TLS client of a plaintext one.
  if (HandshakeFailure(s))
    std::cerr << "perfgate: the connection was closed: the controller went away, or it serves "
                 "TLS (pass its CA with --tls-ca or PERFGATE_TLS_CA; with --tls-ca, check the CA "
                 "and the address's name)\n";
  return s.error_code() == grpc::StatusCode::UNAVAILABLE ||
                 s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED
             ? 4
             : 2;
}

int Usage(const std::string& problem) {
  std::cerr << "perfgate: " << problem << "\n";
  return 2;
}

int ExitCodeFor(v1::RunState s) {
  switch (s) {
    case v1::RUN_STATE_SUCCEEDED:
      return 0;
    case v1::RUN_STATE_CANCELLED:
      return 3;
    default:
      return 1;
  }
}

int Show(Client& c, const google::protobuf::Message& m, const std::function<void()>& table) {
  if (c.json()) {
    std::cout << common::ProtoToJson(m);
  } else {
    table();
  }
  return 0;
}

int Watch(Client& c, int64_t id, bool logs) {
  v1::WatchRunRequest req;
  req.set_id(id);
  req.set_logs(logs);
  int64_t after = 0;
  v1::Run last;
  std::string last_line;  // -o json: JSON Lines, one compact run per state change, final run last
  auto print_line = [&](const v1::Run& r) {
    std::string line = common::ProtoToJson(r, /*pretty=*/false);
    if (line == last_line) return;
    std::cout << line << "\n" << std::flush;
    last_line = std::move(line);
  };
  for (int reconnects = 0; reconnects < 30; ++reconnects) {
    req.set_after_log_id(after);
    auto ctx = c.Ctx(absl::InfiniteDuration());
    auto reader = c.stub().WatchRun(ctx.get(), req);
    v1::RunEvent ev;
    while (reader->Read(&ev)) {
      if (ev.has_run()) {
        if (ev.run().state() != last.state()) {
          if (c.json()) {
            print_line(ev.run());
          } else {
            std::cerr << "run " << id << ": " << RunStateShort(ev.run().state()) << "\n";
          }
        }
        last = ev.run();
      } else if (ev.has_log()) {
        after = ev.log().id();
        if (!c.json())
          (ev.log().stream() == v1::LOG_STREAM_STDOUT ? std::cout : std::cerr) << ev.log().data();
        std::cout.flush();
      }
    }
    grpc::Status s = reader->Finish();
    if (s.ok()) {
      if (c.json()) print_line(last);
      if (!c.json()) RenderRun(std::cerr, last);
      return ExitCodeFor(last.state());
    }
    if (s.error_code() != grpc::StatusCode::UNAVAILABLE) return Fail(s);
    std::cerr << "perfgate: lost the controller (" << s.error_message() << "); reconnecting\n";
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  std::cerr << "perfgate: gave up watching run " << id << "\n";
  return 4;
}

int AwaitVerdict(Client& c, int64_t id, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::Time next_note = absl::Now() + absl::Seconds(30);
  for (int failures = 0;;) {
    v1::GetRunRequest req;
    req.set_id(id);
    v1::Run run;
    auto ctx = c.Ctx();
    grpc::Status s = c.stub().GetRun(ctx.get(), req, &run);
    if (!s.ok()) {
      if (s.error_code() != grpc::StatusCode::UNAVAILABLE || ++failures > 60) return Fail(s);
    } else {
      failures = 0;
      if (run.state() == v1::RUN_STATE_FAILED || run.state() == v1::RUN_STATE_CANCELLED)
        return ExitCodeFor(run.state());
      bool final = run.analysed() && run.state() == v1::RUN_STATE_SUCCEEDED;
      if (final && run.confirmed_by_run_id() != 0) {
        v1::GetRunRequest creq;
        creq.set_id(run.confirmed_by_run_id());
        v1::Run conf;
        auto cctx = c.Ctx();
        final = c.stub().GetRun(cctx.get(), creq, &conf).ok() && conf.analysed();
        if (final) {  // the decision updated the candidate's verdict
          auto rctx = c.Ctx();
          c.stub().GetRun(rctx.get(), req, &run);
        }
      }
      if (final) {
        // A broken critical limit fails the gate even when no metric moved.
        bool critical = false;
        v1::CompareRunRequest creq;
        creq.set_run_id(id);
        v1::Comparison cmp;
        auto cctx = c.Ctx();
        if (c.stub().CompareRun(cctx.get(), creq, &cmp).ok()) {
          for (const auto& l : cmp.limits()) critical = critical || l.level() == "critical";
        }
        if (c.json()) {
          std::cout << common::ProtoToJson(run, /*pretty=*/false) << "\n" << std::flush;
        } else {
          std::cerr << "run " << id << ": verdict "
                    << (run.verdict().empty() ? "none" : run.verdict())
                    << (critical ? " (a critical limit is broken)" : "")
                    << (cmp.summary().empty() ? "" : "\n  " + cmp.summary()) << "\n";
        }
        if (critical || run.verdict() == "regression") return 5;
        const bool compared =
            run.kind() == v1::RUN_KIND_CANDIDATE || run.aa() || run.against_run_id() != 0;
        if (!compared) return 0;
        if (run.verdict() == "no_change" || run.verdict() == "improvement") return 0;
        return 6;
      }
    }
    if (absl::Now() > deadline) {
      std::cerr << "perfgate: run " << id << " has no final verdict after --gate-timeout\n";
      return 4;
    }
    if (!c.json() && absl::Now() > next_note) {
      std::cerr << "run " << id << ": waiting for the verdict"
                << (run.confirmed_by_run_id()
                        ? " (confirmation run " + std::to_string(run.confirmed_by_run_id()) + ")"
                        : std::string())
                << "\n";
      next_note = absl::Now() + absl::Seconds(60);
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

void AddFollowFlags(CLI::App* sub, FollowFlags& f) {
  sub->add_flag("--wait", f.wait, "follow the run until it ends; the exit code says how it ended");
  sub->add_flag("--gate", f.gate,
                "follow the run to its final verdict (analysis, and the confirmation run an "
                "inconclusive candidate gets): exit 0 no regression, 5 a regression or a "
                "critical limit, 6 no verdict (for CI)");
  sub->add_option("--gate-timeout", f.gate_timeout,
                  "give up waiting for the verdict after this long (exit 4)")
      ->capture_default_str();
}

int Follow(Client& c, int64_t id, const FollowFlags& f) {
  absl::Duration timeout;
  if (!absl::ParseDuration(f.gate_timeout, &timeout) || timeout <= absl::ZeroDuration())
    return Usage("--gate-timeout: not a duration like 30m or 2h: " + f.gate_timeout);
  const int code = Watch(c, id, true);
  if (!f.gate || code != 0) return code;
  return AwaitVerdict(c, id, timeout);
}

std::map<std::string, std::string> ParsePairs(const std::vector<std::string>& items,
                                              const std::string& flag) {
  std::map<std::string, std::string> out;
  for (const auto& kv : items) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      throw CLI::ValidationError(flag, "want KEY=VALUE, got '" + kv + "'");
    out[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return out;
}

}  // namespace perfgate::cli
