// The one JSON form of our protos (CLI `-o json`, `perfgate report --format json`, webhook
// bodies): the proto3 JSON mapping with field names as written in the .proto files and every
// field present, so scripts see a stable shape.
#pragma once

#include <google/protobuf/message.h>

#include <string>

namespace perfgate::common {

// `pretty`: indented, for people and files; otherwise one line (HTTP bodies).
std::string ProtoToJson(const google::protobuf::Message& m, bool pretty = true);

}  // namespace perfgate::common
