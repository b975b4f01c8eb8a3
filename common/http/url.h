// Plain http:// URLs as the HTTP client wants them: host, port and path apart.
#pragma once

#include <string>

namespace perfgate::common {

// Splits "http://host:port/path" (port default 80, path default /). False if malformed (not
// http://, no host, a port outside 1..65535).
bool SplitHttpUrl(const std::string& url, std::string* host, int* port, std::string* path);

}  // namespace perfgate::common
