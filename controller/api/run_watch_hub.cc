#include "controller/api/run_watch_hub.h"

#include "common/status/grpc_status.h"
#include "controller/queue/job_state.h"

namespace perfgate::controller {
namespace {
constexpr size_t kMaxQueued = 2000;  // events waiting for a slow client before we pause it
constexpr int kLogPage = 1000;
}  // namespace

// What the hub thread and the reactor share. The reactor pointer is cleared in OnDone.
struct RunWatchHub::State {
  v1::WatchRunRequest req;
  absl::Mutex mu;
  Stream* stream ABSL_GUARDED_BY(mu) = nullptr;
  std::deque<v1::RunEvent> queue ABSL_GUARDED_BY(mu);
  bool writing ABSL_GUARDED_BY(mu) = false;
  bool finishing ABSL_GUARDED_BY(mu) = false;  // finish once the queue is written
  bool finished ABSL_GUARDED_BY(mu) = false;
  grpc::Status final_status ABSL_GUARDED_BY(mu);
  // Only the hub thread touches these.
  std::string last_run;
  int64_t cursor = 0;
};

class RunWatchHub::Stream : public grpc::ServerWriteReactor<v1::RunEvent> {
 public:
  Stream(RunWatchHub* hub, std::shared_ptr<State> st) : hub_(hub), st_(std::move(st)) {
    absl::MutexLock lock(&st_->mu);
    st_->stream = this;
  }
  // Queues events and, if `finish`, the end of the stream with `status`. Hub thread.
  static void Push(const std::shared_ptr<State>& st, std::vector<v1::RunEvent> events, bool finish,
                   const grpc::Status& status) {
    absl::MutexLock lock(&st->mu);
    if (st->finished || !st->stream) return;
    for (auto& e : events) st->queue.push_back(std::move(e));
    if (finish && !st->finishing) {
      st->finishing = true;
      st->final_status = status;
    }
    st->stream->Pump();
  }
  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&st_->mu);
    st_->writing = false;
    if (!ok) {  // the client went away
      st_->queue.clear();
      st_->finishing = true;
      st_->final_status = grpc::Status::CANCELLED;
    } else {
      st_->queue.pop_front();
    }
    Pump();
  }
  void OnCancel() override {
    absl::MutexLock lock(&st_->mu);
    st_->queue.clear();
    if (!st_->finishing) {
      st_->finishing = true;
      st_->final_status = grpc::Status::CANCELLED;
    }
    Pump();
  }
  void OnDone() override {
    {
      absl::MutexLock lock(&st_->mu);
      st_->stream = nullptr;
    }
    {
      absl::MutexLock lock(&hub_->mu_);
      hub_->watches_.erase(st_);
    }
    delete this;
  }

 private:
  // Starts the next write, or finishes. Requires st_->mu.
  void Pump() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if (st_->writing || st_->finished) return;
    if (!st_->queue.empty()) {
      st_->writing = true;
      StartWrite(&st_->queue.front());
    } else if (st_->finishing) {
      st_->finished = true;
      Finish(st_->final_status);
    }
  }

  RunWatchHub* hub_;
  std::shared_ptr<State> st_;
};

RunWatchHub::RunWatchHub(JobStore& jobs, EventBus& runs) : jobs_(jobs), runs_(runs) {
  thread_ = std::thread([this] { Loop(); });
}

RunWatchHub::~RunWatchHub() { Stop(); }

grpc::ServerWriteReactor<v1::RunEvent>* RunWatchHub::Watch(const v1::WatchRunRequest& req) {
  auto st = std::make_shared<State>();
  st->req = req;
  st->cursor = req.after_log_id();
  auto* stream = new Stream(this, st);
  {
    absl::MutexLock lock(&mu_);
    watches_.insert(st);
  }
  runs_.Notify();  // poll the new watch at once
  return stream;
}

void RunWatchHub::Stop() {
  std::set<std::shared_ptr<State>> all;
  {
    absl::MutexLock lock(&mu_);
    if (stop_) return;
    stop_ = true;
    all = watches_;
  }
  runs_.Notify();
  if (thread_.joinable()) thread_.join();
  for (const auto& w : all)
    Stream::Push(w, {}, true, grpc::Status(grpc::StatusCode::UNAVAILABLE, "shutting down"));
}

void RunWatchHub::Loop() {
  while (true) {
    uint64_t seen = runs_.generation();
    std::vector<std::shared_ptr<State>> todo;
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return;
      todo.assign(watches_.begin(), watches_.end());
    }
    for (const auto& w : todo) Poll(w);
    runs_.WaitForChange(seen, absl::Seconds(1));
  }
}

void RunWatchHub::Poll(const std::shared_ptr<State>& w) {
  {
    absl::MutexLock lock(&w->mu);
    if (w->finishing || w->queue.size() >= kMaxQueued) return;  // done, or a slow reader
  }
  auto run = jobs_.GetRun(w->req.id());
  if (!run.ok()) {
    Stream::Push(w, {}, true, common::ToGrpcStatus(run.status()));
    return;
  }
  std::vector<v1::RunEvent> events;
  std::string snapshot = run->SerializeAsString();
  if (snapshot != w->last_run) {
    events.emplace_back();
    *events.back().mutable_run() = *run;
    w->last_run = std::move(snapshot);
  }
  bool logs_drained = true;
  if (w->req.logs()) {
    auto logs = jobs_.GetRunLogs(w->req.id(), w->cursor, kLogPage);
    if (!logs.ok()) {
      Stream::Push(w, std::move(events), true, common::ToGrpcStatus(logs.status()));
      return;
    }
    for (const auto& c : logs->chunks()) {
      events.emplace_back();
      *events.back().mutable_log() = c;
    }
    w->cursor = logs->last_id();
    logs_drained = logs->chunks_size() < kLogPage;
    if (!logs_drained) runs_.Notify();  // more to send: come back at once
  }
  // Logs are uploaded before completion, so a run that has ended has all of them stored.
  bool done = IsTerminal(run->state()) && logs_drained;
  Stream::Push(w, std::move(events), done, grpc::Status::OK);
}

}  // namespace perfgate::controller
