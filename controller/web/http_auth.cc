#include "controller/web/http_auth.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/log/log.h"
#include "controller/web/layout.h"

namespace perfgate::controller {
namespace {

constexpr char kCookie[] = "perfgate_session";

// The value of cookie `name` in the request's Cookie headers ("" when absent).
std::string CookieValue(const httplib::Request& req, absl::string_view name) {
  for (size_t i = 0; i < req.get_header_value_count("Cookie"); ++i) {
    for (absl::string_view part :
         absl::StrSplit(req.get_header_value("Cookie", i), ';', absl::SkipWhitespace())) {
      part = absl::StripAsciiWhitespace(part);
      if (absl::ConsumePrefix(&part, name) && absl::ConsumePrefix(&part, "="))
        return std::string(part);
    }
  }
  return "";
}

bool Open(const std::string& path) {
  return path == "/healthz" || path == "/login" || path == "/logout" ||
         absl::StartsWith(path, "/hooks/");
}

std::string LoginPage(const std::string& problem) {
  return Layout("Log in",
                absl::StrCat(problem.empty() ? "" : "<p class=\"bad\">" + Esc(problem) + "</p>",
                             "<form method=\"post\" action=\"/login\"><p>API token (viewer or "
                             "above): <input type=\"password\" name=\"token\" autofocus> "
                             "<button>Log in</button></p></form>"));
}

}  // namespace

void HttpAuth::Install(httplib::Server& server) const {
  server.Get("/login", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(LoginPage(""), "text/html; charset=utf-8");
  });
  server.Post("/login", [this](const httplib::Request& req, httplib::Response& res) {
    const std::string token = req.has_param("token") ? req.get_param_value("token") : "";
    const int64_t expires = absl::ToUnixSeconds(absl::Now() + ttl_);
    auto session = tokens_.IssueSession(token, expires);
    if (token.size() > 4096 || !session.ok()) {
      spdlog::warn("msg=\"page login refused\" remote={}", req.remote_addr);
      res.status = 401;
      res.set_content(LoginPage("That is not a token this controller knows."),
                      "text/html; charset=utf-8");
      return;
    }
    res.set_header(
        "Set-Cookie",
        absl::StrCat(kCookie, "=", *session, "; Path=/; HttpOnly; SameSite=Strict; ",
                     secure_cookie_ ? "Secure; " : "", "Max-Age=", absl::ToInt64Seconds(ttl_)));
    res.set_redirect("/");
  });
  server.Get("/logout", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Set-Cookie", absl::StrCat(kCookie, "=; Path=/; HttpOnly; Max-Age=0"));
    res.set_redirect("/login");
  });
}

bool HttpAuth::Refuse(const httplib::Request& req, httplib::Response& res) const {
  if (Open(req.path)) return false;
  absl::Status why = absl::UnauthenticatedError("no credentials");
  if (std::string auth = req.get_header_value("Authorization"); !auth.empty()) {
    absl::string_view token = auth;
    if (absl::ConsumePrefix(&token, "Bearer ")) {
      auto who = tokens_.AuthenticateToken(token);
      if (who.ok()) return false;  // every role views
      why = who.status();
    }
  } else if (std::string session = CookieValue(req, kCookie); !session.empty()) {
    auto who = tokens_.AuthenticateSession(session, absl::ToUnixSeconds(absl::Now()));
    if (who.ok()) return false;
    why = who.status();
  }
  res.status = 401;
  res.set_header("WWW-Authenticate", "Bearer realm=\"perfgate\"");
  if (req.path == "/metrics") {
    res.set_content(
        absl::StrCat("401: ", why.message(), " (send Authorization: Bearer <API token>)\n"),
        "text/plain");
  } else {
    res.set_content(LoginPage(std::string(why.message())), "text/html; charset=utf-8");
  }
  return true;
}

}  // namespace perfgate::controller
