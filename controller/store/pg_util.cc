#include "controller/store/pg_util.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "absl/strings/str_join.h"

namespace perfgate::controller {

void SetTimestamp(const pqxx::field& f, google::protobuf::Timestamp* ts) {
  if (f.is_null()) return;
  double secs = f.as<double>();
  double whole = std::floor(secs);
  ts->set_seconds(static_cast<int64_t>(whole));
  ts->set_nanos(static_cast<int32_t>((secs - whole) * 1e9));
}

std::string LabelsToJson(const google::protobuf::Map<std::string, std::string>& labels) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : labels) j[k] = v;
  return j.dump();
}

void LabelsFromJson(const std::string& json, google::protobuf::Map<std::string, std::string>* out) {
  auto j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return;
  for (const auto& [k, v] : j.items()) {
    if (v.is_string()) (*out)[k] = v.get<std::string>();
  }
}

std::string TextArray(const std::vector<std::string>& v) {
  std::string out = "{";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ",";
    out += '"';
    for (char c : v[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

std::string BigintArray(const std::vector<int64_t>& v) { return "{" + absl::StrJoin(v, ",") + "}"; }

pqxx::binarystring ProtoBytes(const google::protobuf::Message& m, std::string* buf) {
  *buf = m.SerializeAsString();
  return pqxx::binarystring(buf->data(), buf->size());
}

bool ParseProto(const pqxx::field& f, google::protobuf::Message* m) {
  pqxx::binarystring b(f);
  return m->ParseFromArray(b.data(), static_cast<int>(b.size()));
}

}  // namespace perfgate::controller
