#include "common/spec/promql_check.h"

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/process/subprocess.h"

namespace perfgate::common {

std::string SubstituteWindow(const std::string& expr, int64_t window_ms) {
  return absl::StrReplaceAll(expr, {{"[window]", absl::StrCat("[", window_ms, "ms]")}});
}

namespace {

// YAML double-quoted scalar.
std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace

absl::Status CheckPromql(const std::string& promtool,
                         const std::vector<std::pair<std::string, std::string>>& exprs) {
  if (exprs.empty()) return absl::OkStatus();
  char dir_template[] = "/tmp/perfgate-promql-XXXXXX";
  if (!mkdtemp(dir_template)) return absl::InternalError("cannot make a temporary directory");
  std::string dir = dir_template;
  std::string file = dir + "/rules.yml";
  {
    std::ofstream out(file);
    out << "groups:\n  - name: perfgate\n    rules:\n";
    for (size_t i = 0; i < exprs.size(); ++i) {
      out << "      - record: perfgate_q" << i
          << "\n        expr: " << Quote(SubstituteWindow(exprs[i].second, 60'000)) << "\n";
    }
  }
  SpawnOptions o;
  o.argv = {promtool, "check", "rules", file};
  int code = -1;
  auto out = RunAndCapture(o, &code);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (!out.ok())
    return absl::FailedPreconditionError("promtool: " + std::string(out.status().message()));
  if (code == 127)
    return absl::FailedPreconditionError("promtool is not installed (" + promtool + ")");
  if (code == 0) return absl::OkStatus();
  // "... rule 2, "perfgate_q1": could not parse expression: 1:16: parse error: ..."
  static const std::regex kLine(R"re("perfgate_q(\d+)": (?:could not parse expression: )?(.*))re");
  std::smatch m;
  if (std::regex_search(*out, m, kLine)) {
    size_t i = std::stoul(m[1].str());
    if (i < exprs.size()) {
      std::string why = m[2].str();
      if (auto nl = why.find('\n'); nl != std::string::npos) why.resize(nl);
      return absl::InvalidArgumentError(absl::StrCat(exprs[i].first, ": bad PromQL: ", why));
    }
  }
  return absl::InvalidArgumentError("bad PromQL: " + *out);
}

}  // namespace perfgate::common
