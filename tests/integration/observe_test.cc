// What agents observe besides the load generator, end to end: a private Prometheus scraping the
// sample target with the suite's queries run over each window, pprof profiles captured from a
// real Go service (with a deliberate leak) and read, diffed and downloaded through the CLI, and
// pg_stat_statements / EXPLAIN from a stack PostgreSQL.
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/hash/sha256.h"
#include "common/process/subprocess.h"
#include "controller/profile/pprof.h"
#include "tests/integration/benchmark_fixture.h"

namespace perfgate::testing {
namespace {

constexpr char kObservedSuite[] = R"yaml(
name: it-observe
jobs:
  - name: observed
    benchmark:
      stack:
        services:
          - name: api
            args: [$TARGET, --listen, "{host}:{port:api}", --threads, "8"]
            ports: [api]
            ready: {http: "http://{host}:{port:api}/healthz", timeout: 20s}
          - name: leaky
            args: [$GOLEAK, -listen, "{host}:{port:leaky}", -leak-bytes, "16384", -leak-every, 10ms]
            ports: [leaky]
            ready: {http: "http://{host}:{port:leaky}/healthz", timeout: 20s}
      workload:
        duration: 3s
        repetitions: 2
        http:
          target: "http://{host}:{port:api}"
          rate: 100
          connections: 4
          max_generator_lag_p99: 250ms
          requests: [{name: list, path: /api/items}]
      observe:
        prometheus:
          scrape:
            - {job: api, target: "{host}:{port:api}"}
          queries:
            - {name: api_up, expr: 'sum(up{job="api"})', unit: count}
            - name: list_rate
              expr: 'sum(rate(sample_target_requests_total{route="list",status="2xx"}[window]))'
              unit: req/s
              direction: higher_is_better
            - {name: up_series, expr: 'up{job="api"}', mode: range, step: 1s}
            - {name: missing, expr: 'no_such_metric_anywhere'}
        profiles:
          - service: leaky
            url: "http://{host}:{port:leaky}/debug/pprof"
            cpu: 2s
            heap: [before, after]
            extra: [goroutine]
)yaml";

class ObserveTest : public BenchmarkTest {
 protected:
  std::string Goleak() {
    std::string bin = BinaryPath("perfgate-goleak");
    EXPECT_EQ(access(bin.c_str(), X_OK), 0)
        << bin << " missing: install golang-go (tools/install-deps.sh --test) and rebuild";
    return bin;
  }

  nlohmann::json CliJson(const std::vector<std::string>& args) {
    std::vector<std::string> a = {"-o", "json"};
    a.insert(a.end(), args.begin(), args.end());
    std::string out;
    EXPECT_EQ(Cli(a, &out), 0) << out;
    auto j = nlohmann::json::parse(out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << out;
    return j;
  }
};

const v1::Measurement* Find(const v1::RepetitionResult& r, const std::string& name) {
  for (const auto& m : r.measurements())
    if (m.name() == name) return &m;
  return nullptr;
}

TEST_F(ObserveTest, PrometheusQueriesRunOverEachWindowAndGapsAreNamed) {
  StartController();
  StartAgent("a1");
  std::string suite =
      WriteSuite("observe", absl::StrReplaceAll(kObservedSuite, {{"$GOLEAK", Goleak()}}));
  int64_t id = Submit(suite, "", 0);
  v1::RunResults r = Results(id);
  ASSERT_EQ(r.jobs_size(), 1);
  ASSERT_EQ(r.jobs(0).repetitions_size(), 2) << AllLogs(id);
  for (const auto& rep : r.jobs(0).repetitions()) {
    SCOPED_TRACE(absl::StrCat("repetition ", rep.repetition()));
    const v1::Measurement* up = Find(rep, "prom.api_up");
    ASSERT_NE(up, nullptr) << AllLogs(id);
    EXPECT_EQ(up->value(), 1) << "exactly one api target, up";
    EXPECT_EQ(up->unit(), "count");
    const v1::Measurement* rate = Find(rep, "prom.list_rate");
    ASSERT_NE(rate, nullptr);
    // The server's own counter over the window, as Prometheus saw it at 1 s scrapes: 100 req/s
    // give or take a scrape's worth at each end.
    EXPECT_NEAR(rate->value(), 100, 35);
    EXPECT_EQ(rate->direction(), v1::DIRECTION_HIGHER_IS_BETTER);
    // A query with no data is a named gap, not a made-up zero.
    ASSERT_EQ(rep.gaps_size(), 1);
    EXPECT_EQ(rep.gaps(0).name(), "prom.missing");
    EXPECT_NE(rep.gaps(0).reason().find("no data"), std::string::npos) << rep.gaps(0).reason();
    EXPECT_EQ(Find(rep, "prom.missing"), nullptr);
    // Host figures for the window.
    const v1::Measurement* cpu = Find(rep, "host.cpu_util");
    ASSERT_NE(cpu, nullptr);
    EXPECT_GT(cpu->value(), 0);
    EXPECT_LE(cpu->value(), 1);
    EXPECT_NE(Find(rep, "host.ctx_switches"), nullptr);
    EXPECT_NE(Find(rep, "host.mem_used"), nullptr);
  }
  // Range query: the series over each window, one point a second, all 1.
  auto series = CliJson({"run", "series", std::to_string(id), "up_series"});
  ASSERT_EQ(series["repetitions"].size(), 2u) << series.dump();
  for (const auto& rep : series["repetitions"]) {
    ASSERT_EQ(rep["series"].size(), 1u);
    const auto& s = rep["series"][0];
    EXPECT_EQ(s["labels"]["job"], "api");
    EXPECT_GE(s["points"].size(), 3u) << "a 3 s window at a 1 s step";
    EXPECT_LE(s["points"].size(), 5u);
    for (const auto& p : s["points"]) EXPECT_EQ(p["value"].get<double>(), 1.0);
  }
  std::string table;
  ASSERT_EQ(Cli({"run", "results", std::to_string(id)}, &table), 0);
  EXPECT_NE(table.find("gap prom.missing"), std::string::npos) << table;
  EXPECT_NE(table.find("prom.list_rate"), std::string::npos) << table;
  // The private Prometheus is gone with the attempt.
  EXPECT_NE(AllLogs(id).find("private prometheus on http://127.0.0.1:"), std::string::npos);
  // ([h] keeps pgrep from finding its own shell; dir_ keeps it to this test's agents.)
  EXPECT_EQ(system(("pgrep -f 'storage.tsdb.pat[h]=" + dir_ + "' >/dev/null").c_str()), 256)
      << "a private prometheus outlived its attempt";

  // Profiles of the Go service: per repetition a CPU profile, heap before and after, goroutines.
  auto list = CliJson({"profile", "list", std::to_string(id)});
  ASSERT_EQ(list["profiles"].size(), 8u) << list.dump();
  std::map<std::string, int64_t> ids;  // "rep/kind/point" -> id
  for (const auto& p : list["profiles"]) {
    EXPECT_EQ(p["service"], "leaky");
    ids[absl::StrCat(p["repetition"].get<int>(), "/", p["kind"].get<std::string>(), "/",
                     p["point"].get<std::string>())] = std::stoll(p["id"].get<std::string>());
  }
  for (const char* k : {"1/cpu/window", "1/heap/before", "1/heap/after", "1/goroutine/after",
                        "2/cpu/window", "2/heap/before", "2/heap/after"}) {
    EXPECT_TRUE(ids.count(k)) << k;
  }
  // The CPU profile reads, and the Go service's busy function is in it.
  auto top = CliJson({"profile", "top", std::to_string(ids["1/cpu/window"]), "-n", "50"});
  EXPECT_EQ(top["sample_type"], "cpu");
  EXPECT_EQ(top["unit"], "nanoseconds");
  bool burn = false;
  for (const auto& f : top["functions"]) burn |= f["name"] == "main.burnCPU";
  EXPECT_TRUE(burn) << top.dump();
  // Heap growth across the window: the leaking function leads the diff (16 KiB every 10 ms
  // for 3 s is about 4.7 MiB; MemProfileRate = 1 makes it exact, not sampled).
  auto diff = CliJson({"profile", "diff", std::to_string(ids["1/heap/before"]),
                       std::to_string(ids["1/heap/after"]), "--sample-type", "inuse_space"});
  ASSERT_GE(diff["functions"].size(), 1u) << diff.dump();
  EXPECT_EQ(diff["functions"][0]["name"], "main.retainForever") << diff.dump();
  int64_t grew = std::stoll(diff["functions"][0]["candidate_flat"].get<std::string>()) -
                 std::stoll(diff["functions"][0].at("base_flat").get<std::string>());
  EXPECT_GT(grew, 3 << 20) << diff.dump();
  EXPECT_LT(grew, 8 << 20) << diff.dump();
  std::string text;
  ASSERT_EQ(Cli({"profile", "diff", std::to_string(ids["1/heap/before"]),
                 std::to_string(ids["1/heap/after"]), "--sample-type", "inuse_space"},
                &text),
            0);
  EXPECT_NE(text.find("main.retainForever"), std::string::npos) << text;
  EXPECT_NE(text.find(" MiB"), std::string::npos) << text;

  // Download: the bytes as captured (their sha256 is the listing's), and they parse again.
  std::string file = dir_ + "/heap.pb.gz";
  ASSERT_EQ(Cli({"profile", "download", std::to_string(ids["1/heap/after"]), "-o", file}, &text), 0)
      << text;
  std::ifstream in(file, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 100u);
  EXPECT_EQ(static_cast<unsigned char>(bytes[0]), 0x1f) << "gzip, as Go serves it";
  for (const auto& p : list["profiles"]) {
    if (std::stoll(p["id"].get<std::string>()) == ids["1/heap/after"]) {
      EXPECT_EQ(p["sha256"], common::Sha256Hex(bytes));
    }
  }
  auto parsed = controller::Profile::Parse(bytes);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  auto types = parsed->SampleTypes();
  EXPECT_NE(std::find(types.begin(), types.end(), "inuse_space/bytes"), types.end());
  // Bad ids and sample types are refused by name.
  EXPECT_EQ(Cli({"profile", "top", "999999"}, &text), 2);
  EXPECT_NE(text.find("profile 999999 not found"), std::string::npos) << text;
  EXPECT_EQ(
      Cli({"profile", "top", std::to_string(ids["1/heap/after"]), "--sample-type", "nope"}, &text),
      2);
  EXPECT_NE(text.find("'nope' is not in the profile"), std::string::npos) << text;
}

// The real `prometheus` server from Debian as the system under test: its own /debug/pprof under
// real query load, with periodic heap captures inside the window, read by our reader and opened
// unchanged by `go tool pprof`.
TEST_F(ObserveTest, ProfilesOfTheRealPrometheusServerUnderQueryLoad) {
  const std::string prometheus = common::FindProgram("prometheus");
  ASSERT_FALSE(prometheus.empty()) << "install prometheus (tools/install-deps.sh)";
  StartController();
  StartAgent("a1");
  std::string suite = WriteSuite("promprof", absl::StrReplaceAll(R"yaml(
jobs:
  - name: prom
    benchmark:
      stack:
        services:
          - name: prom
            args: [/bin/sh, -c, "printf 'global: {scrape_interval: 1s}\nscrape_configs: [{job_name: self, static_configs: [{targets: [\"{host}:{port:prom}\"]}]}]\n' > {workdir}/prom.yml && exec $PROM --config.file={workdir}/prom.yml --storage.tsdb.path={workdir}/tsdb --web.listen-address={host}:{port:prom}"]
            ports: [prom]
            ready: {http: "http://{host}:{port:prom}/-/ready", timeout: 30s}
      workload:
        duration: 3s
        repetitions: 1
        http:
          target: "http://{host}:{port:prom}"
          rate: 100
          connections: 4
          max_generator_lag_p99: 250ms
          requests: [{name: query, path: "/api/v1/query?query=sum(rate(prometheus_http_requests_total[1m]))"}]
      observe:
        profiles:
          - service: prom
            url: "http://{host}:{port:prom}/debug/pprof"
            cpu: 2s
            heap: [after]
            heap_every: 1s
)yaml",
                                                                 {{"$PROM", prometheus}}));
  int64_t id = Submit(suite, "", 0);
  auto list = CliJson({"profile", "list", std::to_string(id)});
  std::map<std::string, int64_t> ids;  // "kind/point" -> id
  for (const auto& p : list["profiles"]) {
    EXPECT_EQ(p["service"], "prom");
    ids[p["kind"].get<std::string>() + "/" + p["point"].get<std::string>()] =
        std::stoll(p["id"].get<std::string>());
  }
  for (const char* k : {"cpu/window", "heap/after", "heap/t+1s", "heap/t+2s"})
    EXPECT_TRUE(ids.count(k)) << k << " in " << list.dump() << AllLogs(id);
  // Prometheus's own code, symbolised as Go serves it: its allocation sites since start are
  // in every heap profile. (A CPU profile of a lightly loaded server may hold a single sample,
  // in the garbage collector: it is checked for what it must be, not for what it happened to
  // catch.)
  auto own_code = [](const nlohmann::json& top) {
    for (const auto& f : top["functions"])
      if (f["name"].get<std::string>().rfind("github.com/prometheus/prometheus/", 0) == 0)
        return true;
    return false;
  };
  auto heap = CliJson({"profile", "top", std::to_string(ids["heap/after"]), "--sample-type",
                       "alloc_space", "-n", "100000"});
  EXPECT_EQ(heap["unit"], "bytes");
  EXPECT_GT(std::stoll(heap["total"].get<std::string>()), 0) << heap.dump();
  EXPECT_TRUE(own_code(heap)) << "no prometheus function in the heap profile: " << heap.dump();
  auto cpu = CliJson({"profile", "top", std::to_string(ids["cpu/window"])});
  EXPECT_EQ(cpu["sample_type"], "cpu");
  EXPECT_EQ(cpu["unit"], "nanoseconds");
  // Two heap profiles of one window diff by function.
  auto diff = CliJson({"profile", "diff", std::to_string(ids["heap/t+1s"]),
                       std::to_string(ids["heap/after"]), "--sample-type", "alloc_space"});
  EXPECT_EQ(diff["sample_type"], "alloc_space");
  EXPECT_GE(diff["functions"].size(), 1u) << diff.dump();

  // Downloaded, the profiles are what Go wrote: the CPU profile spans the 2 s asked for, and
  // both open unchanged in Go's own tool.
  const std::string go = common::FindProgram("go");
  ASSERT_FALSE(go.empty()) << "install golang-go (tools/install-deps.sh --test)";
  std::string text;
  auto download = [&](const std::string& key) {
    const std::string file = dir_ + "/prom-" + absl::StrReplaceAll(key, {{"/", "-"}}) + ".pb.gz";
    EXPECT_EQ(Cli({"profile", "download", std::to_string(ids[key]), "-o", file}, &text), 0)
        << text;
    return file;
  };
  const std::string cpu_file = download("cpu/window"), heap_file = download("heap/after");
  std::ifstream in(cpu_file, std::ios::binary);
  auto parsed = controller::Profile::Parse(
      std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_NEAR(parsed->proto().duration_nanos() / 1e9, 2.0, 0.5);
  auto pprof_tool = [&](const std::string& args) {
    return ShOut("HOME=" + dir_ + " GOCACHE=" + dir_ + "/gocache " + go + " tool pprof " + args +
                 " 2>&1; echo rc=$?");
  };
  std::string out = pprof_tool("-top -symbolize=none " + cpu_file);
  EXPECT_NE(out.find("rc=0"), std::string::npos) << out;
  EXPECT_NE(out.find("Type: cpu"), std::string::npos) << out;
  out = pprof_tool("-top -symbolize=none -sample_index=alloc_space -nodefraction=0 "
                   "-nodecount=100000 " + heap_file);
  EXPECT_NE(out.find("rc=0"), std::string::npos) << out;
  EXPECT_NE(out.find("Type: alloc_space"), std::string::npos) << out;
  EXPECT_NE(out.find("github.com/prometheus/prometheus/"), std::string::npos) << out;
}

TEST_F(ObserveTest, BadPromqlIsRefusedAtSubmitWithTheFieldNamed) {
  StartController();
  std::string suite = WriteSuite("badq", R"yaml(
jobs:
  - name: j
    benchmark:
      workload:
        duration: 1s
        command: {run: "true"}
      observe:
        prometheus:
          queries:
            - {name: fine, expr: 'sum(up)'}
            - {name: typo, expr: 'sum(rate(http_requests_total[window])'}
)yaml");
  std::string out;
  EXPECT_EQ(Cli({"run", "submit", "--suite", suite}, &out), 2) << out;
  EXPECT_NE(out.find("spec.jobs[0].benchmark.observe.prometheus.queries[1].expr: bad PromQL"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("unclosed left parenthesis"), std::string::npos) << out;
  v1::ListRunsRequest req;
  v1::ListRunsResponse resp;
  auto ctx = Ctx();
  ASSERT_TRUE(stub_->ListRuns(ctx.get(), req, &resp).ok());
  EXPECT_EQ(resp.runs_size(), 0) << "nothing is stored";
}

TEST_F(ObserveTest, PgStatStatementsAndExplainFromAStackDatabase) {
  StartController();
  StartAgent("a1");
  std::string dsn = "postgresql://postgres@127.0.0.1:{port:db}/postgres";
  std::string suite = WriteSuite(
      "dbstats", absl::StrCat(R"x(
jobs:
  - name: db
    benchmark:
      stack:
        services:
)x",
                              PostgresService("-c shared_preload_libraries=pg_stat_statements"),
                              R"x(      fixtures:
        - name: schema
          command: >-
            psql -X -q -v ON_ERROR_STOP=1 -d )x",
                              dsn, R"x( -c 'CREATE TABLE items (id int PRIMARY KEY, n int)'
            -c 'INSERT INTO items SELECT g, g % 10 FROM generate_series(1, 5000) g' &&
            echo 'SELECT count(*) FROM items WHERE n = 3;' > {workdir}/q.sql
      workload:
        duration: 2s
        repetitions: 2
        pgbench: {dsn: ")x",
                              dsn, R"x(", clients: 2, args: [-n, -f, "{workdir}/q.sql"]}
      observe:
        postgres:
          dsn: ")x",
                              dsn, R"x("
          top: 5
          explain:
            - {name: by_n, sql: "SELECT count(*) FROM items WHERE n = 3"}
            - {name: broken, sql: "SELECT nope FROM items"}
            - {name: writes, sql: "DELETE FROM items"}
)x"));
  int64_t id = Submit(suite, "", 0);
  auto j = CliJson({"run", "dbstats", std::to_string(id)});
  ASSERT_EQ(j["repetitions"].size(), 2u) << j.dump() << AllLogs(id);
  for (const auto& rep : j["repetitions"]) {
    const auto& d = rep["dbstats"];
    ASSERT_GE(d["statements"].size(), 1u) << d.dump();
    // The window's own statements only (reset at its start): pgbench's query leads.
    const auto& first = d["statements"][0];
    EXPECT_NE(first["query"].get<std::string>().find("FROM items WHERE n ="), std::string::npos)
        << d.dump();
    EXPECT_GT(std::stoll(first["calls"].get<std::string>()), 10);
    EXPECT_GT(first["total_ms"].get<double>(), 0);
    EXPECT_LE(d["statements"].size(), 5u);
    for (const auto& s : d["statements"])
      EXPECT_EQ(s["query"].get<std::string>().find("CREATE TABLE"), std::string::npos)
          << "statements from before the window must have been reset";
    ASSERT_EQ(d["explains"].size(), 2u) << d.dump();
    EXPECT_EQ(d["explains"][0]["name"], "by_n");
    auto plan = nlohmann::json::parse(d["explains"][0]["plan_json"].get<std::string>());
    EXPECT_TRUE(plan[0]["Plan"].contains("Actual Rows")) << plan.dump();
    EXPECT_TRUE(plan[0]["Plan"].contains("Shared Hit Blocks")) << "BUFFERS";
  }
  // EXPLAIN ANALYZE runs a DELETE for real, inside a transaction that is rolled back: the
  // second repetition's DELETE finds all 5000 rows again.
  auto writes = nlohmann::json::parse(
      j["repetitions"][1]["dbstats"]["explains"][1]["plan_json"].get<std::string>());
  EXPECT_EQ(writes[0]["Plan"]["Plans"][0]["Actual Rows"], 5000) << writes.dump();
  // The broken EXPLAIN is a gap naming PostgreSQL's complaint.
  v1::RunResults r = Results(id);
  bool broken_gap = false;
  for (const auto& g : r.jobs(0).repetitions(0).gaps())
    broken_gap |=
        g.name() == "dbstats.explain.broken" && g.reason().find("nope") != std::string::npos;
  EXPECT_TRUE(broken_gap) << r.DebugString();
  std::string table;
  ASSERT_EQ(Cli({"run", "dbstats", std::to_string(id)}, &table), 0);
  EXPECT_NE(table.find("explain by_n"), std::string::npos) << table;
  EXPECT_NE(table.find("total ms"), std::string::npos) << table;
}

}  // namespace
}  // namespace perfgate::testing
