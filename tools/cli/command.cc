#include "tools/cli/command.h"

#include <iostream>
#include <thread>

#include "common/json/proto_json.h"
#include "tools/cli/render.h"

namespace perfgate::cli {

Client::Client(const Globals& g) : g_(g) {
  stub_ = v1::Controller::NewStub(
      grpc::CreateChannel(g.controller, grpc::InsecureChannelCredentials()));
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

int Fail(const grpc::Status& s) {
  std::cerr << "perfgate: " << s.error_message() << " (" << static_cast<int>(s.error_code())
            << ")\n";
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
