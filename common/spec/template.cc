#include "common/spec/template.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"

namespace perfgate::common {
namespace {

bool NameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
}

// Walks `text`, calling `ref(name)` for each reference and `lit(piece)` for literal text.
template <typename Ref, typename Lit>
void Walk(const std::string& text, Ref ref, Lit lit) {
  size_t i = 0, n = text.size();
  while (i < n) {
    char c = text[i];
    if (c == '{' && i + 1 < n && text[i + 1] == '{') {
      lit(std::string("{"));
      i += 2;
      continue;
    }
    if (c == '{' && (i == 0 || text[i - 1] != '$')) {
      size_t j = i + 1;
      // A "port:", "host:", "hosts:" or "param:" prefix, then a name.
      for (const char* prefix : {"port:", "host:", "hosts:", "param:"}) {
        const size_t len = std::char_traits<char>::length(prefix);
        if (text.compare(j, len, prefix) == 0) {
          j += len;
          break;
        }
      }
      size_t name_start = j;
      while (j < n && NameChar(text[j])) ++j;
      if (j < n && text[j] == '}' && j > name_start) {
        ref(text.substr(i + 1, j - i - 1));
        i = j + 1;
        continue;
      }
    }
    lit(std::string(1, c));
    ++i;
  }
}

}  // namespace

std::vector<std::string> TemplateReferences(const std::string& text) {
  std::vector<std::string> out;
  Walk(
      text, [&](const std::string& name) { out.push_back(name); }, [](const std::string&) {});
  return out;
}

std::set<std::string> HostVariables(const std::map<std::string, uint32_t>& roles) {
  std::set<std::string> out;
  if (!roles.empty()) out.insert("index");
  for (const auto& [role, count] : roles) {
    out.insert("hosts:" + role);
    for (uint32_t i = 1; i <= count; ++i) out.insert("host:" + role + "-" + std::to_string(i));
  }
  return out;
}

std::string CheckTemplateReferences(const std::string& text, const std::set<std::string>& ports,
                                    bool has_build, const std::set<std::string>& hosts) {
  for (const std::string& ref : TemplateReferences(text)) {
    if (hosts.count(ref)) continue;
    if (ref.rfind("host:", 0) == 0 || ref.rfind("hosts:", 0) == 0 || ref == "index") {
      return "{" + ref + "} names no test host of the stack" +
             (hosts.empty() ? std::string(" (it has none: stack.hosts)") : "");
    }
    if (ref.rfind("port:", 0) == 0) {
      if (!ports.count(ref.substr(5))) {
        return "{" + ref + "} names a port no service declares (declared: " +
               (ports.empty() ? std::string("none") : absl::StrJoin(ports, ", ")) + ")";
      }
      continue;
    }
    if (ref.rfind("param:", 0) == 0)
      return "{" + ref + "} names no parameter of the suite (params: or the tier's)";
    bool known = false;
    for (const char* v : kTemplateVariables) known = known || ref == v;
    if (!known) {
      return "unknown template variable {" + ref +
             "} (known: " + absl::StrJoin(kTemplateVariables, ", ") + ", port:NAME)";
    }
    if (ref == "srcdir" && !has_build)
      return "{srcdir} is only defined when the job has a build section";
  }
  return "";
}

absl::StatusOr<std::string> ExpandTemplate(const std::string& text,
                                           const std::map<std::string, std::string>& vars) {
  std::string out;
  std::string missing;
  Walk(
      text,
      [&](const std::string& name) {
        auto it = vars.find(name);
        if (it == vars.end()) {
          if (missing.empty()) missing = name;
          return;
        }
        out += it->second;
      },
      [&](const std::string& piece) { out += piece; });
  if (!missing.empty()) {
    return absl::InvalidArgumentError("unknown template variable {" + missing + "} in '" + text +
                                      "'");
  }
  return out;
}

absl::StatusOr<std::string> ExpandParams(const std::string& text,
                                         const std::map<std::string, std::string>& params) {
  if (text.find("{param:") == std::string::npos) return text;
  std::string out;
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    if (text.compare(i, 2, "{{") == 0) {  // stays escaped for the agent's expansion
      out += "{{";
      i += 2;
      continue;
    }
    if (text.compare(i, 7, "{param:") == 0 && (i == 0 || text[i - 1] != '$')) {
      size_t j = i + 7;
      while (j < n && NameChar(text[j])) ++j;
      if (j < n && text[j] == '}' && j > i + 7) {
        const std::string name = text.substr(i + 7, j - i - 7);
        auto it = params.find(name);
        if (it == params.end()) {
          std::vector<std::string> known;
          for (const auto& [k, v] : params) known.push_back(k);
          return absl::InvalidArgumentError(
              "{param:" + name + "} is not a parameter of the suite (known: " +
              (known.empty() ? std::string("none; set them in params: or a tier")
                             : absl::StrJoin(known, ", ")) +
              ")");
        }
        out += it->second;
        i = j + 1;
        continue;
      }
    }
    out += text[i++];
  }
  return out;
}

}  // namespace perfgate::common
