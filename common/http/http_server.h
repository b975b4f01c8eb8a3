// The HTTP side of a perfgate process: /metrics (Prometheus text format) and /healthz, with
// room for more handlers. One server per process; handlers run on the server's own threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib
namespace prometheus {
class Registry;
}

namespace perfgate::common {

// TLS for the HTTP port (pages, webhooks, /metrics): both files or neither. The caller checks
// the files first (common/grpc/tls.h CheckServerKeyPair), so that a mistake names its flag.
struct HttpTlsFiles {
  std::string cert, key;
};

// What one HTTP port takes. cpp-httplib serves each connection on a worker thread for its whole
// life, queueing the rest without bound; here the connections being served or waiting for a
// worker are counted, and past `max_connections` a new one is answered 503 (Retry-After,
// Connection: close) on the accepting thread, which also holds further accepts back meanwhile
// (the kernel's backlog then refuses them). An idle keep-alive connection holds its worker for
// `keep_alive_seconds`; a request must arrive and its answer leave within the timeouts.
struct HttpLimits {
  int workers = 16;
  int max_connections = 256;
  int keep_alive_seconds = 5;
  int read_timeout_seconds = 10;
  int write_timeout_seconds = 10;
  size_t max_body_bytes = 8 << 20;
};

struct HttpServerOptions {
  // Runs before each /metrics collection, to refresh gauges that are read from elsewhere.
  std::function<void()> before_scrape;
  // Registers the process's own handlers.
  std::function<void(httplib::Server&)> add_routes;
  // Runs before routing (authentication); returns true when it has answered the request.
  std::function<bool(const httplib::Request&, httplib::Response&)> pre_routing;
  HttpTlsFiles tls;  // serve HTTPS only
  HttpLimits limits;
};

class HttpServer {
 public:
  // Binds host:port (port 0 picks a free one) and starts serving on a background thread.
  // Returns UNAVAILABLE if the address cannot be bound, INVALID_ARGUMENT if the TLS files
  // cannot be loaded or a limit is not positive.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const std::string& host, int port, std::shared_ptr<prometheus::Registry> registry,
      HttpServerOptions options = {});
  ~HttpServer();

  int port() const { return port_; }
  // Connections answered 503 because `max_connections` were taken.
  int64_t refused_connections() const { return refused_->load(); }
  void Stop();

 private:
  HttpServer() = default;
  std::unique_ptr<httplib::Server> server_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::thread thread_;
  int port_ = 0;
  std::shared_ptr<std::atomic<int64_t>> refused_ = std::make_shared<std::atomic<int64_t>>(0);
};

// Splits "host:port"; INVALID_ARGUMENT naming `flag` on malformed input.
absl::Status ParseHostPort(const std::string& flag, const std::string& value, std::string* host,
                           int* port);

}  // namespace perfgate::common
