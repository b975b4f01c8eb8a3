#include "common/spec/template.h"

#include "gtest/gtest.h"

namespace perfgate::common {
namespace {

TEST(TemplateTest, ExpandsVariablesAndPorts) {
  auto s = ExpandTemplate("http://{host}:{port:api}/x?c={commit}",
                          {{"host", "127.0.0.1"}, {"port:api", "8080"}, {"commit", "abc"}});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, "http://127.0.0.1:8080/x?c=abc");
}

TEST(TemplateTest, LeavesShellComposeAndJsonBracesAlone) {
  std::map<std::string, std::string> vars = {{"workdir", "/w"}};
  EXPECT_EQ(*ExpandTemplate("echo ${HOME} {workdir}", vars), "echo ${HOME} /w");
  EXPECT_EQ(*ExpandTemplate(R"(curl -d '{"a": 1}' {workdir})", vars), R"(curl -d '{"a": 1}' /w)");
  EXPECT_EQ(*ExpandTemplate("a {{workdir} b", vars), "a {workdir} b");
  EXPECT_EQ(*ExpandTemplate("f() { true; }", vars), "f() { true; }");
}

TEST(TemplateTest, UnknownVariableIsNamed) {
  auto s = ExpandTemplate("{nope}", {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("{nope}"), std::string::npos);
}

TEST(TemplateTest, ChecksReferencesAgainstPortsAndBuild) {
  EXPECT_EQ(CheckTemplateReferences("{port:api} {host}", {"api"}, false), "");
  EXPECT_NE(CheckTemplateReferences("{port:db}", {"api"}, false).find("declared: api"),
            std::string::npos);
  EXPECT_NE(CheckTemplateReferences("{srcdir}/x", {}, false).find("build section"),
            std::string::npos);
  EXPECT_EQ(CheckTemplateReferences("{srcdir}/x", {}, true), "");
  EXPECT_NE(CheckTemplateReferences("{workdirr}", {}, true).find("unknown template variable"),
            std::string::npos);
  EXPECT_EQ(TemplateReferences("{a}{port:b}${c}").size(), 2u);
}

TEST(TemplateTest, TestHostsAddTheirVariables) {
  const std::set<std::string> hosts = HostVariables({{"node", 2}, {"db", 1}});
  EXPECT_EQ(hosts, (std::set<std::string>{"index", "hosts:node", "hosts:db", "host:node-1",
                                          "host:node-2", "host:db-1"}));
  EXPECT_EQ(
      CheckTemplateReferences("{host:node-2}:{port:a} {hosts:db} {index}", {"a"}, false, hosts),
      "");
  EXPECT_EQ(CheckTemplateReferences("{host:node-3}", {}, false, hosts),
            "{host:node-3} names no test host of the stack");
  EXPECT_EQ(CheckTemplateReferences("{index}", {}, false),
            "{index} names no test host of the stack (it has none: stack.hosts)");
  auto s =
      ExpandTemplate("{hosts:node}/{host:node-1}", {{"hosts:node", "a,b"}, {"host:node-1", "a"}});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, "a,b/a");
}

}  // namespace
}  // namespace perfgate::common
