// The sample target's manager/worker mode: a small Warren-style cluster to benchmark on test
// hosts, with a control plane whose behaviour under faults can be measured.
//
// Managers (--role manager; several are replicas of one another: --peers) keep the services
// (NAME with N replicas, its tasks NAME.vV.1 .. NAME.vV.N for its version V) and the workers that
// registered. Every task is placed on a live worker by rendezvous hashing over the live workers'
// names, so every manager places it alike without talking to the others. A worker is live while its
// heartbeats arrive (--worker-timeout, default 1s); when one stops, its tasks go to the others
// at once. Workers (--role worker --manager URL[,URL...]) heartbeat to every manager every
// 250 ms and learn from each answer which tasks are theirs; a worker answers for its own tasks
// only.
//
//   manager: POST /services {"name": "web", "replicas": 4}   create or resize (201), sent on to
//                                                             the peers
//            GET  /services/NAME                              its tasks and where they are
//            GET  /services/NAME/call                         one call to one of its tasks
//                                                             (round robin) through its worker:
//                                                             200, or 502/503 with the reason
//            POST /workers {"name": "w", "address": "h:p"}    a worker's heartbeat; answers
//                                                             {"tasks": [...]} (its tasks)
//            GET  /workers                                    the workers, live or not
//            DELETE /services/NAME                            remove it (and its tasks)
//            GET  /status                                     {"services", "tasks", "running",
//                                                             "pending", "workers_live"}: a task
//                                                             runs once the worker it is placed
//                                                             on reports it started
//   worker:  GET  /tasks/ID                                   200 for a task it runs, else 404
//
// A worker starts the tasks it is given one after another, each taking --task-start (default
// 0), and reports the ones running with every heartbeat: placement takes heartbeats, and more
// tasks per worker take longer. --leak-per-heartbeat BYTES makes a manager keep that much per
// heartbeat it receives (a leak that grows with time, for soak tests).
#pragma once

#include <httplib.h>

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"

namespace perfgate::sample_target {

class Manager {
 public:
  Manager(std::vector<std::string> peers, absl::Duration worker_timeout,
          prometheus::Registry& registry, int64_t leak_per_heartbeat = 0);
  // `initial`: NAME=N services to start with (the same on every replica).
  // Creates or resizes a service; returns its version (a new one for a new service, unless
  // `version` gives it: a peer's). Its tasks are NAME.vVERSION.1 .. N.
  int64_t AddService(const std::string& name, int replicas, int64_t version = 0);
  void Routes(httplib::Server& s);

  // Pure: the live worker task `task` goes to (rendezvous hashing); "" when none is live.
  static std::string Place(const std::string& task, const std::vector<std::string>& live);

 private:
  struct WorkerInfo {
    std::string address;
    absl::Time last_seen;
    std::set<std::string> running;  // as its last heartbeat said
  };
  std::vector<std::string> LiveWorkers() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The leak: keeps leak_per_heartbeat_ bytes, resident. Out of line and allocating itself, so
  // that a heap profile names it as the function whose memory grows.
  void RetainHeartbeat() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<std::string> TasksOf(const std::string& service) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::vector<std::string> peers_;
  const absl::Duration worker_timeout_;
  mutable absl::Mutex mu_;
  struct Service {
    int replicas = 0;
    int64_t version = 0;
  };
  std::map<std::string, Service> services_ ABSL_GUARDED_BY(mu_);
  int64_t last_version_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, WorkerInfo> workers_ ABSL_GUARDED_BY(mu_);
  // Where each task was last routed, to count moves (a task placed anew after a worker died).
  std::map<std::string, std::string> placed_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> next_{0};
  prometheus::Counter* moves_;
  prometheus::Counter* calls_failed_;
  const int64_t leak_per_heartbeat_;
  std::vector<std::unique_ptr<char[]>> leaked_ ABSL_GUARDED_BY(mu_);
};

class Worker {
 public:
  Worker(std::string name, std::vector<std::string> managers,
         absl::Duration task_start = absl::ZeroDuration());
  ~Worker();
  void Routes(httplib::Server& s);
  // Heartbeats (on a thread of its own) with the address it is reached at, "host:port".
  void Start(const std::string& address);

 private:
  void Heartbeat();
  void StartTasks();  // the starter thread: given tasks become running, one at a time
  const std::string name_;
  std::string address_;
  const std::vector<std::string> managers_;
  const absl::Duration task_start_;
  absl::Mutex mu_;
  std::map<std::string, std::set<std::string>> tasks_ ABSL_GUARDED_BY(mu_);  // by manager
  std::set<std::string> running_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::thread starter_;
};

}  // namespace perfgate::sample_target
