// Blocks SIGINT/SIGTERM in every thread and runs `on_signal` on a dedicated thread when one
// arrives, so shutdown code runs in a normal context instead of a signal handler. Call at the
// top of main(), before any thread starts.
#pragma once

#include <signal.h>

#include <functional>
#include <thread>

namespace perfgate::common {

inline std::thread HandleTerminationSignals(std::function<void(int)> on_signal) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  std::thread t([set, on_signal = std::move(on_signal)] {
    int sig = 0;
    sigwait(&set, &sig);
    on_signal(sig);
  });
  t.detach();
  return t;
}

}  // namespace perfgate::common
