#include "controller/forge/forge_http.h"

#include <httplib.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace perfgate::controller {

std::string HttpAnswer::Header(const std::string& name) const {
  for (const auto& [k, v] : headers)
    if (absl::EqualsIgnoreCase(k, name)) return v;
  return "";
}

absl::StatusOr<std::unique_ptr<ForgeHttp>> ForgeHttp::Create(const std::string& flag,
                                                             const std::string& base_url,
                                                             absl::Duration timeout) {
  static const std::regex kUrl(R"((https?://[^/\s]+)(/[^\s]*)?)");
  std::smatch m;
  if (!std::regex_match(base_url, m, kUrl))
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": ", base_url, ": want http(s)://host[:port][/prefix]"));
  auto h = std::unique_ptr<ForgeHttp>(new ForgeHttp());
  h->base_url_ = base_url;
  h->prefix_ = m[2].str();
  while (absl::EndsWith(h->prefix_, "/")) h->prefix_.pop_back();
  h->client_ = std::make_unique<httplib::Client>(m[1].str());
  h->client_->set_tcp_nodelay(true);  // a request is written in two parts: no Nagle wait
  if (!h->client_->is_valid())
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", base_url, ": cannot use this URL"));
  const auto us = absl::ToInt64Microseconds(timeout);
  h->client_->set_connection_timeout(us / 1000000, us % 1000000);
  h->client_->set_read_timeout(us / 1000000, us % 1000000);
  h->client_->set_write_timeout(us / 1000000, us % 1000000);
  return h;
}

ForgeHttp::~ForgeHttp() = default;

HttpAnswer ForgeHttp::Send(const std::string& method, const std::string& path,
                           const std::string& body,
                           const std::multimap<std::string, std::string>& headers) {
  std::lock_guard<std::mutex> lock(mu_);
  httplib::Headers h(headers.begin(), headers.end());
  const std::string full = prefix_ + path;
  httplib::Result res{nullptr, httplib::Error::Unknown};
  if (method == "GET") {
    res = client_->Get(full, h);
  } else if (method == "POST") {
    res = client_->Post(full, h, body, "application/json");
  } else if (method == "PATCH") {
    res = client_->Patch(full, h, body, "application/json");
  } else if (method == "PUT") {
    res = client_->Put(full, h, body, "application/json");
  }
  HttpAnswer a;
  if (!res) {
    a.error = absl::StrCat(method, " ", base_url_, path, ": ", httplib::to_string(res.error()));
    return a;
  }
  a.status = res->status;
  a.body = res->body;
  a.headers.insert(res->headers.begin(), res->headers.end());
  return a;
}

std::string UrlEncode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "%", absl::string_view("0123456789ABCDEF" + (c >> 4), 1),
                      absl::string_view("0123456789ABCDEF" + (c & 15), 1));
    }
  }
  return out;
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

std::string IdOfAnswer(const std::string& body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("id") && j["id"].is_number_integer())
    return std::to_string(j["id"].get<int64_t>());
  return "";
}

std::string FindIdByMarker(const std::function<HttpAnswer(int page)>& list_page,
                           const std::string& marker, int max_pages) {
  for (int page = 1; page <= max_pages; ++page) {
    HttpAnswer list = list_page(page);
    if (list.status != 200) return "";  // then post: a duplicate is better than no report
    nlohmann::json j = nlohmann::json::parse(list.body, nullptr, false);
    if (!j.is_array()) return "";
    for (const nlohmann::json& c : j) {
      if (c.is_object() && c.value("body", "").find(marker) != std::string::npos &&
          c.contains("id") && c["id"].is_number_integer())
        return std::to_string(c["id"].get<int64_t>());
    }
    if (j.size() < 100) return "";
  }
  return "";
}

SendOutcome UpsertComment(const CommentApi& api, std::string id, const std::string& text,
                          const std::string& marker, bool post_once, int attempts, absl::Time now) {
  if (id.empty()) {
    id = FindIdByMarker(api.list, marker);
    if (!id.empty() && post_once) {  // posted before a crash kept us from recording it
      SendOutcome o;
      o.http_status = 200;
      o.remote_id = id;
      return o;
    }
  }
  const std::string body = nlohmann::json{{"body", text}}.dump();
  HttpAnswer a;
  if (!id.empty()) {
    a = api.update(id, body);
    if (a.status == 404) id.clear();  // deleted on the forge: post it again
  }
  if (id.empty()) {
    a = api.create(body);
    id = IdOfAnswer(a.body);
  }
  SendOutcome o = ClassifyAnswer(a, attempts, now);
  if (o.kind == SendOutcome::Kind::kSent) o.remote_id = id;
  return o;
}

std::string ForgeMessage(const std::string& body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object()) {
    std::string out;
    for (const char* key : {"message", "error", "detail", "title"}) {
      if (j.contains(key) && j[key].is_string()) {
        out = j[key].get<std::string>();
        break;
      }
    }
    // GitHub's 422s (and Prism's) say which field in errors/validation.
    for (const char* key : {"errors", "validation"}) {
      if (j.contains(key)) absl::StrAppend(&out, out.empty() ? "" : " ", j[key].dump());
    }
    if (!out.empty()) return out.substr(0, 2000);
  }
  return body.substr(0, 500);
}

SendOutcome ClassifyAnswer(const HttpAnswer& a, int attempts, absl::Time now) {
  SendOutcome o;
  o.http_status = a.status;
  if (a.status >= 200 && a.status < 300) return o;
  o.kind = SendOutcome::Kind::kRetry;
  o.error = a.status == 0 ? a.error : absl::StrCat(a.status, ": ", ForgeMessage(a.body));
  const absl::Duration backoff =
      std::min(absl::Seconds(2) * (int64_t{1} << std::min(attempts, 8)), absl::Minutes(5));
  o.retry_at = now + backoff;
  if (a.status == 0 || a.status >= 500) return o;
  // Rate limits: 429, or 403 with a rate limit header (GitHub's primary and secondary limits).
  int64_t retry_after = 0, reset = 0;
  const bool has_retry_after = absl::SimpleAtoi(a.Header("Retry-After"), &retry_after);
  const bool has_reset = absl::SimpleAtoi(a.Header("X-RateLimit-Reset"), &reset) &&
                         a.Header("X-RateLimit-Remaining") == "0";
  if (a.status == 429 || (a.status == 403 && (has_retry_after || has_reset))) {
    if (has_retry_after) {
      o.retry_at = now + absl::Seconds(std::clamp<int64_t>(retry_after, 0, 3600));
    } else if (has_reset) {
      o.retry_at = std::clamp(absl::FromUnixSeconds(reset), now, now + absl::Hours(1));
    } else {
      o.retry_at = now + std::max(backoff, absl::Seconds(60));
    }
    return o;
  }
  o.kind = SendOutcome::Kind::kRefused;
  return o;
}

}  // namespace perfgate::controller
