// {variable} templates in suite files (see proto/perfgate/v1/suite.proto for the variables).
// A reference is `{name}` or `{port:NAME}` with name characters [A-Za-z0-9_.-]; `{{` stands for
// a literal `{`; `${...}` is left alone (shell and compose syntax), as is any `{` not starting a
// well-formed reference (JSON in a command line, say).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace perfgate::common {

// The variables referenced by `text`, in order (with repeats): "srcdir", "port:api", ...
std::vector<std::string> TemplateReferences(const std::string& text);

// The variables a benchmark job may use besides {port:NAME}.
inline constexpr const char* kTemplateVariables[] = {"host",   "workdir", "srcdir",
                                                     "commit", "run_id",  "attempt_id"};

// Checks that every reference in `text` can be filled in for a job that declares `ports` and
// has (or lacks) a build section; `hosts` are the variables its test hosts add ({index},
// {hosts:ROLE}, {host:ROLE-N}: HostVariables). Returns the problem, or "" when fine.
std::string CheckTemplateReferences(const std::string& text, const std::set<std::string>& ports,
                                    bool has_build, const std::set<std::string>& hosts = {});

// The template variables test hosts of these roles (role -> count) add: "index",
// "hosts:ROLE", and "host:ROLE-N" for each host.
std::set<std::string> HostVariables(const std::map<std::string, uint32_t>& roles);

// Replaces the {param:NAME} references (a suite's parameters, filled in when the suite is read,
// before any other variable) and leaves the rest, `{{` included, as it was. INVALID_ARGUMENT
// naming the first parameter `params` lacks.
absl::StatusOr<std::string> ExpandParams(const std::string& text,
                                         const std::map<std::string, std::string>& params);

// Replaces every reference with vars.at(name). INVALID_ARGUMENT naming the first unknown one.
absl::StatusOr<std::string> ExpandTemplate(const std::string& text,
                                           const std::map<std::string, std::string>& vars);

}  // namespace perfgate::common
