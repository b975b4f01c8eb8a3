// Incremental parser of one HTTP/1.1 response (status line, headers, and a body framed by
// Content-Length, chunked encoding, or the end of the connection). Not thread-safe.
#pragma once

#include <cstdint>
#include <string>

namespace perfgate::agent {

class HttpResponseParser {
 public:
  enum class Result { kNeedMore, kDone, kError };

  // Starts on a new response; `head_request`: the response has no body whatever it says.
  void Reset(bool head_request = false);
  // Feeds bytes read from the connection; n == 0 means the peer closed it.
  Result Feed(const char* data, size_t n);

  int status() const { return status_; }
  bool keep_alive() const { return keep_alive_; }
  const std::string& error() const { return error_; }

 private:
  Result Parse();
  Result Fail(std::string why);
  enum class State { kHead, kBody, kChunkSize, kChunkData, kChunkEnd, kTrailer, kToClose, kDone };
  State state_ = State::kHead;
  std::string buf_;
  int status_ = 0;
  bool keep_alive_ = true;
  bool head_request_ = false;
  int64_t remaining_ = 0;
  std::string error_;
};

}  // namespace perfgate::agent
