#include "tools/sample_target/cluster.h"

#include <cstring>
#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/http/url.h"
#include "prometheus/counter.h"

namespace perfgate::sample_target {
namespace {

using nlohmann::json;

// A JSON error answer.
void Fail(httplib::Response& res, int status, const std::string& why) {
  res.status = status;
  res.set_content(json{{"error", why}}.dump() + "\n", "application/json");
}

// FNV-1a over the task and the worker: the same in every manager process (absl::Hash is
// seeded per process, so replicas would place tasks differently).
uint64_t Score(const std::string& task, const std::string& worker) {
  uint64_t h = 14695981039346656037ull;
  for (const std::string* s : {&task, &worker}) {
    for (unsigned char c : *s) h = (h ^ c) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;  // a separator no name contains
  }
  return h;
}

// POSTs `body` to `path` of the member at `url` ("http://h:p") with short timeouts; null for a
// URL that is not one, or no answer.
httplib::Result PostTo(const std::string& url, const std::string& path, const std::string& body) {
  std::string host, base;
  int port = 0;
  if (!common::SplitHttpUrl(url, &host, &port, &base))
    return httplib::Result(nullptr, httplib::Error::Connection);
  httplib::Client c(host, port);
  c.set_connection_timeout(0, 300'000);
  c.set_read_timeout(1, 0);
  return c.Post(path.c_str(), body, "application/json");
}

}  // namespace

Manager::Manager(std::vector<std::string> peers, absl::Duration worker_timeout,
                 prometheus::Registry& registry, int64_t leak_per_heartbeat)
    : peers_(std::move(peers)),
      worker_timeout_(worker_timeout),
      leak_per_heartbeat_(leak_per_heartbeat) {
  moves_ = &prometheus::BuildCounter()
                .Name("sample_target_task_moves_total")
                .Help("Tasks placed on another worker because theirs stopped heartbeating")
                .Register(registry)
                .Add({});
  calls_failed_ = &prometheus::BuildCounter()
                       .Name("sample_target_calls_failed_total")
                       .Help("Calls to a service that found no live task or whose worker failed")
                       .Register(registry)
                       .Add({});
}

int64_t Manager::AddService(const std::string& name, int replicas, int64_t version) {
  absl::MutexLock l(&mu_);
  auto it = services_.find(name);
  if (version == 0) version = it != services_.end() ? it->second.version : ++last_version_;
  last_version_ = std::max(last_version_, version);
  services_[name] = {replicas, version};
  return version;
}

std::string Manager::Place(const std::string& task, const std::vector<std::string>& live) {
  std::string best;
  uint64_t best_score = 0;
  for (const auto& w : live) {
    const uint64_t score = Score(task, w);
    if (best.empty() || score > best_score) {
      best = w;
      best_score = score;
    }
  }
  return best;
}

std::vector<std::string> Manager::LiveWorkers() const {
  std::vector<std::string> live;
  const absl::Time now = absl::Now();
  for (const auto& [name, w] : workers_)
    if (now - w.last_seen <= worker_timeout_) live.push_back(name);
  return live;
}

std::vector<std::string> Manager::TasksOf(const std::string& service) const {
  std::vector<std::string> tasks;
  auto it = services_.find(service);
  if (it == services_.end()) return tasks;
  // An incarnation's own tasks: a service deleted and created again gets new ones.
  for (int i = 1; i <= it->second.replicas; ++i)
    tasks.push_back(absl::StrCat(service, ".v", it->second.version, ".", i));
  return tasks;
}

__attribute__((noinline)) void Manager::RetainHeartbeat() {
  char* block = new char[static_cast<size_t>(leak_per_heartbeat_)];
  memset(block, 1, static_cast<size_t>(leak_per_heartbeat_));  // touched, so it is resident
  leaked_.emplace_back(block);
}

void Manager::Routes(httplib::Server& s) {
  s.Post("/services", [this](const httplib::Request& req, httplib::Response& res) {
    json j = json::parse(req.body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return Fail(res, 400, "body: want a JSON object");
    if (!j.contains("name") || !j["name"].is_string() || j["name"].get<std::string>().empty() ||
        j["name"].get<std::string>().size() > 64)
      return Fail(res, 400, "name: want a string of 1 to 64 characters");
    if (!j.contains("replicas") || !j["replicas"].is_number_integer() ||
        j["replicas"].get<int>() < 1 || j["replicas"].get<int>() > 1000)
      return Fail(res, 400, "replicas: want a whole number from 1 to 1000");
    const int64_t asked =
        j.contains("version") && j["version"].is_number_integer() ? j["version"].get<int64_t>() : 0;
    const int64_t version = AddService(j["name"], j["replicas"], asked);
    // The replicas learn it too, with its version (once: what a peer sends on is not sent on).
    if (!req.has_param("from_peer")) {
      const std::string body =
          json{{"name", j["name"]}, {"replicas", j["replicas"]}, {"version", version}}.dump();
      for (const auto& peer : peers_) PostTo(peer, "/services?from_peer=1", body);
    }
    res.status = 201;
    res.set_content(json{{"name", j["name"]}, {"replicas", j["replicas"]}}.dump() + "\n",
                    "application/json");
  });
  s.Get(R"(/services/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    absl::MutexLock l(&mu_);
    const std::string name = req.matches[1];
    if (!services_.count(name)) return Fail(res, 404, "no service '" + name + "'");
    const std::vector<std::string> live = LiveWorkers();
    json tasks = json::array();
    for (const auto& t : TasksOf(name)) tasks.push_back({{"id", t}, {"worker", Place(t, live)}});
    res.set_content(
        json{{"name", name}, {"replicas", services_[name].replicas}, {"tasks", tasks}}.dump() +
            "\n",
        "application/json");
  });
  s.Get(R"(/services/([^/]+)/call)", [this](const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[1];
    std::string task, worker, address;
    {
      absl::MutexLock l(&mu_);
      const std::vector<std::string> tasks = TasksOf(name);
      if (tasks.empty()) return Fail(res, 404, "no service '" + name + "'");
      task = tasks[next_++ % tasks.size()];
      worker = Place(task, LiveWorkers());
      if (worker.empty()) {
        calls_failed_->Increment();
        return Fail(res, 503, "no live worker for " + task);
      }
      address = workers_[worker].address;
      std::string& was = placed_[task];
      if (!was.empty() && was != worker) moves_->Increment();
      was = worker;
    }
    const size_t colon = address.rfind(':');
    int port = 0;
    if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port))
      return Fail(res, 502, "worker " + worker + " has no address");
    httplib::Client c(address.substr(0, colon), port);
    c.set_connection_timeout(0, 500'000);
    c.set_read_timeout(2, 0);
    auto r = c.Get(("/tasks/" + task).c_str());
    if (!r || r->status != 200) {
      calls_failed_->Increment();
      return Fail(
          res, 502,
          absl::StrCat("task ", task, " on ", worker, ": ",
                       r ? absl::StrCat("status ", r->status) : httplib::to_string(r.error())));
    }
    res.set_content(r->body, "application/json");
  });
  s.Post("/workers", [this](const httplib::Request& req, httplib::Response& res) {
    json j = json::parse(req.body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("name") || !j["name"].is_string() ||
        !j.contains("address") || !j["address"].is_string())
      return Fail(res, 400, "body: want {\"name\": ..., \"address\": \"host:port\"}");
    const std::string name = j["name"];
    std::set<std::string> running;
    if (j.contains("running") && j["running"].is_array())
      for (const auto& t : j["running"])
        if (t.is_string()) running.insert(t.get<std::string>());
    absl::MutexLock l(&mu_);
    workers_[name] = {j["address"], absl::Now(), std::move(running)};
    if (leak_per_heartbeat_ > 0) RetainHeartbeat();
    const std::vector<std::string> live = LiveWorkers();
    json mine = json::array();
    for (const auto& [service, n] : services_)
      for (const auto& t : TasksOf(service))
        if (Place(t, live) == name) mine.push_back(t);
    res.set_content(json{{"tasks", mine}}.dump() + "\n", "application/json");
  });
  s.Delete(R"(/services/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[1];
    {
      absl::MutexLock l(&mu_);
      if (!services_.erase(name)) return Fail(res, 404, "no service '" + name + "'");
    }
    if (!req.has_param("from_peer")) {
      for (const auto& peer : peers_) {
        std::string host, base;
        int port = 0;
        if (!common::SplitHttpUrl(peer, &host, &port, &base)) continue;
        httplib::Client c(host, port);
        c.set_connection_timeout(0, 300'000);
        c.Delete(("/services/" + name + "?from_peer=1").c_str());
      }
    }
    res.status = 204;
  });
  s.Get("/status", [this](const httplib::Request&, httplib::Response& res) {
    absl::MutexLock l(&mu_);
    const std::vector<std::string> live = LiveWorkers();
    int64_t tasks = 0, running = 0;
    for (const auto& [service, n] : services_) {
      for (const auto& t : TasksOf(service)) {
        ++tasks;
        const std::string w = Place(t, live);
        if (!w.empty() && workers_[w].running.count(t)) ++running;
      }
    }
    res.set_content(json{{"services", services_.size()},
                         {"tasks", tasks},
                         {"running", running},
                         {"pending", tasks - running},
                         {"workers_live", live.size()}}
                            .dump() +
                        "\n",
                    "application/json");
  });
  s.Get("/workers", [this](const httplib::Request&, httplib::Response& res) {
    absl::MutexLock l(&mu_);
    const absl::Time now = absl::Now();
    json all = json::array();
    for (const auto& [name, w] : workers_)
      all.push_back(
          {{"name", name}, {"address", w.address}, {"live", now - w.last_seen <= worker_timeout_}});
    res.set_content(all.dump() + "\n", "application/json");
  });
}

Worker::Worker(std::string name, std::vector<std::string> managers, absl::Duration task_start)
    : name_(std::move(name)), managers_(std::move(managers)), task_start_(task_start) {}

Worker::~Worker() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (starter_.joinable()) starter_.join();
}

void Worker::StartTasks() {
  while (!stop_) {
    std::string next;
    {
      absl::MutexLock l(&mu_);
      std::set<std::string> given;
      for (const auto& [manager, tasks] : tasks_) given.insert(tasks.begin(), tasks.end());
      // Tasks no manager gives it any more stop; the first given one not running starts.
      for (auto it = running_.begin(); it != running_.end();)
        it = given.count(*it) ? std::next(it) : running_.erase(it);
      for (const auto& t : given) {
        if (!running_.count(t)) {
          next = t;
          break;
        }
      }
    }
    if (next.empty()) {
      absl::SleepFor(absl::Milliseconds(10));
      continue;
    }
    if (task_start_ > absl::ZeroDuration()) absl::SleepFor(task_start_);
    absl::MutexLock l(&mu_);
    running_.insert(next);
  }
}

void Worker::Routes(httplib::Server& s) {
  s.Get(R"(/tasks/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    const std::string task = req.matches[1];
    absl::MutexLock l(&mu_);
    if (running_.count(task)) {
      res.set_content(json{{"task", task}, {"worker", name_}}.dump() + "\n", "application/json");
      return;
    }
    Fail(res, 404, "task " + task + " is not running on worker " + name_);
  });
}

void Worker::Start(const std::string& address) {
  address_ = address;
  starter_ = std::thread([this] { StartTasks(); });
  thread_ = std::thread([this] {
    while (!stop_) {
      Heartbeat();
      absl::SleepFor(absl::Milliseconds(250));
    }
  });
}

void Worker::Heartbeat() {
  json running = json::array();
  {
    absl::MutexLock l(&mu_);
    for (const auto& t : running_) running.push_back(t);
  }
  const std::string body =
      json{{"name", name_}, {"address", address_}, {"running", running}}.dump();
  for (const auto& m : managers_) {
    auto r = PostTo(m, "/workers", body);
    std::set<std::string> tasks;
    if (r && r->status == 200) {
      json j = json::parse(r->body, nullptr, false);
      if (!j.is_discarded() && j.contains("tasks") && j["tasks"].is_array())
        for (const auto& t : j["tasks"])
          if (t.is_string()) tasks.insert(t.get<std::string>());
    }
    // A manager that does not answer keeps its last word: tasks stay until it says otherwise.
    if (r && r->status == 200) {
      absl::MutexLock l(&mu_);
      tasks_[m] = std::move(tasks);
    }
  }
}

}  // namespace perfgate::sample_target
