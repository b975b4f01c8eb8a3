// LISTEN perfgate_events on a dedicated connection and turn notifications into callbacks, so
// that controller replicas wake each other (new work, run changes, stop orders). Reconnects
// with backoff after the database goes away and then reports a "resync" (payload "*"), since
// notifications sent meanwhile are lost. Callbacks run on the listener's thread.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

namespace perfgate::controller {

class PgListener {
 public:
  using Handler = std::function<void(const std::string& payload)>;
  PgListener(std::string dsn, std::string channel, Handler handler);
  ~PgListener();  // stops the thread

 private:
  void Loop();
  const std::string dsn_;
  const std::string channel_;
  Handler handler_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace perfgate::controller
