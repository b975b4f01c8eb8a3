#include "tools/sample_target/pprof_encoder.h"

#include <cxxabi.h>
#include <dlfcn.h>

#include <cstdlib>

#include "common/compress/gzip.h"

namespace perfgate::sample_target {
namespace {

std::string Demangle(const char* name) {
  int status = 0;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string out = status == 0 && d ? d : name;
  free(d);
  return out;
}

}  // namespace

PprofEncoder::PprofEncoder(const std::vector<std::pair<std::string, std::string>>& types,
                           const std::pair<std::string, std::string>& period_type, int64_t period)
    : values_(types.size()) {
  p_.add_string_table("");
  for (const auto& [type, unit] : types) {
    auto* t = p_.add_sample_type();
    t->set_type(Str(type));
    t->set_unit(Str(unit));
  }
  p_.mutable_period_type()->set_type(Str(period_type.first));
  p_.mutable_period_type()->set_unit(Str(period_type.second));
  p_.set_period(period);
}

void PprofEncoder::Add(void* const* frames, int n, bool leaf_is_pc,
                       const std::vector<int64_t>& values) {
  std::vector<uint64_t> locs;
  for (int i = 0; i < n; ++i)
    locs.push_back(Location(reinterpret_cast<uintptr_t>(frames[i]), leaf_is_pc && i == 0));
  if (locs.empty()) return;
  std::vector<int64_t>& sum = stacks_[locs];
  sum.resize(values_, 0);
  for (size_t i = 0; i < values_ && i < values.size(); ++i) sum[i] += values[i];
}

std::string PprofEncoder::Finish(int64_t start_unix_ns, int64_t duration_ns,
                                 const std::string& default_type) {
  for (const auto& [locs, values] : stacks_) {
    auto* s = p_.add_sample();
    for (uint64_t l : locs) s->add_location_id(l);
    for (int64_t v : values) s->add_value(v);
  }
  p_.set_time_nanos(start_unix_ns);
  p_.set_duration_nanos(duration_ns);
  if (!default_type.empty()) p_.set_default_sample_type(Str(default_type));
  return common::Gzip(p_.SerializeAsString());
}

int64_t PprofEncoder::Str(const std::string& s) {
  auto [it, added] = strings_.emplace(s, p_.string_table_size());
  if (added) p_.add_string_table(s);
  return it->second;
}

uint64_t PprofEncoder::Location(uintptr_t address, bool is_pc) {
  auto [it, added] = locations_.emplace(address, p_.location_size() + 1);
  if (!added) return it->second;
  auto* l = p_.add_location();
  l->set_id(it->second);
  l->set_address(address);
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(is_pc ? address : address - 1), &info) && info.dli_sname)
    l->add_line()->set_function_id(Function(info.dli_sname, info.dli_fname ? info.dli_fname : ""));
  return it->second;
}

uint64_t PprofEncoder::Function(const char* symbol, const std::string& file) {
  auto [it, added] = functions_.emplace(symbol, p_.function_size() + 1);
  if (!added) return it->second;
  auto* f = p_.add_function();
  f->set_id(it->second);
  f->set_name(Str(Demangle(symbol)));
  f->set_system_name(Str(symbol));
  f->set_filename(Str(file));
  return it->second;
}

}  // namespace perfgate::sample_target
