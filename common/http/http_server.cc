#include "common/http/http_server.h"

#include <httplib.h>

#include "absl/strings/numbers.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"

namespace perfgate::common {

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const std::string& host, int port, std::shared_ptr<prometheus::Registry> registry,
    std::function<void()> before_scrape, std::function<void(httplib::Server&)> add_routes,
    const HttpTlsFiles& tls) {
  std::unique_ptr<HttpServer> s(new HttpServer());
  if (tls.cert.empty() != tls.key.empty())
    return absl::InvalidArgumentError("--http-tls-cert and --http-tls-key: both or neither");
  if (!tls.cert.empty()) {
    auto https = std::make_unique<httplib::SSLServer>(tls.cert.c_str(), tls.key.c_str());
    if (!https->is_valid())
      return absl::InvalidArgumentError("--http-tls-cert " + tls.cert + ", --http-tls-key " +
                                        tls.key + ": cannot be loaded for TLS");
    s->server_ = std::move(https);
  } else {
    s->server_ = std::make_unique<httplib::Server>();
  }
  s->registry_ = std::move(registry);
  prometheus::Registry* reg = s->registry_.get();
  s->server_->Get(
      "/metrics", [reg, before_scrape](const httplib::Request&, httplib::Response& res) {
        if (before_scrape) before_scrape();
        prometheus::TextSerializer serializer;
        res.set_content(serializer.Serialize(reg->Collect()), "text/plain; version=0.0.4");
      });
  s->server_->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  // cpp-httplib's defaults suit a toy: Nagle on (a response written in two pieces waits ~40 ms
  // for the client's delayed ACK) and keep-alive connections closed after 5 requests.
  s->server_->set_tcp_nodelay(true);
  s->server_->set_keep_alive_max_count(1'000'000);
  s->server_->set_keep_alive_timeout(60);
  if (add_routes) add_routes(*s->server_);
  if (port == 0) {
    s->port_ = s->server_->bind_to_any_port(host);
  } else {
    s->port_ = s->server_->bind_to_port(host, port) ? port : -1;
  }
  if (s->port_ <= 0) {
    return absl::UnavailableError("cannot bind HTTP listener on " + host + ":" +
                                  std::to_string(port));
  }
  httplib::Server* raw = s->server_.get();
  s->thread_ = std::thread([raw] { raw->listen_after_bind(); });
  return s;
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

absl::Status ParseHostPort(const std::string& flag, const std::string& value, std::string* host,
                           int* port) {
  auto colon = value.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError(flag + ": want HOST:PORT, got '" + value + "'");
  }
  int p = 0;
  if (!absl::SimpleAtoi(value.substr(colon + 1), &p) || p < 0 || p > 65535) {
    return absl::InvalidArgumentError(flag + ": port must be 0..65535, got '" + value + "'");
  }
  *host = value.substr(0, colon);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  *port = p;
  return absl::OkStatus();
}

}  // namespace perfgate::common
