// The ssh host pool (agent/hosts/ssh_hosts.h): the pool file read with every field checked, and
// machines handed to one attempt at a time by size.
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "agent/hosts/ssh_hosts.h"
#include "gtest/gtest.h"

namespace perfgate::agent {
namespace {

std::string WritePool(const std::string& yaml) {
  char tmpl[] = "/tmp/perfgate-pool-XXXXXX";
  const int fd = mkstemp(tmpl);
  close(fd);
  std::ofstream(tmpl) << yaml;
  return tmpl;
}

TEST(HostPoolTest, ReadsMachinesAndHandsThemOutBySizeOneAttemptAtATime) {
  const std::string path = WritePool(R"yaml(
hosts:
  - {name: big, address: 10.0.0.1, cpus: 8, memory: 16Gi, labels: {rack: a}}
  - {name: small, address: 10.0.0.2, port: 2222, user: bench, cpus: 1, memory: 1Gi}
  - {name: any, address: lima-w1}
)yaml");
  auto hosts = LoadHostPool(path);
  unlink(path.c_str());
  ASSERT_TRUE(hosts.ok()) << hosts.status();
  ASSERT_EQ(hosts->size(), 3u);
  EXPECT_EQ((*hosts)[1].port, 2222);
  EXPECT_EQ((*hosts)[1].user, "bench");
  EXPECT_EQ((*hosts)[0].memory_bytes, 16ull << 30);
  EXPECT_EQ((*hosts)[0].labels.at("rack"), "a");

  HostPool pool(*hosts);
  // 4 cpus fit only "big" (and "any", which states no size); 1 cpu, the first free.
  auto first = pool.Acquire({{4, 0}, {1, 512u << 20}});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ((*first)[0]->name, "big");
  EXPECT_EQ((*first)[1]->name, "small");
  auto second = pool.Acquire({{4, 0}, {4, 0}});
  EXPECT_TRUE(absl::IsResourceExhausted(second.status())) << "big is taken; one machine left";
  EXPECT_NE(second.status().message().find("no free machine for host 2 of 2 (4 cpus"),
            std::string::npos)
      << second.status();
  auto third = pool.Acquire({{4, 0}});
  ASSERT_TRUE(third.ok()) << "the failed request took nothing: " << third.status();
  EXPECT_EQ((*third)[0]->name, "any");
  pool.Release(*first);
  auto again = pool.Acquire({{8, 16ull << 30}});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)[0]->name, "big") << "released";
}

TEST(HostPoolTest, ShellWordsAreQuotedOnlyWhereTheyNeedIt) {
  EXPECT_EQ(ShellQuote("/tmp/perfgate-hosts/p1a2/worker-1/src"),
            "/tmp/perfgate-hosts/p1a2/worker-1/src");
  EXPECT_EQ(ShellQuote("a b"), "'a b'");
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
  EXPECT_EQ(ShellQuote(""), "''");
  EXPECT_EQ(ShellQuote("$(rm -rf /)"), "'$(rm -rf /)'");
}

}  // namespace
}  // namespace perfgate::agent
