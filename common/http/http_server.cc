#include "common/http/http_server.h"

#include <httplib.h>

#include "absl/strings/numbers.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"

namespace perfgate::common {

namespace {

// Set while the accepting thread itself runs a connection that found every place taken: the
// pre-routing handler then answers 503 at once.
thread_local bool t_over_limit = false;

// cpp-httplib's ThreadPool with the connections in it counted and bounded.
class BoundedTaskQueue : public httplib::TaskQueue {
 public:
  BoundedTaskQueue(const HttpLimits& limits, std::shared_ptr<std::atomic<int64_t>> refused,
                   prometheus::Counter* refused_metric)
      : pool_(static_cast<size_t>(limits.workers)),
        max_(limits.max_connections),
        refused_(std::move(refused)),
        refused_metric_(refused_metric) {}

  void enqueue(std::function<void()> fn) override {
    if (in_flight_->fetch_add(1) >= max_) {
      in_flight_->fetch_sub(1);
      refused_->fetch_add(1);
      refused_metric_->Increment();
      t_over_limit = true;
      fn();
      t_over_limit = false;
      return;
    }
    pool_.enqueue([in_flight = in_flight_, fn = std::move(fn)] {
      fn();
      in_flight->fetch_sub(1);
    });
  }
  void shutdown() override { pool_.shutdown(); }

 private:
  httplib::ThreadPool pool_;
  const int max_;
  std::shared_ptr<std::atomic<int64_t>> refused_;
  prometheus::Counter* refused_metric_;
  std::shared_ptr<std::atomic<int>> in_flight_ = std::make_shared<std::atomic<int>>(0);
};

}  // namespace

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const std::string& host, int port, std::shared_ptr<prometheus::Registry> registry,
    HttpServerOptions options) {
  std::unique_ptr<HttpServer> s(new HttpServer());
  const HttpTlsFiles& tls = options.tls;
  const HttpLimits limits = options.limits;
  if (limits.workers <= 0 || limits.max_connections < limits.workers ||
      limits.keep_alive_seconds <= 0 || limits.read_timeout_seconds <= 0 ||
      limits.write_timeout_seconds <= 0 || limits.max_body_bytes == 0) {
    return absl::InvalidArgumentError(
        "HTTP limits: workers, timeouts and the body size must be positive, and max_connections "
        "at least workers");
  }
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
  s->server_->Get("/metrics", [reg, before_scrape = options.before_scrape](const httplib::Request&,
                                                                           httplib::Response& res) {
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
  s->server_->set_keep_alive_timeout(limits.keep_alive_seconds);
  s->server_->set_read_timeout(limits.read_timeout_seconds, 0);
  s->server_->set_write_timeout(limits.write_timeout_seconds, 0);
  s->server_->set_payload_max_length(limits.max_body_bytes);
  prometheus::Counter* refused_metric =
      &prometheus::BuildCounter()
           .Name("perfgate_http_connections_refused_total")
           .Help("HTTP connections answered 503 because the port's connection limit was reached")
           .Register(*reg)
           .Add({});
  s->server_->new_task_queue = [limits, refused = s->refused_, refused_metric] {
    return new BoundedTaskQueue(limits, refused, refused_metric);
  };
  s->server_->set_pre_routing_handler(
      [pre = options.pre_routing](const httplib::Request& req, httplib::Response& res) {
        if (t_over_limit) {
          res.status = 503;
          res.set_header("Retry-After", "1");
          res.set_header("Connection", "close");
          res.set_content("503: too many connections, retry shortly\n", "text/plain");
          return httplib::Server::HandlerResponse::Handled;
        }
        if (pre && pre(req, res)) return httplib::Server::HandlerResponse::Handled;
        return httplib::Server::HandlerResponse::Unhandled;
      });
  auto& add_routes = options.add_routes;
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
