// The words of a fault schedule (proto FaultSpec, docs/faults.md), shared by the suite parser,
// the run spec's rules, the agent that fires the faults and the CLI and pages that show them:
// the action names, the default fault name, and one line saying what a fault did
// (perfgate.v1.FaultRecord): "kill-leader: kill etcd on etcd-2 at +5002 ms (scheduled
// +5000 ms; leader probe answered 'etcd-2'), undone at +9001 ms, recovered 1300 ms after it".
#pragma once

#include <string>

#include "perfgate/v1/results.pb.h"
#include "perfgate/v1/suite.pb.h"

namespace perfgate::common {

// "kill", "pause", "partition", "netem": the proto enum's name without ACTION_, in lower case;
// "" for ACTION_UNSPECIFIED or a number no enum value has.
std::string FaultActionWord(v1::FaultSpec::Action a);
// The action a suite names with `word`; false when it names none.
bool ParseFaultAction(const std::string& word, v1::FaultSpec::Action* out);
// The name a fault's results go under: its own, or ACTION-N (N its 1-based place).
std::string FaultName(const v1::FaultSpec& f, int index);

std::string FaultText(const v1::FaultRecord& f);

}  // namespace perfgate::common
