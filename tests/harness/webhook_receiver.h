// An HTTP receiver on loopback for the controller's outgoing alert webhook: keeps every
// delivery (body and headers) in order of arrival. Used by the analysis and fault-matrix tests.
#pragma once

#include <httplib.h>

#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace perfgate::testing {

class WebhookReceiver {
 public:
  struct Delivery {
    std::string body;
    httplib::Headers headers;
    std::string Header(const std::string& name) const {
      auto it = headers.find(name);
      return it == headers.end() ? "" : it->second;
    }
  };

  WebhookReceiver() {
    server_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> l(mu_);
      deliveries_.push_back({req.body, req.headers});
      res.status = 204;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~WebhookReceiver() {
    server_.stop();
    thread_.join();
  }
  WebhookReceiver(const WebhookReceiver&) = delete;
  WebhookReceiver& operator=(const WebhookReceiver&) = delete;

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  std::vector<Delivery> Deliveries() {
    std::lock_guard<std::mutex> l(mu_);
    return deliveries_;
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::vector<Delivery> deliveries_;
};

}  // namespace perfgate::testing
