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
  // keep_strings: strings() holds the reply's strings (off for the load generator's hot path).
  explicit RespParser(bool keep_strings = false) : keep_strings_(keep_strings) {}

  void Reset();
  // Feeds bytes read from the connection; n == 0 means the peer closed it.
  Result Feed(const char* data, size_t n);
  // After kDone: whether the reply was an error reply ("-ERR ...", "-READONLY ...").
  bool error_reply() const { return error_reply_; }
  const std::string& error() const { return error_; }
  // After kDone, with keep_strings: the reply's simple and bulk strings, the reply's own or its
  // array's elements (not deeper), in order; a null string or array adds nothing.
  const std::vector<std::string>& strings() const { return strings_; }

 private:
  // Parses one value at buf_[*at]; false when it is not all there yet (or malformed: error_).
  bool Value(size_t* at, int depth);
  bool Line(size_t* at, std::string* line);
  std::string buf_;
  const bool keep_strings_;
  std::vector<std::string> strings_;
  bool error_reply_ = false;
  std::string error_;
};

// A command as RESP sends it: an array of bulk strings.
std::string EncodeRespCommand(const std::vector<std::string>& args);

}  // namespace perfgate::agent
