#include "agent/load/resp_parser.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace perfgate::agent {
namespace {

constexpr int kMaxDepth = 8;
constexpr int64_t kMaxBulk = 512 << 20;  // Redis's own limit for a string

}  // namespace

void RespParser::Reset() {
  buf_.clear();
  strings_.clear();
  error_reply_ = false;
  error_.clear();
}

RespParser::Result RespParser::Feed(const char* data, size_t n) {
  if (n == 0) {
    error_ = "the server closed the connection";
    return Result::kError;
  }
  buf_.append(data, n);
  strings_.clear();  // parsed afresh from the reply's start
  size_t at = 0;
  if (Value(&at, 0)) {
    if (at != buf_.size()) {
      error_ = "bytes after the reply";
      return Result::kError;
    }
    return Result::kDone;
  }
  return error_.empty() ? Result::kNeedMore : Result::kError;
}

bool RespParser::Line(size_t* at, std::string* line) {
  const size_t end = buf_.find("\r\n", *at);
  if (end == std::string::npos) {
    if (buf_.size() - *at > 64 * 1024) error_ = "a reply line longer than 64 KiB";
    return false;
  }
  *line = buf_.substr(*at, end - *at);
  *at = end + 2;
  return true;
}

bool RespParser::Value(size_t* at, int depth) {
  if (*at >= buf_.size()) return false;
  if (depth > kMaxDepth) {
    error_ = "replies nested deeper than 8";
    return false;
  }
  const char type = buf_[*at];
  size_t p = *at + 1;
  std::string line;
  if (!Line(&p, &line)) return false;
  int64_t n = 0;
  switch (type) {
    case '+':
      if (keep_strings_ && depth <= 1) strings_.push_back(line);
      break;
    case '-':
      if (depth == 0) error_reply_ = true;
      break;
    case ':':
      if (!absl::SimpleAtoi(line, &n)) {
        error_ = "an integer reply that is no integer";
        return false;
      }
      break;
    case '$':
      if (!absl::SimpleAtoi(line, &n) || n < -1 || n > kMaxBulk) {
        error_ = "a bulk string of bad length '" + line + "'";
        return false;
      }
      if (n >= 0) {
        if (buf_.size() < p + static_cast<size_t>(n) + 2) return false;
        if (buf_.compare(p + n, 2, "\r\n") != 0) {
          error_ = "a bulk string not ended by CRLF";
          return false;
        }
        if (keep_strings_ && depth <= 1) strings_.push_back(buf_.substr(p, n));
        p += n + 2;
      }
      break;
    case '*':
      if (!absl::SimpleAtoi(line, &n) || n < -1 || n > 1 << 20) {
        error_ = "an array of bad length '" + line + "'";
        return false;
      }
      for (int64_t i = 0; i < n; ++i)
        if (!Value(&p, depth + 1)) return false;
      break;
    default:
      error_ = absl::StrCat("not a RESP reply (starts with byte ", static_cast<int>(type), ")");
      return false;
  }
  *at = p;
  return true;
}

std::string EncodeRespCommand(const std::vector<std::string>& args) {
  std::string out = absl::StrCat("*", args.size(), "\r\n");
  for (const auto& a : args) absl::StrAppend(&out, "$", a.size(), "\r\n", a, "\r\n");
  return out;
}

}  // namespace perfgate::agent
