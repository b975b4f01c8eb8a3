// The HTTP side of a perfgate process: /metrics (Prometheus text format) and /healthz, with
// room for more handlers. One server per process; handlers run on the server's own threads.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace httplib {
class Server;
}
namespace prometheus {
class Registry;
}

namespace perfgate::common {

class HttpServer {
 public:
  // Binds host:port (port 0 picks a free one) and starts serving on a background thread.
  // `before_scrape` (optional) runs before each /metrics collection, to refresh gauges that
  // are read from elsewhere; `add_routes` (optional) registers the process's own handlers.
  // Returns UNAVAILABLE if the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const std::string& host, int port, std::shared_ptr<prometheus::Registry> registry,
      std::function<void()> before_scrape = nullptr,
      std::function<void(httplib::Server&)> add_routes = nullptr);
  ~HttpServer();

  int port() const { return port_; }
  void Stop();

 private:
  HttpServer() = default;
  std::unique_ptr<httplib::Server> server_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::thread thread_;
  int port_ = 0;
};

// Splits "host:port"; INVALID_ARGUMENT naming `flag` on malformed input.
absl::Status ParseHostPort(const std::string& flag, const std::string& value, std::string* host,
                           int* port);

}  // namespace perfgate::common
