// A headless Chromium driven over the W3C WebDriver protocol (Debian's chromium and
// chromium-driver): the page tests load the controller's pages in a real browser, read the
// rendered DOM by script and collect the browser's console and network errors.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "tests/harness/processes.h"

namespace perfgate::testing {

class HeadlessBrowser {
 public:
  struct LogEntry {
    std::string level;   // SEVERE, WARNING, INFO, ...
    std::string source;  // console-api, network, javascript, ...
    std::string message;
  };

  // Starts chromedriver on a free loopback port (log in dir/chromedriver.log) and opens a
  // session of headless Chromium. Returns null with *why set when either is missing or fails.
  static std::unique_ptr<HeadlessBrowser> Start(const std::string& dir, std::string* why);
  ~HeadlessBrowser();  // ends the session, then stops chromedriver

  // Loads url and waits for the load event (WebDriver's default page-load strategy). Returns
  // false with *error on a WebDriver error.
  bool Navigate(const std::string& url, std::string* error);
  // Runs a synchronous script in the page ("return ...;") and returns its value; on error the
  // returned JSON is {"error": message}.
  nlohmann::json Eval(const std::string& script);
  // Browser log entries (console messages, failed loads) since the previous call.
  std::vector<LogEntry> TakeLog();

 private:
  HeadlessBrowser() = default;
  // One WebDriver command; returns the "value" member or {"error": ...}.
  nlohmann::json Command(const std::string& method, const std::string& path,
                         const nlohmann::json& body);

  std::unique_ptr<ChildProcess> driver_;
  int port_ = 0;
  std::string session_;
};

// Loads each page of the controller on `http_port` in headless Chromium: it must load, draw
// every chart it has with a real size and at least one mark, carry no script, log no console or
// network error, and link only to pages of ours that load. `charted`: the pages that must hold
// at least one chart. Failures are gtest failures.
void CheckPagesInBrowser(const std::string& dir, int http_port,
                         const std::vector<std::string>& paths,
                         const std::set<std::string>& charted);

}  // namespace perfgate::testing
