// Small conversions between PostgreSQL values and our protos, shared by the Pg* stores.
#pragma once

#include <google/protobuf/message.h>
#include <google/protobuf/timestamp.pb.h>

#include <cstdint>
#include <functional>
#include <map>
#include <pqxx/pqxx>
#include <string>
#include <vector>

namespace perfgate::controller {

// A nullable float8 epoch (extract(epoch from ts)) into a Timestamp; NULL leaves it unset.
void SetTimestamp(const pqxx::field& f, google::protobuf::Timestamp* ts);

std::string LabelsToJson(const google::protobuf::Map<std::string, std::string>& labels);
void LabelsFromJson(const std::string& json, google::protobuf::Map<std::string, std::string>* out);

// "{1,2,3}": a bigint[] literal for a ::bigint[] parameter.
std::string BigintArray(const std::vector<int64_t>& v);

// A text[] literal ("{\"a\",\"b\"}") for a ::text[] parameter, quoting every element.
std::string TextArray(const std::vector<std::string>& v);

// A serialised proto in a bytea column: the bytes to bind (`buf` holds them until the statement
// runs), and the message read back (false when the stored bytes do not parse).
pqxx::binarystring ProtoBytes(const google::protobuf::Message& m, std::string* buf);
bool ParseProto(const pqxx::field& f, google::protobuf::Message* m);

// Runs `sql` as a prepared statement on the transaction's connection: the server parses and
// plans it once per connection instead of on every call. The name is derived from the text,
// so each call site simply passes its SQL.
template <typename... Args>
pqxx::result Exec(pqxx::transaction_base& tx, const std::string& sql, Args&&... args) {
  std::string name = "q" + std::to_string(std::hash<std::string>{}(sql));
  pqxx::connection_base& c = tx.conn();
  c.prepare(name, sql);  // a no-op when already defined with this text
  return tx.exec_prepared(name, std::forward<Args>(args)...);
}

}  // namespace perfgate::controller
