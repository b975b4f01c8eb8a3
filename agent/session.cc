#include "agent/session.h"

#include <algorithm>
#include <random>
#include <thread>

#include "common/log/log.h"

namespace perfgate::agent {

Session::Session(SessionOptions opts, v1::AgentGateway::StubInterface& stub,
                 Executor::ContextFactory ctx, Executor& executor, Uploader& uploader,
                 prometheus::Gauge& connected, prometheus::Counter& reconnects,
                 const common::Clock& clock)
    : opts_(std::move(opts)),
      stub_(stub),
      ctx_(std::move(ctx)),
      executor_(executor),
      uploader_(uploader),
      connected_(connected),
      reconnects_(reconnects),
      clock_(clock),
      heartbeat_(opts_.default_heartbeat) {}

void Session::Stop() {
  absl::MutexLock lock(&mu_);
  stopping_ = true;
  if (session_ctx_) session_ctx_->TryCancel();
}

void Session::Run() {
  std::mt19937_64 rng(std::random_device{}());
  absl::Duration backoff = opts_.reconnect_min;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;
    }
    reconnects_.Increment();
    absl::Time started = clock_.Now();
    RunOnce();
    // A session that lasted a while was healthy: start the backoff over.
    if (clock_.Now() - started > absl::Seconds(30)) backoff = opts_.reconnect_min;
    std::uniform_real_distribution<double> jitter(0.5, 1.5);
    absl::Duration wait = backoff * jitter(rng);
    backoff = std::min(backoff * 2, opts_.reconnect_max);
    absl::MutexLock lock(&mu_);
    auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    mu_.AwaitWithTimeout(absl::Condition(&stop), wait);
  }
}

bool Session::Write(const v1::AgentMessage& m) {
  absl::MutexLock wl(&write_mu_);
  grpc::ClientReaderWriterInterface<v1::AgentMessage, v1::ControllerMessage>* s;
  {
    absl::MutexLock lock(&mu_);
    s = stream_;
  }
  return s != nullptr && s->Write(m);
}

v1::AgentMessage Session::HeartbeatMessage() {
  v1::AgentMessage hb;
  hb.mutable_heartbeat();
  for (auto& h : uploader_.Held()) *hb.mutable_heartbeat()->add_held() = h;
  return hb;
}

void Session::Heartbeats(uint64_t generation) {
  while (true) {
    absl::Duration interval;
    {
      absl::MutexLock lock(&mu_);
      interval = heartbeat_;
      // The controller's HelloAck may shorten the interval after this wait began (the lease
      // could run out before a long default interval passes): start over then.
      auto woken = [this, generation, interval]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || stream_generation_ != generation || heartbeat_ != interval;
      };
      if (mu_.AwaitWithTimeout(absl::Condition(&woken), interval)) {
        if (stopping_ || stream_generation_ != generation) return;
        continue;
      }
    }
    if (!Write(HeartbeatMessage())) return;
  }
}

void Session::OnMessage(const v1::ControllerMessage& msg) {
  if (msg.has_hello_ack()) {
    absl::MutexLock lock(&mu_);
    if (msg.hello_ack().heartbeat_seconds() > 0)
      heartbeat_ = absl::Seconds(msg.hello_ack().heartbeat_seconds());
    spdlog::info("msg=\"session established\" controller={}", msg.hello_ack().controller_id());
  } else if (msg.has_assign()) {
    executor_.Enqueue(msg.assign());
  } else if (msg.has_cancel()) {
    executor_.Cancel(msg.cancel().attempt_id(), msg.cancel().reason());
  } else if (msg.has_drain()) {
    spdlog::info("msg=\"drain\" draining={}", msg.drain().draining());
  }
}

void Session::RunOnce() {
  auto ctx = ctx_(absl::InfiniteDuration());
  // Wait for the channel to connect instead of failing fast while it backs off: the session
  // starts the moment the controller is back.
  ctx->set_wait_for_ready(true);
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    session_ctx_ = ctx.get();
  }
  auto stream = stub_.Session(ctx.get());
  v1::AgentMessage hello_msg;
  v1::Hello* hello = hello_msg.mutable_hello();
  hello->set_name(opts_.name);
  hello->mutable_labels()->insert(opts_.labels.begin(), opts_.labels.end());
  hello->set_capacity(1);
  hello->set_version(opts_.version);
  for (auto& h : uploader_.Held()) *hello->add_held() = h;
  uint64_t generation;
  {
    absl::MutexLock lock(&mu_);
    stream_ = stream.get();
    generation = ++stream_generation_;
  }
  std::thread heartbeat;
  if (Write(hello_msg)) {
    connected_.Set(1);
    heartbeat = std::thread([this, generation] { Heartbeats(generation); });
    v1::ControllerMessage msg;
    while (stream->Read(&msg)) OnMessage(msg);
  }
  {
    absl::MutexLock lock(&mu_);
    ++stream_generation_;  // ends the heartbeat thread
  }
  if (heartbeat.joinable()) heartbeat.join();
  {
    absl::MutexLock wl(&write_mu_);
    absl::MutexLock lock(&mu_);
    stream_ = nullptr;
    session_ctx_ = nullptr;
  }
  grpc::Status s = stream->Finish();
  connected_.Set(0);
  spdlog::warn("msg=\"session ended\" code={} error=\"{}\"", static_cast<int>(s.error_code()),
               s.error_message());
}

}  // namespace perfgate::agent
