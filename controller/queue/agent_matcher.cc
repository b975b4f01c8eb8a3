#include "controller/queue/agent_matcher.h"

namespace perfgate::controller {

bool SelectorMatches(const Labels& selector, const Labels& labels) {
  for (const auto& [k, v] : selector) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  return true;
}

void IdleAgents::Add(const std::string& name, Labels labels) {
  labels[kAgentNameLabel] = name;
  agents_.push_back({name, std::move(labels), false});
  ++free_;
}

std::optional<std::string> IdleAgents::Take(const Labels& selector) {
  for (Agent& a : agents_) {
    if (a.taken || !SelectorMatches(selector, a.labels)) continue;
    a.taken = true;
    --free_;
    return a.name;
  }
  return std::nullopt;
}

}  // namespace perfgate::controller
