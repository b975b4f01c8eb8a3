#include "controller/store/pg_listener.h"

#include <pqxx/pqxx>

#include "common/log/log.h"

namespace perfgate::controller {
namespace {

class Receiver : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& c, const std::string& channel, PgListener::Handler& h)
      : pqxx::notification_receiver(c, channel), handler_(h) {}
  void operator()(const std::string& payload, int) override { handler_(payload); }

 private:
  PgListener::Handler& handler_;
};

}  // namespace

PgListener::PgListener(std::string dsn, std::string channel, Handler handler)
    : dsn_(std::move(dsn)), channel_(std::move(channel)), handler_(std::move(handler)) {
  thread_ = std::thread([this] { Loop(); });
}

PgListener::~PgListener() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void PgListener::Loop() {
  int backoff_ms = 100;
  bool first = true;
  while (!stop_) {
    try {
      pqxx::connection c(dsn_);
      Receiver r(c, channel_, handler_);
      c.get_notifs();  // executes the LISTEN
      if (!first) {
        spdlog::info("msg=\"event listener reconnected\"");
        handler_("*");
      }
      first = false;
      backoff_ms = 100;
      while (!stop_) {
        c.await_notification(0, 200'000);  // wake up to check stop_
        if (!c.is_open()) throw pqxx::broken_connection("listener connection closed");
      }
    } catch (const std::exception& e) {
      if (stop_) break;
      spdlog::warn("msg=\"event listener lost the database\" error=\"{}\" retry_ms={}", e.what(),
                   backoff_ms);
      first = false;
      std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
      backoff_ms = std::min(backoff_ms * 2, 5000);
    }
  }
}

}  // namespace perfgate::controller
