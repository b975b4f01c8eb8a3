// Small conversions between PostgreSQL values and our protos, shared by the Pg* stores.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <google/protobuf/timestamp.pb.h>
#include <pqxx/pqxx>

namespace perfgate::controller {

// A nullable float8 epoch (extract(epoch from ts)) into a Timestamp; NULL leaves it unset.
void SetTimestamp(const pqxx::field& f, google::protobuf::Timestamp* ts);

std::string LabelsToJson(const google::protobuf::Map<std::string, std::string>& labels);
void LabelsFromJson(const std::string& json, google::protobuf::Map<std::string, std::string>* out);

// "{1,2,3}": a bigint[] literal for a ::bigint[] parameter.
std::string BigintArray(const std::vector<int64_t>& v);

inline std::string StrOrEmpty(const pqxx::field& f) { return f.is_null() ? std::string() : f.as<std::string>(); }

}  // namespace perfgate::controller
