// The HTTP port's bounds (issue 17): past max_connections a connection is answered 503 at once
// instead of queueing without bound behind workers held by idle or slow clients, and the port
// serves again when they go; limits that cannot work are refused at start.
#include "common/http/http_server.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"

namespace perfgate::common {
namespace {

// A client that connects and sends nothing: it holds a place until closed.
int ConnectIdle(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  return fd;
}

TEST(HttpServerTest, ConnectionsPastTheLimitAreAnswered503AndTheServerRecovers) {
  HttpServerOptions o;
  o.limits.workers = 2;
  o.limits.max_connections = 2;
  o.limits.read_timeout_seconds = 30;  // the idle clients are not timed out during the test
  auto server = HttpServer::Start("127.0.0.1", 0, std::make_shared<prometheus::Registry>(), o);
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();
  int a = ConnectIdle(port), b = ConnectIdle(port);
  absl::SleepFor(absl::Milliseconds(200));  // both accepted and handed to the workers

  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(3, 0);
  const absl::Time start = absl::Now();
  auto busy = c.Get("/healthz");
  ASSERT_TRUE(busy) << httplib::to_string(busy.error());
  EXPECT_EQ(busy->status, 503);
  EXPECT_EQ(busy->get_header_value("Retry-After"), "1");
  EXPECT_LT(absl::Now() - start, absl::Seconds(1)) << "answered at once, not queued";
  EXPECT_EQ((*server)->refused_connections(), 1);

  close(a);
  close(b);
  absl::SleepFor(absl::Milliseconds(200));
  httplib::Client again("127.0.0.1", port);
  auto ok = again.Get("/healthz");
  ASSERT_TRUE(ok) << httplib::to_string(ok.error());
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->body, "ok\n");
}

TEST(HttpServerTest, AnIdleKeepAliveConnectionGivesItsWorkerBack) {
  HttpServerOptions o;
  o.limits.workers = 1;
  o.limits.max_connections = 1;
  o.limits.keep_alive_seconds = 1;
  auto server = HttpServer::Start("127.0.0.1", 0, std::make_shared<prometheus::Registry>(), o);
  ASSERT_TRUE(server.ok()) << server.status();
  httplib::Client first("127.0.0.1", (*server)->port());
  first.set_keep_alive(true);
  ASSERT_EQ(first.Get("/healthz")->status, 200);  // the connection stays open, idle
  absl::SleepFor(absl::Milliseconds(1500));         // past keep_alive_seconds
  httplib::Client second("127.0.0.1", (*server)->port());
  auto r = second.Get("/healthz");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200);
}

TEST(HttpServerTest, LimitsThatCannotWorkAreRefused) {
  HttpServerOptions o;
  o.limits.workers = 4;
  o.limits.max_connections = 2;
  auto s = HttpServer::Start("127.0.0.1", 0, std::make_shared<prometheus::Registry>(), o);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("max_connections"), std::string::npos);
}

}  // namespace
}  // namespace perfgate::common
