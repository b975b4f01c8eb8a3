// perfgate-forge-recorder: a stand-in for GitHub's REST API that the demo points the controller
// at (--github-api-url), so that the check runs, commit statuses and PR comment a webhook leads
// to can be seen without GitHub. It answers as GitHub does for the calls the outbox makes
// (creations 201 with an id, updates 200, lists empty), prints one line per request (method,
// path, and the fields that matter), keeps every body in --out (JSON Lines) and the newest
// comment in --comment-file. Loopback only. The tests use GitHub's own OpenAPI description
// instead (tests/integration/forge_test.cc).
#include <httplib.h>

#include <atomic>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>

#include "CLI/CLI.hpp"

int main(int argc, char** argv) {
  int port = 0;
  std::string out_path, comment_path, ready_path;
  CLI::App app{"perfgate-forge-recorder: records what perfgate would send to GitHub (the demo's)"};
  app.add_option("--port", port, "port on 127.0.0.1 (0: any free one)")->capture_default_str();
  app.add_option("--out", out_path, "append every request here as JSON Lines")->required();
  app.add_option("--comment-file", comment_path, "the newest PR comment's body goes here");
  app.add_option("--ready-file", ready_path, "written with the port once listening");
  CLI11_PARSE(app, argc, argv);

  httplib::Server server;
  std::mutex mu;
  std::ofstream out(out_path, std::ios::app);
  std::atomic<int64_t> ids{100};
  auto handle = [&](const httplib::Request& req, httplib::Response& res) {
    nlohmann::json body = nlohmann::json::parse(req.body, nullptr, false);
    std::lock_guard<std::mutex> l(mu);
    out << nlohmann::json{{"method", req.method},
                          {"path", req.path},
                          {"body", body.is_discarded() ? nlohmann::json(req.body) : body}}
               .dump()
        << "\n"
        << std::flush;
    std::string what;
    if (body.is_object()) {
      for (const char* k : {"name", "context", "status", "state", "conclusion"})
        if (body.contains(k) && body[k].is_string())
          what += std::string(" ") + k + "=" + body[k].get<std::string>();
      if (body.contains("output") && body["output"].contains("title"))
        what += " title=\"" + body["output"]["title"].get<std::string>() + "\"";
      if (body.contains("description"))
        what += " description=\"" + body["description"].get<std::string>() + "\"";
      if (body.contains("body") && body["body"].is_string()) {
        const std::string text = body["body"];
        what += " body=" + std::to_string(text.size()) + " bytes";
        if (!comment_path.empty() && text.find("perfgate:pr-comment") != std::string::npos)
          std::ofstream(comment_path) << text;
      }
    }
    std::cout << "forge: " << req.method << " " << req.path << what << "\n" << std::flush;
    if (req.method == "GET") {
      res.set_content(req.path.find("check-runs") != std::string::npos
                          ? R"({"total_count": 0, "check_runs": []})"
                          : "[]",
                      "application/json");
      return;
    }
    res.status = req.method == "POST" ? 201 : 200;
    res.set_content(nlohmann::json{{"id", ++ids}}.dump(), "application/json");
  };
  server.Get(".*", handle);
  server.Post(".*", handle);
  server.Patch(".*", handle);
  if (port == 0) {
    port = server.bind_to_any_port("127.0.0.1");
  } else if (!server.bind_to_port("127.0.0.1", port)) {
    port = -1;
  }
  if (port <= 0) {
    std::cerr << "perfgate-forge-recorder: cannot listen on 127.0.0.1\n";
    return 1;
  }
  if (!ready_path.empty()) std::ofstream(ready_path) << port << "\n";
  server.listen_after_bind();
  return 0;
}
