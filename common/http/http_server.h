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

// TLS for the HTTP port (pages, webhooks, /metrics): both files or neither. The caller checks
// the files first (common/grpc/tls.h CheckServerKeyPair), so that a mistake names its flag.
struct HttpTlsFiles {
  std::string cert, key;
};

class HttpServer {
 public:
  // Binds host:port (port 0 picks a free one) and starts serving on a background thread.
  // `before_scrape` (optional) runs before each /metrics collection, to refresh gauges that
  // are read from elsewhere; `add_routes` (optional) registers the process's own handlers.
  // With `tls`, it serves HTTPS only. Returns UNAVAILABLE if the address cannot be bound,
  // INVALID_ARGUMENT if the TLS files cannot be loaded.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const std::string& host, int port, std::shared_ptr<prometheus::Registry> registry,
      std::function<void()> before_scrape = nullptr,
      std::function<void(httplib::Server&)> add_routes = nullptr, const HttpTlsFiles& tls = {});
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
