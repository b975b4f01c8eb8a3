#include "agent/observe/profiles.h"

#include <httplib.h>

#include "absl/strings/str_cat.h"
#include "agent/exec/readiness.h"
#include "common/http/url.h"
#include "google/protobuf/util/time_util.h"

namespace perfgate::agent {

absl::StatusOr<std::string> FetchProfile(const std::string& base_url, const std::string& suffix,
                                         absl::Duration timeout) {
  std::string host, path;
  int port = 0;
  if (!common::SplitHttpUrl(base_url, &host, &port, &path))
    return absl::InvalidArgumentError("'" + base_url + "' is not an http:// URL");
  if (!path.empty() && path.back() == '/') path.pop_back();
  httplib::Client cli(host, port);
  cli.set_connection_timeout(2, 0);
  const int64_t secs = absl::ToInt64Seconds(timeout) + 1;
  cli.set_read_timeout(static_cast<time_t>(secs), 0);
  std::string body;
  bool too_big = false;
  auto res = cli.Get((path + suffix).c_str(), [&](const char* data, size_t n) {
    if (body.size() + n > kMaxProfileDownloadBytes) {
      too_big = true;
      return false;
    }
    body.append(data, n);
    return true;
  });
  std::string what = "GET " + base_url + suffix;
  if (too_big) return absl::ResourceExhaustedError(what + ": larger than 64 MiB");
  if (!res) return absl::UnavailableError(what + ": " + httplib::to_string(res.error()));
  if (res->status != 200) {
    std::string text = body.substr(0, 300);
    return absl::UnavailableError(absl::StrCat(what, ": status ", res->status, " ", text));
  }
  if (body.empty()) return absl::UnavailableError(what + ": empty answer");
  return body;
}

ProfileCapture::ProfileCapture(const google::protobuf::RepeatedPtrField<v1::ProfileSpec>& specs,
                               BenchContext& ctx)
    : specs_(specs.begin(), specs.end()), ctx_(ctx) {
  for (const auto& s : specs_) {
    auto base = ctx_.Expand(s.url());
    bases_.push_back(base.ok() ? *base : "");
  }
}

ProfileCapture::~ProfileCapture() { Join(); }

void ProfileCapture::Join() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void ProfileCapture::Capture(const v1::ProfileSpec& spec, const std::string& base,
                             const std::string& kind, const std::string& point,
                             const std::string& suffix, absl::Duration timeout) {
  const std::string name = "profile." + spec.service() + "." + kind + "." + point;
  auto gap = [&](const std::string& why) {
    absl::MutexLock lock(&mu_);
    v1::Gap g;
    g.set_name(name);
    g.set_reason(why.substr(0, 900));
    gaps_.push_back(g);
  };
  if (base.empty()) return gap("the url template could not be filled in");
  const absl::Time at = ctx_.clock.Now();
  auto bytes = FetchProfile(base, suffix, timeout);
  if (!bytes.ok()) return gap(std::string(bytes.status().message()));
  auto sha = ctx_.journal.AddBlob(*bytes);
  if (!sha.ok()) return gap("cannot spool: " + std::string(sha.status().message()));
  v1::ProfileRef r;
  r.set_service(spec.service());
  r.set_kind(kind);
  r.set_point(point);
  r.set_sha256(*sha);
  r.set_size(static_cast<int64_t>(bytes->size()));
  *r.mutable_captured_at() =
      google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(at));
  absl::MutexLock lock(&mu_);
  refs_.push_back(r);
}

void ProfileCapture::BeginWindow() {
  Join();
  {
    absl::MutexLock lock(&mu_);
    stop_ = false;
    refs_.clear();
    gaps_.clear();
  }
  window_start_ = ctx_.clock.Now();
  for (size_t i = 0; i < specs_.size(); ++i) {
    const auto& s = specs_[i];
    if (s.heap_before()) Capture(s, bases_[i], "heap", "before", "/heap", absl::Seconds(30));
    if (s.cpu_seconds() > 0) {
      threads_.emplace_back([this, i] {
        const auto& sp = specs_[i];
        Capture(sp, bases_[i], "cpu", "window", absl::StrCat("/profile?seconds=", sp.cpu_seconds()),
                absl::Seconds(sp.cpu_seconds() + 30));
      });
    }
    if (s.heap_every_seconds() > 0) {
      threads_.emplace_back([this, i] {
        const auto& sp = specs_[i];
        const absl::Duration every = absl::Seconds(sp.heap_every_seconds());
        for (int k = 1;; ++k) {
          const absl::Time next = window_start_ + k * every;
          {
            absl::MutexLock lock(&mu_);
            if (mu_.AwaitWithDeadline(absl::Condition(&stop_), next)) return;
          }
          Capture(sp, bases_[i], "heap", absl::StrCat("t+", k * sp.heap_every_seconds(), "s"),
                  "/heap", absl::Seconds(30));
        }
      });
    }
  }
}

void ProfileCapture::HeapSnapshot(const std::string& point) {
  for (size_t i = 0; i < specs_.size(); ++i)
    Capture(specs_[i], bases_[i], "heap", point, "/heap", absl::Seconds(30));
}

void ProfileCapture::EndWindow(v1::RepetitionResult* out) {
  // The CPU profile ends on its own (at most the window long); periodic heaps stop now.
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
  for (size_t i = 0; i < specs_.size(); ++i) {
    const auto& s = specs_[i];
    if (s.heap_after()) Capture(s, bases_[i], "heap", "after", "/heap", absl::Seconds(30));
    for (const auto& kind : s.extra())
      Capture(s, bases_[i], kind, "after", "/" + kind, absl::Seconds(30));
  }
  absl::MutexLock lock(&mu_);
  for (auto& r : refs_) *out->add_profiles() = std::move(r);
  for (auto& g : gaps_) *out->add_gaps() = std::move(g);
  refs_.clear();
  gaps_.clear();
}

}  // namespace perfgate::agent
