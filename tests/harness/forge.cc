#include "tests/harness/forge.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "common/net/local_port.h"
#include "common/process/subprocess.h"

namespace perfgate::testing {

std::string ForgeNodeModules(std::string* why) {
  const std::string dir = std::string(PERFGATE_SOURCE_DIR) + "/tests/forge/node_modules";
  for (const char* p : {"/.bin/prism", "/@octokit/openapi/generated/api.github.com.json",
                        "/@octokit/webhooks-examples/api.github.com/index.json",
                        "/@octokit/webhooks-methods/package.json"}) {
    if (!std::filesystem::exists(dir + p)) {
      *why = dir + p + " is missing: run tools/install-deps.sh --test (npm install in tests/forge)";
      return "";
    }
  }
  if (common::FindProgram("node").empty()) {
    *why = "node is not installed: run tools/install-deps.sh --test";
    return "";
  }
  return dir;
}

nlohmann::json GitHubExample(const std::string& event, const std::string& action, int n) {
  std::string why;
  const std::string dir = ForgeNodeModules(&why);
  std::ifstream in(dir + "/@octokit/webhooks-examples/api.github.com/index.json");
  nlohmann::json all = nlohmann::json::parse(in, nullptr, false);
  if (!all.is_array()) return nullptr;
  for (const auto& e : all) {
    if (e.value("name", "") != event) continue;
    for (const auto& ex : e["examples"]) {
      if (!action.empty() && ex.value("action", "") != action) continue;
      if (n-- == 0) return ex;
    }
  }
  return nullptr;
}

std::string OctokitSign(const std::string& secret, const std::string& body) {
  std::string why;
  const std::string dir = ForgeNodeModules(&why);
  char path[] = "/tmp/perfgate-sign-XXXXXX";
  int fd = mkstemp(path);
  if (write(fd, body.data(), body.size()) != static_cast<ssize_t>(body.size())) return "";
  lseek(fd, 0, SEEK_SET);
  common::SpawnOptions o;
  o.argv = {"node", std::filesystem::path(dir).parent_path().string() + "/sign.mjs", secret};
  o.stdin_fd = fd;
  int code = -1;
  auto out = common::RunAndCapture(o, &code);
  close(fd);
  unlink(path);
  return out.ok() && code == 0 ? *out : "";
}

PrismServer::PrismServer(const std::string& log_dir) {
  std::string why;
  const std::string dir = ForgeNodeModules(&why);
  if (dir.empty()) return;
  auto port = common::FreeLocalPort();
  if (!port.ok()) return;
  port_ = *port;
  proc_ = std::make_unique<ChildProcess>(
      "prism",
      std::vector<std::string>{dir + "/.bin/prism", "mock", "--errors", "-h", "127.0.0.1", "-p",
                               std::to_string(port_),
                               dir + "/@octokit/openapi/generated/api.github.com.json"},
      log_dir + "/prism.log");
  ok_ = WaitUntil([&] { return absl::StrContains(proc_->Log(), "Prism is listening"); },
                  absl::Seconds(90));
}

PrismServer::~PrismServer() {
  if (proc_) proc_->Terminate(absl::Seconds(5));
}

RecordingProxy::RecordingProxy(int upstream_port) : upstream_port_(upstream_port) {
  auto handle = [this](const httplib::Request& req, httplib::Response& res) {
    Exchange ex;
    ex.method = req.method;
    ex.path = req.target.empty() ? req.path : req.target;
    ex.body = req.body;
    ex.authorization = req.get_header_value("Authorization");
    ex.accept = req.get_header_value("Accept");
    const Mode mode = mode_;
    if (mode == Mode::kUnavailable) {
      res.status = 503;
      res.set_content(R"j({"message":"Service Unavailable (the test's outage)"})j",
                      "application/json");
    } else if (mode == Mode::kRateLimited) {
      res.status = 429;
      res.set_header("Retry-After", "1");
      res.set_content(R"j({"message":"API rate limit exceeded (the test's)"})j",
                      "application/json");
    } else {
      httplib::Client up("127.0.0.1", upstream_port_);
      up.set_read_timeout(20, 0);
      httplib::Headers h;
      for (const auto& [k, v] : req.headers) {
        if (k == "Host" || k == "Content-Length" || k == "REMOTE_ADDR" || k == "REMOTE_PORT" ||
            k == "LOCAL_ADDR" || k == "LOCAL_PORT")
          continue;
        h.emplace(k, v);
      }
      const std::string type = req.get_header_value("Content-Type");
      httplib::Result r{nullptr, httplib::Error::Unknown};
      if (req.method == "GET") r = up.Get(ex.path, h);
      if (req.method == "POST")
        r = up.Post(ex.path, h, req.body, type.empty() ? "application/json" : type);
      if (req.method == "PATCH")
        r = up.Patch(ex.path, h, req.body, type.empty() ? "application/json" : type);
      if (req.method == "PUT")
        r = up.Put(ex.path, h, req.body, type.empty() ? "application/json" : type);
      if (!r) {
        res.status = 502;
        res.set_content("proxy: " + httplib::to_string(r.error()), "text/plain");
      } else {
        res.status = r->status;
        res.set_content(r->body, r->get_header_value("Content-Type"));
      }
    }
    ex.status = res.status;
    ex.answer = res.body;
    std::lock_guard<std::mutex> l(mu_);
    exchanges_.push_back(std::move(ex));
  };
  server_.Get(".*", handle);
  server_.Post(".*", handle);
  server_.Patch(".*", handle);
  server_.Put(".*", handle);
  port_ = server_.bind_to_any_port("127.0.0.1");
  thread_ = std::thread([this] { server_.listen_after_bind(); });
}

RecordingProxy::~RecordingProxy() {
  server_.stop();
  thread_.join();
}

std::vector<RecordingProxy::Exchange> RecordingProxy::Exchanges() {
  std::lock_guard<std::mutex> l(mu_);
  return exchanges_;
}

std::vector<RecordingProxy::Exchange> RecordingProxy::Sent(const std::string& method,
                                                           const std::string& path_prefix) {
  std::vector<Exchange> out;
  for (auto& e : Exchanges()) {
    if (e.method == method && absl::StartsWith(e.path, path_prefix) && e.status >= 200 &&
        e.status < 300)
      out.push_back(e);
  }
  return out;
}

}  // namespace perfgate::testing
