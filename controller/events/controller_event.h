// The controller's events between replicas, and their one wire form: the payload of a NOTIFY on
// the PostgreSQL channel kEventsChannel. The stores send them inside their transactions (so an
// event is seen only once what it announces has committed); every replica's listener decodes
// them and wakes its own components.
//   work                 something became claimable
//   run:<run id>         a run's state changed
//   stop:<attempt>:<agent>  an attempt was cancelled; whoever holds the agent's session stops it
//   outbox               a report to a forge became due (sent by the database's trigger)
//   *                    anything may have changed (sent after the listener reconnects)
// Pure; safe anywhere.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace perfgate::controller {

inline constexpr char kEventsChannel[] = "perfgate_events";

struct ControllerEvent {
  enum class Kind { kWork, kRunChanged, kStopAttempt, kOutbox, kAnything };
  Kind kind = Kind::kWork;
  int64_t run_id = 0;      // kRunChanged
  int64_t attempt_id = 0;  // kStopAttempt
  std::string agent;       // kStopAttempt

  static ControllerEvent Of(Kind kind) {
    ControllerEvent e;
    e.kind = kind;
    return e;
  }
  static ControllerEvent Work() { return Of(Kind::kWork); }
  static ControllerEvent Outbox() { return Of(Kind::kOutbox); }
  static ControllerEvent RunChanged(int64_t run_id) {
    ControllerEvent e = Of(Kind::kRunChanged);
    e.run_id = run_id;
    return e;
  }
  static ControllerEvent StopAttempt(int64_t attempt_id, std::string agent) {
    ControllerEvent e = Of(Kind::kStopAttempt);
    e.attempt_id = attempt_id;
    e.agent = std::move(agent);
    return e;
  }
};

std::string EncodeEvent(const ControllerEvent& e);

// nullopt for a payload that is none of the forms above: anyone who can reach the database can
// NOTIFY, so a malformed payload is ignored, never trusted.
std::optional<ControllerEvent> DecodeEvent(absl::string_view payload);

}  // namespace perfgate::controller
