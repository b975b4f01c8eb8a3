// The one JSON form of our protos (CLI `-o json`, `perfgate report --format json`, webhook
// bodies): the proto3 JSON mapping with field names as written in the .proto files and every
// field present, so scripts see a stable shape.
#pragma once

#include <google/protobuf/message.h>

#include <string>

namespace perfgate::common {

// `pretty`: indented, for people and files; otherwise one line (HTTP bodies).
std::string ProtoToJson(const google::protobuf::Message& m, bool pretty = true);

// SHA-256 (hex) of the message's deterministic binary serialization: equal messages, equal
// digests (an idempotent request's fingerprint).
std::string ProtoDigest(const google::protobuf::Message& m);

}  // namespace perfgate::common
