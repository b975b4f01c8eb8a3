#include "controller/queue/agent_matcher.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"

namespace perfgate::controller {

bool SelectorMatches(const Labels& selector, const Labels& labels) {
  for (const auto& [k, v] : selector) {
    auto it = labels.find(k);
    if (it == labels.end()) return false;
    int64_t want = 0, have = 0;
    if (absl::StartsWith(v, ">=") && absl::SimpleAtoi(v.substr(2), &want)) {
      if (!absl::SimpleAtoi(it->second, &have) || have < want) return false;
    } else if (it->second != v) {
      return false;
    }
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
