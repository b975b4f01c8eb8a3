// One file on purpose (a little over 500 lines): the epoll worker's connection state machine,
// its schedule and its accounting share the per-connection state and read as one loop; the
// parts with an idea of their own (the HTTP and RESP parsers, the pacer) have files of their own.
#include "agent/load/http_load.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <deque>
#include <optional>
#include <random>
#include <thread>
#include <tuple>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "agent/load/http_response_parser.h"
#include "agent/load/pacer.h"
#include "agent/load/resp_parser.h"

namespace perfgate::agent {
namespace {

int64_t NowNs() { return MonotonicNowNs(); }

int64_t Micros(int64_t ns) { return std::max<int64_t>(1, ns / 1000); }

// The epoll tag of a worker's pacing timer (connections are tagged by their index).
constexpr uint64_t kTimerTag = ~uint64_t{0};

// One request waiting for, or riding on, a connection.
struct Pending {
  int req = 0;
  int64_t intended_ns = 0;
};

struct Conn {
  int fd = -1;
  enum class State { kClosed, kConnecting, kIdle, kBusy } state = State::kClosed;
  int64_t connect_start_ns = 0;
  int64_t retry_at_ns = 0;    // when kClosed after a failed connect: try again then
  int64_t idle_since_ns = 0;  // when it last became free for a request
  std::string out;
  size_t out_off = 0;
  Pending cur;
  int64_t write_ns = 0;
  HttpResponseParser parser;
  RespParser resp;  // the redis protocol's
};

// IPv4 address of `host` (a literal or a name) and `port`; false when it cannot be resolved.
bool Resolve(const std::string& host, int port, sockaddr_in* out) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    addrinfo hints{}, *res = nullptr;
    hints.ai_family = AF_INET;
    if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || !res) return false;
    addr.sin_addr = reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr;
    freeaddrinfo(res);
  }
  *out = addr;
  return true;
}

// One RESP request-reply exchange on a fresh blocking connection, within `timeout`: the
// reply's strings (RespParser::strings).
absl::StatusOr<std::vector<std::string>> Exchange(const sockaddr_in& addr,
                                                  const std::string& request,
                                                  absl::Duration timeout) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::UnavailableError(strerror(errno));
  const int64_t deadline = NowNs() + absl::ToInt64Nanoseconds(timeout);
  auto wait = [&](short what) {
    pollfd p{fd, what, 0};
    const int64_t left_ms = (deadline - NowNs()) / 1'000'000;
    return left_ms > 0 && poll(&p, 1, static_cast<int>(left_ms)) == 1;
  };
  std::string error;
  RespParser reply(/*keep_strings=*/true);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 &&
      errno != EINPROGRESS) {
    error = strerror(errno);
  } else if (!wait(POLLOUT)) {
    error = "no connection within " + absl::FormatDuration(timeout);
  } else {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) error = strerror(err);
  }
  if (error.empty() && send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
                           static_cast<ssize_t>(request.size()))
    error = "cannot send";
  while (error.empty()) {
    if (!wait(POLLIN)) {
      error = "no reply within " + absl::FormatDuration(timeout);
      break;
    }
    char buf[4096];
    const ssize_t r = recv(fd, buf, sizeof buf, 0);
    if (r < 0 && errno == EAGAIN) continue;
    if (r < 0) {
      error = strerror(errno);
      break;
    }
    RespParser::Result res = reply.Feed(buf, static_cast<size_t>(r));
    if (res == RespParser::Result::kDone) break;
    if (res == RespParser::Result::kError) error = reply.error();
  }
  close(fd);
  if (!error.empty()) return absl::UnavailableError(error);
  return reply.strings();
}

// One worker thread: its own epoll loop, connections, schedule and statistics.
class Worker {
 public:
  // `stages` are this worker's share of the schedule (empty for a closed loop).
  Worker(const LoadOptions& o, const sockaddr_in& addr, const std::vector<std::string>& wire,
         const std::vector<double>& cumulative_weights, int connections,
         std::vector<RateStage> stages, uint64_t seed)
      : o_(o),
        addr_(addr),
        wire_(wire),
        cum_(cumulative_weights),
        stages_(std::move(stages)),
        rng_(seed),
        conns_(connections) {
    for (size_t i = 0; i < wire.size(); ++i) stats_.push_back(EndpointStats::Make());
  }

  void Run(int64_t start_ns, int64_t end_ns) {
    start_ns_ = start_ns;
    slice_ns_ = absl::ToInt64Nanoseconds(o_.timeline_slice);
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    for (size_t i = 0; i < conns_.size(); ++i) Connect(i);
    const bool open = !stages_.empty();
    // Open loop: sleep on a timer until just before each send (pacer.h). Without a timer the
    // worker polls, which is correct but costs a core.
    std::optional<Pacer> pacer;
    if (open) {
      auto p = Pacer::Create(epfd_, kTimerTag, absl::ToInt64Nanoseconds(o_.spin_window));
      if (p.ok()) pacer.emplace(*std::move(p));
    }
    int64_t next = open ? start_ns + IntendedOffsetNs(0) : INT64_MAX;
    int64_t hard_stop = end_ns + absl::ToInt64Nanoseconds(o_.timeout);
    epoll_event events[64];
    while (true) {
      int64_t now = NowNs();
      if (o_.stop && o_.stop->load(std::memory_order_relaxed) && now < end_ns) {
        end_ns = now;  // asked to stop: send nothing more, let what is out finish
        hard_stop = end_ns + absl::ToInt64Nanoseconds(o_.timeout);
      }
      if (open) {
        while (next <= now && next < end_ns) {
          queue_.push_back({PickRequest(), next});
          next = NextIntended(start_ns);
        }
      }
      bool generating = now < end_ns;
      // Hand queued (open) or fresh (closed) requests to idle connections.
      for (size_t i = 0; i < conns_.size(); ++i) {
        Conn& c = conns_[i];
        if (c.state != Conn::State::kIdle) continue;
        if (open) {
          if (queue_.empty()) continue;
          Pending p = queue_.front();
          queue_.pop_front();
          Start(i, p, now);
        } else if (generating) {
          Start(i, {PickRequest(), now}, now);
        }
      }
      int busy = 0;
      for (size_t i = 0; i < conns_.size(); ++i) {
        Conn& c = conns_[i];
        if (c.state == Conn::State::kBusy &&
            now - c.write_ns > absl::ToInt64Nanoseconds(o_.timeout)) {
          TimedOut(c.cur);
          Reconnect(i);
        }
        busy += conns_[i].state == Conn::State::kBusy;
        if (c.state == Conn::State::kClosed && c.retry_at_ns <= now) Connect(i);
      }
      if (!generating && busy == 0 && queue_.empty()) break;
      if (now >= hard_stop) {
        // Whatever is still out or queued did not complete in time.
        for (auto& c : conns_) {
          if (c.state == Conn::State::kBusy) TimedOut(c.cur);
        }
        for (auto& p : queue_) TimedOut(p);
        break;
      }
      // Until the next intended start: the pacer's timer, then polling for the last stretch.
      // Closed connections retry on time (at most 10 ms), and a closed loop or the drain after
      // the schedule waits on responses (1 ms).
      int timeout_ms = 1;
      if (open && generating) {
        const int64_t t = NowNs();
        if (pacer) {
          timeout_ms = pacer->Timeout(t, next, 10);
        } else {
          timeout_ms = next - t <= 1'000'000 ? 0 : 1;
        }
      }
      int n = epoll_wait(epfd_, events, 64, timeout_ms);
      for (int k = 0; k < n; ++k) {
        if (events[k].data.u64 == kTimerTag) {
          pacer->OnTimer(NowNs());
          continue;
        }
        OnEvent(static_cast<size_t>(events[k].data.u64), events[k].events);
      }
    }
    for (auto& c : conns_) {
      if (c.fd >= 0) close(c.fd);
    }
    close(epfd_);
  }

  std::vector<EndpointStats>& stats() { return stats_; }
  std::vector<TimelineSlice>& timeline() { return timeline_; }
  const common::HdrHistogram& connect_time() const { return connect_time_; }
  int64_t last_completion_ns() const { return last_completion_ns_; }
  int64_t connect_errors() const { return errors_at_connect_; }

 private:
  int PickRequest() {
    if (cum_.size() == 1) return 0;
    double x = std::uniform_real_distribution<double>(0, cum_.back())(rng_);
    return static_cast<int>(std::upper_bound(cum_.begin(), cum_.end(), x) - cum_.begin());
  }

  // The intended start of the next request. The schedule runs in "count space": request k
  // is due when the expected number of arrivals since the start reaches u_k, with u_k = k for
  // constant spacing and u_k a unit-rate Poisson process for Poisson arrivals (time rescaling
  // turns it into a Poisson process of the staged rate). Times are computed from the run's
  // start in double precision, so rounding never adds or drops a request.
  int64_t NextIntended(int64_t start_ns) {
    if (o_.poisson) {
      count_ += std::exponential_distribution<double>(1.0)(rng_);
    } else {
      count_ = static_cast<double>(++scheduled_);
    }
    int64_t off = IntendedOffsetNs(count_);
    return off == INT64_MAX ? INT64_MAX : start_ns + off;
  }

  // Inverse of the expected arrival count N(t) of the staged schedule; INT64_MAX past its end.
  int64_t IntendedOffsetNs(double u) const {
    double t0 = 0;
    for (const RateStage& s : stages_) {
      double d = absl::ToDoubleSeconds(s.duration);
      double r0 = s.rate, r1 = s.rate_to;
      double count = d * (r0 + r1) / 2;
      if (u <= count) {
        // Solve r0 t + (r1 - r0) t^2 / (2d) = u in the stable form (no cancellation as the
        // ramp flattens): t = 2u / (r0 + sqrt(r0^2 + 2 (r1 - r0) u / d)).
        double disc = std::max(0.0, r0 * r0 + 2 * (r1 - r0) * u / d);
        double denom = r0 + std::sqrt(disc);
        double t = denom > 0 ? 2 * u / denom : 0;
        return static_cast<int64_t>((t0 + std::min(t, d)) * 1e9);
      }
      u -= count;
      t0 += d;
    }
    return INT64_MAX;
  }

  // With Sentinels: after a failed or lost connection, where the master is now.
  void AskWhereTheMasterIs() {
    if (o_.sentinels.empty() || !lost_master_) return;
    const int64_t now = NowNs();
    if (now < next_ask_ns_) return;
    next_ask_ns_ = now + 100'000'000;
    auto where = AskSentinels(o_.sentinels, o_.sentinel_master, absl::Milliseconds(200));
    sockaddr_in a;
    if (where.ok() && Resolve(where->first, where->second, &a)) {
      addr_ = a;
      lost_master_ = false;
    }
  }

  void Connect(size_t i) {
    Conn& c = conns_[i];
    AskWhereTheMasterIs();
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) {
      RetryLater(i);
      return;
    }
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c.connect_start_ns = NowNs();
    c.state = Conn::State::kConnecting;
    int r = connect(c.fd, reinterpret_cast<const sockaddr*>(&addr_), sizeof addr_);
    // Registered once, edge-triggered for both directions: reads and writes always run until
    // EAGAIN, so no per-request epoll_ctl is needed.
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
    ev.data.u64 = i;
    epoll_ctl(epfd_, EPOLL_CTL_ADD, c.fd, &ev);
    if (r != 0 && errno != EINPROGRESS) RetryLater(i);
  }

  void CloseConn(size_t i) {
    Conn& c = conns_[i];
    if (c.fd >= 0) {
      epoll_ctl(epfd_, EPOLL_CTL_DEL, c.fd, nullptr);
      close(c.fd);
    }
    c.fd = -1;
    c.state = Conn::State::kClosed;
  }

  // A failed connect: this connection waits a moment before trying again (a refusing server
  // must not be spun on), while the others go on.
  void RetryLater(size_t i) {
    errors_at_connect_++;
    lost_master_ = true;
    CloseConn(i);
    conns_[i].retry_at_ns = NowNs() + 10'000'000;
  }

  void Reconnect(size_t i) {
    CloseConn(i);
    Connect(i);
  }

  void Start(size_t i, Pending p, int64_t now) {
    Conn& c = conns_[i];
    c.cur = p;
    c.state = Conn::State::kBusy;
    c.out = wire_[p.req];
    c.out_off = 0;
    c.write_ns = now;
    if (redis_) {
      c.resp.Reset();
    } else {
      c.parser.Reset(wire_[p.req].rfind("HEAD ", 0) == 0);
    }
    stats_[p.req].sent++;
    stats_[p.req].scheduling_delay.Record(Micros(now - p.intended_ns));
    // The generator's own lateness: from when it could first have sent (intended time, or the
    // moment a connection came free if none was) to the write.
    stats_[p.req].generator_lag.Record(Micros(now - std::max(p.intended_ns, c.idle_since_ns)));
    WriteMore(i);
  }

  void WriteMore(size_t i) {
    Conn& c = conns_[i];
    while (c.out_off < c.out.size()) {
      ssize_t w = send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
      if (w > 0) {
        c.out_off += w;
        continue;
      }
      if (w < 0 && errno == EAGAIN) return;  // EPOLLOUT (edge) resumes it
      Fail(i);
      return;
    }
  }

  void Fail(size_t i) {
    Conn& c = conns_[i];
    lost_master_ = true;
    if (c.state == Conn::State::kBusy) {
      stats_[c.cur.req].errors++;
      if (TimelineSlice* t = Slice(c.cur.intended_ns)) t->errors++;
    }
    Reconnect(i);
  }

  void TimedOut(const Pending& p) {
    stats_[p.req].timeouts++;
    if (TimelineSlice* t = Slice(p.intended_ns)) t->errors++;
  }

  // The timeline slice of a request intended at `intended_ns`; null without a timeline.
  TimelineSlice* Slice(int64_t intended_ns) {
    if (slice_ns_ <= 0) return nullptr;
    const size_t k = static_cast<size_t>(std::max<int64_t>(0, intended_ns - start_ns_) / slice_ns_);
    if (k >= timeline_.size()) timeline_.resize(k + 1);
    return &timeline_[k];
  }

  void OnEvent(size_t i, uint32_t ev) {
    Conn& c = conns_[i];
    if (c.state == Conn::State::kConnecting) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0 || (ev & (EPOLLERR | EPOLLHUP))) {
        RetryLater(i);
        return;
      }
      int64_t now = NowNs();
      connect_time_.Record(Micros(now - c.connect_start_ns));
      c.state = Conn::State::kIdle;
      c.idle_since_ns = now;
      return;
    }
    if (c.state != Conn::State::kBusy) {
      if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
        Reconnect(i);  // the server closed an idle connection
      return;
    }
    if ((ev & EPOLLOUT) && c.out_off < c.out.size()) WriteMore(i);
    if (!(ev & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
    char buf[65536];
    while (true) {
      ssize_t r = recv(c.fd, buf, sizeof buf, 0);
      if (r < 0 && errno == EAGAIN) return;
      if (r < 0) {
        Fail(i);
        return;
      }
      // (The two parsers' results mean the same: more, done, error.)
      const int res = redis_ ? static_cast<int>(c.resp.Feed(buf, static_cast<size_t>(r)))
                             : static_cast<int>(c.parser.Feed(buf, static_cast<size_t>(r)));
      if (res == static_cast<int>(HttpResponseParser::Result::kNeedMore)) {
        if (r == 0) {
          Fail(i);
          return;
        }
        continue;
      }
      if (res == static_cast<int>(HttpResponseParser::Result::kError)) {
        Fail(i);
        return;
      }
      Complete(i);
      return;
    }
  }

  void Complete(size_t i) {
    Conn& c = conns_[i];
    int64_t now = NowNs();
    EndpointStats& s = stats_[c.cur.req];
    s.completed++;
    const int status = redis_ ? (c.resp.error_reply() ? 500 : 200) : c.parser.status();
    s.status_counts[status]++;
    s.latency.Record(Micros(now - c.cur.intended_ns));
    s.service_time.Record(Micros(now - c.write_ns));
    if (TimelineSlice* t = Slice(c.cur.intended_ns)) {
      t->completed++;
      t->server_errors += status >= 500;
      t->latency.Record(Micros(now - c.cur.intended_ns));
    }
    last_completion_ns_ = std::max(last_completion_ns_, now);
    if (redis_ || c.parser.keep_alive()) {
      c.state = Conn::State::kIdle;
      c.idle_since_ns = now;
    } else {
      Reconnect(i);
    }
  }

  const LoadOptions& o_;
  const bool redis_ = o_.protocol == LoadOptions::Protocol::kRedis;
  sockaddr_in addr_;
  bool lost_master_ = false;  // with Sentinels: a connection failed since the master was asked
  int64_t next_ask_ns_ = 0;
  const std::vector<std::string>& wire_;
  const std::vector<double>& cum_;
  std::vector<RateStage> stages_;
  double count_ = 0;
  std::mt19937_64 rng_;
  std::vector<Conn> conns_;
  std::deque<Pending> queue_;
  std::vector<EndpointStats> stats_;
  std::vector<TimelineSlice> timeline_;
  int64_t start_ns_ = 0, slice_ns_ = 0;
  common::HdrHistogram connect_time_ = *common::HdrHistogram::Create();
  int64_t last_completion_ns_ = 0;
  int64_t scheduled_ = 0;
  int64_t errors_at_connect_ = 0;
  int epfd_ = -1;
};

std::string Encode(const LoadOptions& o, const LoadRequest& r) {
  if (o.protocol == LoadOptions::Protocol::kRedis) return EncodeRespCommand(r.command);
  std::string s = absl::StrCat(r.method, " ", r.path, " HTTP/1.1\r\nHost: ", o.host, ":", o.port,
                               "\r\nUser-Agent: perfgate-load\r\n");
  for (const auto& [k, v] : r.headers) absl::StrAppend(&s, k, ": ", v, "\r\n");
  if (!r.body.empty() || r.method == "POST" || r.method == "PUT") {
    absl::StrAppend(&s, "Content-Length: ", r.body.size(), "\r\n");
  }
  absl::StrAppend(&s, "\r\n", r.body);
  return s;
}

}  // namespace

absl::StatusOr<std::pair<std::string, int>> AskSentinels(const std::vector<std::string>& sentinels,
                                                         const std::string& master,
                                                         absl::Duration timeout) {
  const std::string ask = EncodeRespCommand({"SENTINEL", "get-master-addr-by-name", master});
  std::vector<std::string> failures;
  for (const std::string& s : sentinels) {
    const size_t colon = s.rfind(':');
    int port = 0;
    sockaddr_in addr;
    if (colon == std::string::npos || !absl::SimpleAtoi(s.substr(colon + 1), &port) ||
        !Resolve(s.substr(0, colon), port, &addr)) {
      failures.push_back(s + ": not a HOST:PORT that resolves");
      continue;
    }
    // The reply is [IP, PORT], or a null array when the Sentinel does not know the master.
    auto reply = Exchange(addr, ask, timeout);
    int master_port = 0;
    if (!reply.ok()) {
      failures.push_back(s + ": " + std::string(reply.status().message()));
    } else if (reply->size() != 2 || !absl::SimpleAtoi((*reply)[1], &master_port) ||
               master_port <= 0 || master_port > 65535) {
      failures.push_back(s + ": does not know master '" + master + "'");
    } else {
      return std::make_pair((*reply)[0], master_port);
    }
  }
  return absl::UnavailableError("no Sentinel named master '" + master +
                                "': " + absl::StrJoin(failures, "; "));
}

EndpointStats EndpointStats::Make() {
  auto h = [] { return *common::HdrHistogram::Create(); };
  return EndpointStats{h(), h(), h(), h(), h(), {}, 0, 0, 0, 0};
}

absl::Status EndpointStats::Merge(const EndpointStats& o) {
  for (auto [mine, theirs] : {std::pair{&latency, &o.latency},
                              {&service_time, &o.service_time},
                              {&scheduling_delay, &o.scheduling_delay},
                              {&generator_lag, &o.generator_lag},
                              {&connect_time, &o.connect_time}}) {
    if (auto s = mine->Merge(*theirs); !s.ok()) return s;
  }
  for (const auto& [code, n] : o.status_counts) status_counts[code] += n;
  sent += o.sent;
  completed += o.completed;
  errors += o.errors;
  timeouts += o.timeouts;
  return absl::OkStatus();
}

absl::Status TimelineSlice::Merge(const TimelineSlice& o) {
  completed += o.completed;
  server_errors += o.server_errors;
  errors += o.errors;
  return latency.Merge(o.latency);
}

absl::StatusOr<LoadResult> RunLoad(const LoadOptions& o) {
  if (o.mix.empty()) return absl::InvalidArgumentError("load.requests: at least one request");
  if (o.port <= 0 || o.port > 65535) return absl::InvalidArgumentError("load.port: 1..65535");
  if (o.rate < 0) return absl::InvalidArgumentError("load.rate: must not be negative");
  if (o.spin_window < absl::ZeroDuration() || o.spin_window > absl::Seconds(1))
    return absl::InvalidArgumentError("load.spin_window: from 0 to 1s");
  if (o.threads < 1 || o.threads > 64) return absl::InvalidArgumentError("load.threads: 1..64");
  if (o.connections < o.threads || o.connections > 10000) {
    return absl::InvalidArgumentError("load.connections: at least one per thread, at most 10000");
  }
  std::vector<RateStage> stages = o.stages;
  if (!stages.empty()) {
    for (size_t i = 0; i < stages.size(); ++i) {
      const RateStage& s = stages[i];
      if (s.duration <= absl::ZeroDuration() || s.rate < 0 || s.rate_to < 0 ||
          s.rate + s.rate_to <= 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("load.stages[", i, "]: needs a positive duration and a positive rate"));
      }
    }
  } else if (o.duration <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("load.duration: must be positive");
  } else if (o.rate > 0) {
    stages.push_back({o.duration, o.rate, o.rate});
  }
  absl::Duration duration = o.duration;
  double expected = 0;
  if (!stages.empty()) {
    duration = absl::ZeroDuration();
    for (const auto& s : stages) {
      duration += s.duration;
      expected += absl::ToDoubleSeconds(s.duration) * (s.rate + s.rate_to) / 2;
    }
  }
  const double target_rate = stages.empty() ? 0 : expected / absl::ToDoubleSeconds(duration);
  const bool redis = o.protocol == LoadOptions::Protocol::kRedis;
  if (!o.sentinels.empty() && (!redis || o.sentinel_master.empty()))
    return absl::InvalidArgumentError("load.sentinels: go with the redis protocol and a master");
  sockaddr_in addr{};
  std::string host = o.host;
  int port = o.port;
  if (!o.sentinels.empty()) {
    auto where = AskSentinels(o.sentinels, o.sentinel_master, absl::Seconds(2));
    if (!where.ok()) return where.status();
    std::tie(host, port) = *where;
  }
  if (!Resolve(host, port, &addr))
    return absl::UnavailableError("load.host: cannot resolve '" + host + "'");
  std::vector<std::string> wire;
  std::vector<double> cum;
  double total_weight = 0;
  for (size_t i = 0; i < o.mix.size(); ++i) {
    const LoadRequest& r = o.mix[i];
    if (r.weight <= 0)
      return absl::InvalidArgumentError(absl::StrCat("load.requests[", i, "].weight: must be > 0"));
    if (redis && r.command.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("load.requests[", i, "].command: a redis request needs a command"));
    }
    if (!redis && (r.path.empty() || r.path[0] != '/')) {
      return absl::InvalidArgumentError(
          absl::StrCat("load.requests[", i, "].path: must start with /"));
    }
    wire.push_back(Encode(o, r));
    total_weight += r.weight;
    cum.push_back(total_weight);
  }
  std::vector<std::unique_ptr<Worker>> workers;
  for (int t = 0; t < o.threads; ++t) {
    int conns = o.connections / o.threads + (t < o.connections % o.threads ? 1 : 0);
    std::vector<RateStage> share = stages;
    for (auto& s : share) {
      s.rate /= o.threads;
      s.rate_to /= o.threads;
    }
    workers.push_back(
        std::make_unique<Worker>(o, addr, wire, cum, conns, std::move(share), o.seed + t));
  }
  if (o.timeline_slice < absl::ZeroDuration() ||
      (o.timeline_slice > absl::ZeroDuration() && o.timeline_slice < absl::Milliseconds(1)))
    return absl::InvalidArgumentError("load.timeline_slice: 0 (none) or at least 1ms");
  const int64_t start = o.start_ns > 0 ? o.start_ns : NowNs() + 20'000'000;
  const int64_t end = start + absl::ToInt64Nanoseconds(duration);
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w, start, end] { w->Run(start, end); });
  for (auto& t : threads) t.join();

  LoadResult res;
  res.start_ns = start;
  res.duration = duration;
  for (auto& w : workers) {
    if (w->timeline().size() > res.timeline.size()) res.timeline.resize(w->timeline().size());
    for (size_t k = 0; k < w->timeline().size(); ++k) {
      if (auto s = res.timeline[k].Merge(w->timeline()[k]); !s.ok()) return s;
    }
  }
  res.open_loop = !stages.empty();
  res.target_rate = target_rate;
  for (size_t i = 0; i < o.mix.size(); ++i) {
    std::string name =
        o.mix[i].name.empty() ? o.mix[i].method + " " + o.mix[i].path : o.mix[i].name;
    EndpointStats merged = EndpointStats::Make();
    for (auto& w : workers) {
      if (auto s = merged.Merge(w->stats()[i]); !s.ok()) return s;
    }
    if (auto s = res.total.Merge(merged); !s.ok()) return s;
    auto it = res.endpoints.find(name);
    if (it == res.endpoints.end()) {
      res.endpoints.emplace(name, std::move(merged));
    } else if (auto s = it->second.Merge(merged); !s.ok()) {  // two requests share a name
      return s;
    }
  }
  for (auto& w : workers) {
    if (auto s = res.total.connect_time.Merge(w->connect_time()); !s.ok()) return s;
    res.connect_errors += w->connect_errors();
  }
  // Completions over the time they took: a server that falls behind keeps answering after the
  // window while the queue drains, and that time counts.
  int64_t last = end;
  for (auto& w : workers) last = std::max(last, w->last_completion_ns());
  res.elapsed = absl::Nanoseconds(last - start);
  res.achieved_rate = res.total.completed / absl::ToDoubleSeconds(res.elapsed);
  JudgeValidity(o, &res);
  return res;
}

void JudgeValidity(const LoadOptions& o, LoadResult* res) {
  const double target_rate = res->target_rate;
  res->valid = true;
  res->invalid_reason.clear();
  if (!res->open_loop) return;  // closed loop has no schedule to keep
  if (res->achieved_rate < o.min_rate_fraction * target_rate) {
    res->valid = false;
    res->invalid_reason =
        absl::StrFormat("achieved %.1f req/s, below %.0f%% of the target %.1f req/s",
                        res->achieved_rate, o.min_rate_fraction * 100, target_rate);
    return;
  }
  double lag_p99_us = res->total.generator_lag.ValueAtPercentile(99);
  if (lag_p99_us > absl::ToDoubleMicroseconds(o.max_generator_lag_p99)) {
    res->valid = false;
    res->invalid_reason =
        absl::StrFormat("generator lag p99 %.3f ms exceeds %.3f ms: the generator fell behind",
                        lag_p99_us / 1000, absl::ToDoubleMilliseconds(o.max_generator_lag_p99));
  }
}

}  // namespace perfgate::agent
