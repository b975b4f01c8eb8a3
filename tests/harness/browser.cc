#include "tests/harness/browser.h"

#include <httplib.h>

#include <set>

#include "absl/strings/str_cat.h"
#include "common/net/local_port.h"
#include "common/process/subprocess.h"
#include "gtest/gtest.h"

namespace perfgate::testing {

std::unique_ptr<HeadlessBrowser> HeadlessBrowser::Start(const std::string& dir, std::string* why) {
  const std::string driver = common::FindProgram("chromedriver");
  const std::string chromium = common::FindProgram("chromium");
  if (driver.empty() || chromium.empty()) {
    *why = "chromium and chromedriver are not installed (tools/install-deps.sh --test)";
    return nullptr;
  }
  std::unique_ptr<HeadlessBrowser> b(new HeadlessBrowser());
  // A port chosen here rather than --port=0: chromedriver then also tries [::1] on port 0, and
  // where the machine has no IPv6 loopback (a container) it reports "port 0". It listens on
  // 127.0.0.1 all the same; the harness only ever talks to that.
  auto port = common::FreeLocalPort();
  if (!port.ok()) {
    *why = "no free port for chromedriver: " + std::string(port.status().message());
    return nullptr;
  }
  b->driver_ = std::make_unique<ChildProcess>(
      "chromedriver", std::vector<std::string>{driver, absl::StrCat("--port=", *port)},
      dir + "/chromedriver.log");
  WaitUntil(
      [&] {
        if (b->driver_->Log().find("started successfully") == std::string::npos)
          return !b->driver_->Running();
        b->port_ = *port;
        return true;
      },
      absl::Seconds(20));
  if (b->port_ == 0) {
    *why = "chromedriver did not start: " + b->driver_->Log();
    return nullptr;
  }
  nlohmann::json caps = {
      {"browserName", "chrome"},
      {"goog:chromeOptions",
       {{"binary", chromium},
        // No sandbox: the tests run as root, which Chromium's sandbox refuses.
        {"args",
         {"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
          "--no-first-run", "--window-size=1280,1024"}}}},
      {"goog:loggingPrefs", {{"browser", "ALL"}}}};
  nlohmann::json v = b->Command("POST", "/session", {{"capabilities", {{"alwaysMatch", caps}}}});
  if (!v.contains("sessionId")) {
    *why = "could not open a Chromium session: " + v.dump();
    return nullptr;
  }
  b->session_ = v["sessionId"].get<std::string>();
  return b;
}

HeadlessBrowser::~HeadlessBrowser() {
  if (!session_.empty()) Command("DELETE", "/session/" + session_, nullptr);
  if (driver_) driver_->Terminate(absl::Seconds(10));
}

nlohmann::json HeadlessBrowser::Command(const std::string& method, const std::string& path,
                                        const nlohmann::json& body) {
  httplib::Client cli("127.0.0.1", port_);
  cli.set_read_timeout(60, 0);
  httplib::Result res = method == "DELETE"
                            ? cli.Delete(path.c_str())
                            : cli.Post(path.c_str(), body.dump(), "application/json");
  if (!res) return {{"error", "chromedriver unreachable: " + httplib::to_string(res.error())}};
  nlohmann::json j = nlohmann::json::parse(res->body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("value"))
    return {{"error", "chromedriver answered " + std::to_string(res->status) + ": " + res->body}};
  nlohmann::json& value = j["value"];
  if (res->status != 200) {
    std::string msg = value.is_object() ? value.value("message", value.dump()) : value.dump();
    return {{"error", msg}};
  }
  return value;
}

bool HeadlessBrowser::Navigate(const std::string& url, std::string* error) {
  nlohmann::json v = Command("POST", "/session/" + session_ + "/url", {{"url", url}});
  if (v.is_object() && v.contains("error")) {
    *error = v["error"].get<std::string>();
    return false;
  }
  return true;
}

nlohmann::json HeadlessBrowser::Eval(const std::string& script) {
  return Command("POST", "/session/" + session_ + "/execute/sync",
                 {{"script", script}, {"args", nlohmann::json::array()}});
}

std::vector<HeadlessBrowser::LogEntry> HeadlessBrowser::TakeLog() {
  // Not in the W3C standard; chromedriver keeps the legacy log command under /se/log.
  nlohmann::json v = Command("POST", "/session/" + session_ + "/se/log", {{"type", "browser"}});
  std::vector<LogEntry> out;
  if (!v.is_array()) {
    out.push_back({"SEVERE", "harness", "could not read the browser log: " + v.dump()});
    return out;
  }
  for (const auto& e : v)
    out.push_back({e.value("level", ""), e.value("source", ""), e.value("message", "")});
  return out;
}

// Loads each page in headless Chromium: it must load, draw every chart it has with a real
// size and at least one mark, carry no script, log no console or network error, and link
// only to pages of ours that load. charted: the pages that must hold at least one chart.
void CheckPagesInBrowser(const std::string& dir, int http_port,
                         const std::vector<std::string>& paths,
                         const std::set<std::string>& charted) {
  std::string why;
  auto browser = HeadlessBrowser::Start(dir, &why);
  ASSERT_NE(browser, nullptr) << why;
  const std::string origin = absl::StrCat("http://127.0.0.1:", http_port);
  std::set<std::string> links;
  for (const std::string& path : paths) {
    SCOPED_TRACE(path);
    std::string error;
    ASSERT_TRUE(browser->Navigate(origin + path, &error)) << error;
    nlohmann::json page = browser->Eval(R"js(
      const charts = [...document.querySelectorAll('svg')].map(s => {
        const r = s.getBoundingClientRect();
        return {w: r.width, h: r.height,
                marks: s.querySelectorAll('circle,polyline,line,rect,path').length};
      });
      return {ready: document.readyState, title: document.title, charts,
              scripts: document.scripts.length,
              links: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))};
    )js");
    ASSERT_FALSE(page.contains("error")) << page.dump();
    EXPECT_EQ(page["ready"], "complete");
    EXPECT_NE(page["title"].get<std::string>().find("perfgate"), std::string::npos);
    EXPECT_EQ(page["scripts"], 0) << "pages work without JavaScript";
    if (charted.count(path)) {
      EXPECT_GE(page["charts"].size(), 1u) << "no chart drawn";
    }
    for (const auto& c : page["charts"]) {
      EXPECT_GT(c["w"].get<double>(), 0) << c.dump();
      EXPECT_GT(c["h"].get<double>(), 0) << c.dump();
      EXPECT_GE(c["marks"].get<int>(), 1) << "an empty chart: " << c.dump();
    }
    for (const auto& l : page["links"]) {
      const std::string href = l.get<std::string>();
      if (!href.empty() && href[0] == '/') links.insert(href);
    }
    for (const auto& e : browser->TakeLog()) {
      EXPECT_NE(e.level, "SEVERE") << e.source << ": " << e.message;
      EXPECT_NE(e.level, "WARNING") << e.source << ": " << e.message;
    }
  }
  // Every page of ours that the pages link to answers (bounded: the runs list links each run).
  ASSERT_FALSE(links.empty());
  int checked = 0;
  for (const std::string& href : links) {
    if (++checked > 200) break;
    httplib::Client cli("127.0.0.1", http_port);
    auto res = cli.Get(href.c_str());
    EXPECT_EQ(res ? res->status : 0, 200) << "dead link " << href;
  }
}

}  // namespace perfgate::testing
