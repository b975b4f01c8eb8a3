#include "common/http/url.h"

#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace perfgate::common {

bool SplitHttpUrl(const std::string& url, std::string* host, int* port, std::string* path) {
  absl::string_view u = url;
  if (!absl::ConsumePrefix(&u, "http://")) return false;
  size_t slash = u.find('/');
  absl::string_view hostport = u.substr(0, slash);
  *path = slash == absl::string_view::npos ? "/" : std::string(u.substr(slash));
  size_t colon = hostport.rfind(':');
  *port = 80;
  if (colon != absl::string_view::npos) {
    if (!absl::SimpleAtoi(hostport.substr(colon + 1), port) || *port <= 0 || *port > 65535)
      return false;
    hostport = hostport.substr(0, colon);
  }
  *host = std::string(hostport);
  return !host->empty();
}

}  // namespace perfgate::common
