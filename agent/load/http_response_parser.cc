#include "agent/load/http_response_parser.h"

#include <strings.h>

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace perfgate::agent {
namespace {
constexpr size_t kMaxHead = 64 * 1024;
}  // namespace

void HttpResponseParser::Reset(bool head_request) {
  state_ = State::kHead;
  buf_.clear();
  status_ = 0;
  keep_alive_ = true;
  head_request_ = head_request;
  remaining_ = 0;
  error_.clear();
}

HttpResponseParser::Result HttpResponseParser::Fail(std::string why) {
  error_ = std::move(why);
  keep_alive_ = false;
  return Result::kError;
}

HttpResponseParser::Result HttpResponseParser::Feed(const char* data, size_t n) {
  if (n == 0) {  // the peer closed the connection
    keep_alive_ = false;
    if (state_ == State::kToClose) {
      state_ = State::kDone;
      return Result::kDone;
    }
    return state_ == State::kDone ? Result::kDone : Fail("connection closed mid-response");
  }
  buf_.append(data, n);
  return Parse();
}

HttpResponseParser::Result HttpResponseParser::Parse() {
  while (true) {
    switch (state_) {
      case State::kHead: {
        size_t end = buf_.find("\r\n\r\n");
        if (end == std::string::npos) {
          if (buf_.size() > kMaxHead) return Fail("response head larger than 64 KiB");
          return Result::kNeedMore;
        }
        std::vector<absl::string_view> lines =
            absl::StrSplit(absl::string_view(buf_).substr(0, end), "\r\n");
        absl::string_view status_line = lines[0];
        bool http10 = absl::StartsWith(status_line, "HTTP/1.0");
        if (!absl::StartsWith(status_line, "HTTP/1.") || status_line.size() < 12 ||
            !absl::SimpleAtoi(status_line.substr(9, 3), &status_)) {
          return Fail("malformed status line");
        }
        keep_alive_ = !http10;
        bool chunked = false;
        int64_t length = -1;
        for (size_t i = 1; i < lines.size(); ++i) {
          auto colon = lines[i].find(':');
          if (colon == absl::string_view::npos) continue;
          absl::string_view name = lines[i].substr(0, colon);
          absl::string_view value = absl::StripAsciiWhitespace(lines[i].substr(colon + 1));
          if (absl::EqualsIgnoreCase(name, "content-length")) {
            if (!absl::SimpleAtoi(value, &length) || length < 0)
              return Fail("malformed Content-Length");
          } else if (absl::EqualsIgnoreCase(name, "transfer-encoding")) {
            chunked = absl::StrContains(absl::AsciiStrToLower(value), "chunked");
          } else if (absl::EqualsIgnoreCase(name, "connection")) {
            std::string v = absl::AsciiStrToLower(value);
            if (v == "close") keep_alive_ = false;
            if (v == "keep-alive") keep_alive_ = true;
          }
        }
        buf_.erase(0, end + 4);
        bool no_body = head_request_ || status_ / 100 == 1 || status_ == 204 || status_ == 304;
        if (no_body) {
          state_ = State::kDone;
        } else if (chunked) {
          state_ = State::kChunkSize;
        } else if (length >= 0) {
          remaining_ = length;
          state_ = State::kBody;
        } else {
          keep_alive_ = false;
          state_ = State::kToClose;
        }
        break;
      }
      case State::kBody: {
        int64_t take = std::min<int64_t>(remaining_, buf_.size());
        buf_.erase(0, take);
        remaining_ -= take;
        if (remaining_ > 0) return Result::kNeedMore;
        state_ = State::kDone;
        break;
      }
      case State::kChunkSize: {
        size_t eol = buf_.find("\r\n");
        if (eol == std::string::npos)
          return buf_.size() > 1024 ? Fail("chunk size line too long") : Result::kNeedMore;
        std::string size_text = buf_.substr(0, std::min(eol, buf_.find(';')));
        char* endp = nullptr;
        long long size = std::strtoll(size_text.c_str(), &endp, 16);
        if (size_text.empty() || endp == size_text.c_str() || size < 0)
          return Fail("malformed chunk size");
        buf_.erase(0, eol + 2);
        remaining_ = size;
        state_ = size == 0 ? State::kTrailer : State::kChunkData;
        break;
      }
      case State::kChunkData: {
        int64_t take = std::min<int64_t>(remaining_, buf_.size());
        buf_.erase(0, take);
        remaining_ -= take;
        if (remaining_ > 0) return Result::kNeedMore;
        state_ = State::kChunkEnd;
        break;
      }
      case State::kChunkEnd:
        if (buf_.size() < 2) return Result::kNeedMore;
        if (buf_.compare(0, 2, "\r\n") != 0) return Fail("chunk not followed by CRLF");
        buf_.erase(0, 2);
        state_ = State::kChunkSize;
        break;
      case State::kTrailer: {
        size_t eol = buf_.find("\r\n");
        if (eol == std::string::npos) return Result::kNeedMore;
        buf_.erase(0, eol + 2);
        if (eol == 0) state_ = State::kDone;
        break;
      }
      case State::kToClose:
        buf_.clear();
        return Result::kNeedMore;
      case State::kDone:
        return Result::kDone;
    }
  }
}

}  // namespace perfgate::agent
