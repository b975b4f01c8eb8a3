#include "controller/queue/agent_matcher.h"

#include "gtest/gtest.h"

namespace perfgate::controller {
namespace {

Labels L(std::initializer_list<std::pair<const std::string, std::string>> kv) {
  Labels l;
  for (const auto& [k, v] : kv) l[k] = v;
  return l;
}

TEST(AgentMatcherTest, EverySelectorLabelMustMatch) {
  EXPECT_TRUE(SelectorMatches(L({}), L({{"class", "metal"}})));
  EXPECT_TRUE(SelectorMatches(L({{"class", "metal"}}), L({{"class", "metal"}, {"os", "x"}})));
  EXPECT_FALSE(SelectorMatches(L({{"class", "metal"}}), L({{"class", "vm"}})));
  EXPECT_FALSE(SelectorMatches(L({{"class", "metal"}, {"gpu", "1"}}), L({{"class", "metal"}})));
}

TEST(AgentMatcherTest, AMinimumAsksForANumberAtLeastThatLarge) {
  const Labels thirteen = L({{"topology.max_hosts", ">=13"}});
  EXPECT_TRUE(SelectorMatches(thirteen, L({{"topology.max_hosts", "250"}})));
  EXPECT_TRUE(SelectorMatches(thirteen, L({{"topology.max_hosts", "13"}})));
  EXPECT_FALSE(SelectorMatches(thirteen, L({{"topology.max_hosts", "8"}})));
  EXPECT_FALSE(SelectorMatches(thirteen, L({{"topology.max_hosts", "many"}})));
  EXPECT_FALSE(SelectorMatches(thirteen, L({})));
  // A value that is no minimum is compared as it is.
  EXPECT_TRUE(SelectorMatches(L({{"op", ">=x"}}), L({{"op", ">=x"}})));
}

TEST(AgentMatcherTest, EachAgentTakesOneJobInPreferenceOrder) {
  IdleAgents idle;
  idle.Add("a1", L({{"class", "vm"}}));
  idle.Add("a2", L({{"class", "metal"}}));
  idle.Add("a3", L({{"class", "metal"}}));
  EXPECT_EQ(idle.free(), 3u);
  EXPECT_EQ(idle.Take(L({{"class", "metal"}})), "a2") << "the first that matches";
  EXPECT_EQ(idle.Take(L({{"class", "metal"}})), "a3") << "a2 is taken";
  EXPECT_EQ(idle.Take(L({{"class", "metal"}})), std::nullopt);
  EXPECT_EQ(idle.Take(L({})), "a1");
  EXPECT_EQ(idle.free(), 0u);
  EXPECT_EQ(idle.size(), 3u);
}

TEST(AgentMatcherTest, EveryAgentCarriesItsOwnName) {
  IdleAgents idle;
  idle.Add("a1", L({}));
  idle.Add("a2", L({{kAgentNameLabel, "spoofed"}}));
  EXPECT_EQ(idle.Take(L({{kAgentNameLabel, "a2"}})), "a2")
      << "the name label is not the agent's to set";
  EXPECT_EQ(idle.Take(L({{kAgentNameLabel, "spoofed"}})), std::nullopt);
}

}  // namespace
}  // namespace perfgate::controller
