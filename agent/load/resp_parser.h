// Incremental parser of one Redis reply (RESP2: simple strings, errors, integers, bulk strings
// and arrays, nested) and the encoder of a command, for the load generator's redis protocol.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace perfgate::agent {

class RespParser {
 public:
  enum class Result { kNeedMore, kDone, kError };

  void Reset();
  // Feeds bytes read from the connection; n == 0 means the peer closed it.
  Result Feed(const char* data, size_t n);
  // After kDone: whether the reply was an error reply ("-ERR ...", "-READONLY ...").
  bool error_reply() const { return error_reply_; }
  const std::string& error() const { return error_; }

 private:
  // Parses one value at buf_[*at]; false when it is not all there yet (or malformed: error_).
  bool Value(size_t* at, int depth);
  bool Line(size_t* at, std::string* line);
  std::string buf_;
  bool error_reply_ = false;
  std::string error_;
};

// A command as RESP sends it: an array of bulk strings.
std::string EncodeRespCommand(const std::vector<std::string>& args);

}  // namespace perfgate::agent
