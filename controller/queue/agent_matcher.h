// Which idle agent takes which job: a job's agent_selector (key=value labels) must all be among
// the agent's labels; a selector value ">=N" asks for a label that is a number of at least N
// (capacity: a stack of 13 test hosts selects topology.max_hosts ">=13"). Every agent also carries
// its own name as the label kAgentNameLabel, so a job can be pinned to one machine (confirmation
// runs measure both commits on the candidate's). Pure; the queue store (store/pg_job_claims.cc)
// feeds it the idle agents of one claim. Not thread-safe: one per claim transaction.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "google/protobuf/map.h"

namespace perfgate::controller {

using Labels = google::protobuf::Map<std::string, std::string>;

inline constexpr char kAgentNameLabel[] = "perfgate.agent";

// Whether every key=value of `selector` is among `labels` (">=N": at least N).
bool SelectorMatches(const Labels& selector, const Labels& labels);

// The idle agents of one claim, in the order they should be preferred (longest idle first);
// each takes at most one job.
class IdleAgents {
 public:
  // Adds an agent with its own labels; the implicit name label is added here.
  void Add(const std::string& name, Labels labels);
  // The first agent not yet taken whose labels satisfy `selector`, now taken; nullopt if none.
  std::optional<std::string> Take(const Labels& selector);
  size_t size() const { return agents_.size(); }
  size_t free() const { return free_; }

 private:
  struct Agent {
    std::string name;
    Labels labels;
    bool taken = false;
  };
  std::vector<Agent> agents_;
  size_t free_ = 0;
};

}  // namespace perfgate::controller
