#include "controller/gateway/agent_session.h"

namespace perfgate::controller {

bool SessionRef::Send(const v1::ControllerMessage& msg) {
  absl::MutexLock lock(&mu_);
  return session_ != nullptr && session_->Send(msg);
}

void SessionRef::Close(const grpc::Status& status) {
  close_requested_ = true;
  absl::MutexLock lock(&mu_);
  if (session_) session_->Close(status);
}

AgentSession::AgentSession(uint64_t id, std::string bound_agent, SessionEvents* events,
                           std::function<void()> on_done)
    : ref_(new SessionRef(id, std::move(bound_agent))),
      events_(events),
      on_done_(std::move(on_done)) {
  {
    absl::MutexLock lock(&ref_->mu_);
    ref_->session_ = this;
  }
  StartRead(&in_);
}

void AgentSession::OnReadDone(bool ok) {
  if (!ok) {
    // The agent half-closed or the stream broke: finish once pending writes are out.
    absl::MutexLock lock(&mu_);
    reads_done_ = true;
    FinishLocked(grpc::Status::OK);
    return;
  }
  events_->OnMessage(ref_, std::move(in_));
  in_.Clear();
  StartRead(&in_);
}

bool AgentSession::Send(const v1::ControllerMessage& msg) {
  absl::MutexLock lock(&mu_);
  if (finished_ || pending_finish_) return false;
  out_.push_back(msg);
  if (!writing_) {
    writing_ = true;
    StartWrite(&out_.front());
  }
  return true;
}

void AgentSession::OnWriteDone(bool ok) {
  absl::MutexLock lock(&mu_);
  out_.pop_front();
  writing_ = false;
  if (!ok) {
    out_.clear();
    FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
    return;
  }
  if (!out_.empty() && !finished_) {
    writing_ = true;
    StartWrite(&out_.front());
  } else if (pending_finish_ && !finished_) {
    finished_ = true;
    Finish(*pending_finish_);
  }
}

void AgentSession::Close(const grpc::Status& status) {
  absl::MutexLock lock(&mu_);
  FinishLocked(status);
}

void AgentSession::FinishLocked(const grpc::Status& status) {
  if (finished_) return;
  if (writing_) {
    if (!pending_finish_) pending_finish_ = status;  // after the write in flight
    return;
  }
  finished_ = true;
  Finish(status);
}

void AgentSession::OnDone() {
  {
    absl::MutexLock lock(&ref_->mu_);
    ref_->session_ = nullptr;
  }
  events_->OnClosed(ref_);
  if (on_done_) on_done_();
  delete this;
}

}  // namespace perfgate::controller
