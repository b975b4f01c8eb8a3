// How fast the controller reads and summarises pprof profiles, against `go tool pprof -top` on
// the same files in the same invocation. The profiles are synthetic but shaped like a busy
// service's CPU profile: thousands of functions, deep stacks, many distinct samples.
//   profile_bench [--samples 200000] [--functions 5000] [--runs 5]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "common/compress/gzip.h"
#include "common/process/subprocess.h"
#include "controller/profile/pprof.h"

namespace {

using Clock = std::chrono::steady_clock;

// A CPU-like profile: `functions` functions, one location each, samples with stacks of 8..40
// frames drawn with a skew (a few hot paths, a long tail), values in nanoseconds.
std::string Synthetic(int samples, int functions, uint32_t seed) {
  perfgate::pprof::Profile p;
  p.add_string_table("");
  auto str = [&](const std::string& s) {
    p.add_string_table(s);
    return static_cast<int64_t>(p.string_table_size() - 1);
  };
  auto* t = p.add_sample_type();
  t->set_type(str("samples"));
  t->set_unit(str("count"));
  t = p.add_sample_type();
  t->set_type(str("cpu"));
  t->set_unit(str("nanoseconds"));
  for (int f = 1; f <= functions; ++f) {
    auto* fn = p.add_function();
    fn->set_id(f);
    fn->set_name(str(
        absl::StrFormat("github.com/example/service/pkg%d.(*Type%d).Method%d", f % 97, f % 13, f)));
    fn->set_filename(str(absl::StrFormat("pkg%d/file%d.go", f % 97, f % 31)));
    auto* loc = p.add_location();
    loc->set_id(f);
    loc->set_address(0x400000 + 16 * f);
    loc->add_line()->set_function_id(f);
  }
  std::mt19937 rng(seed);
  std::geometric_distribution<int> hot(0.002);
  std::uniform_int_distribution<int> depth(8, 40);
  for (int i = 0; i < samples; ++i) {
    auto* s = p.add_sample();
    int d = depth(rng);
    for (int k = 0; k < d; ++k) s->add_location_id(1 + (hot(rng) + k * 7) % functions);
    s->add_value(1);
    s->add_value(10'000'000);
  }
  return perfgate::common::Gzip(p.SerializeAsString());
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// A field of /proc/self/status in KiB (VmRSS, VmHWM).
long StatusKib(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::atol(line.c_str() + field.size() + 1);
  }
  return -1;
}

// Resets the peak-RSS mark (VmHWM) so it measures only what follows.
void ResetPeakRss() { std::ofstream("/proc/self/clear_refs") << "5"; }

// Wall time of `go tool pprof -top` on `file` (ms), or -1 without Go.
double GoPprofMs(const std::string& go, const std::string& file) {
  perfgate::common::SpawnOptions o;
  o.argv = {go,  "tool", "pprof", "-top", "-nodecount=20", "-sample_index=cpu", "-symbolize=none",
            file};
  int code = -1;
  auto t0 = Clock::now();
  auto out = perfgate::common::RunAndCapture(o, &code);
  double ms = Ms(Clock::now() - t0);
  if (!out.ok() || code != 0) {
    std::cerr << "go tool pprof failed (" << code << "): " << out.value_or("").substr(0, 300)
              << "\n";
    return -1;
  }
  return ms;
}

}  // namespace

// main is long on purpose: it is the benchmark's script, read top to bottom as the README
// describes it (flags, set-up, measured steps, figures).
int main(int argc, char** argv) {
  int samples = 200'000, functions = 5'000, runs = 5;
  std::string dir = "/tmp";
  CLI::App app{"pprof reading speed against go tool pprof"};
  app.add_option("--samples", samples)->capture_default_str();
  app.add_option("--functions", functions)->capture_default_str();
  app.add_option("--runs", runs)->capture_default_str();
  app.add_option("--dir", dir, "where the profile files go")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::string a = Synthetic(samples, functions, 1), b = Synthetic(samples, functions, 2);
  std::string fa = dir + "/perfgate-bench-a.pb.gz", fb = dir + "/perfgate-bench-b.pb.gz";
  std::ofstream(fa, std::ios::binary) << a;
  std::ofstream(fb, std::ios::binary) << b;
  std::cout << absl::StrFormat("profile: %d samples, %d functions, %.1f MiB gzipped\n", samples,
                               functions, a.size() / 1048576.0);

  // Memory of one diff (both profiles parsed and held), apart from generating them.
  ResetPeakRss();
  const long rss0 = StatusKib("VmRSS");
  {
    auto pa = perfgate::controller::Profile::Parse(a);
    auto pb = perfgate::controller::Profile::Parse(b);
    if (pa.ok() && pb.ok()) (void)perfgate::controller::DiffProfiles(*pa, *pb, "cpu", 20);
  }
  const long peak = StatusKib("VmHWM") - rss0;

  std::vector<double> parse_ms, top_ms, diff_ms;
  for (int r = 0; r < runs; ++r) {
    auto t0 = Clock::now();
    auto pa = perfgate::controller::Profile::Parse(a);
    auto t1 = Clock::now();
    auto top = perfgate::controller::TopFunctions(*pa, "cpu", 20);
    auto t2 = Clock::now();
    auto pb = perfgate::controller::Profile::Parse(b);
    auto t3 = Clock::now();
    auto diff = perfgate::controller::DiffProfiles(*pa, *pb, "cpu", 20);
    auto t4 = Clock::now();
    if (!pa.ok() || !top.ok() || !pb.ok() || !diff.ok()) {
      std::cerr << "profile_bench: the synthetic profile did not read\n";
      return 1;
    }
    parse_ms.push_back(Ms(t1 - t0));
    top_ms.push_back(Ms(t2 - t1));
    diff_ms.push_back(Ms(t4 - t3) +
                      Ms(t1 - t0));  // what DiffProfiles costs end to end: 2 parses + diff
  }
  const double ours = Median(parse_ms) + Median(top_ms);
  std::cout << absl::StrFormat(
      "perfgate parse: %.1f ms, top: %.1f ms, parse+top: %.1f ms (median of %d)\n",
      Median(parse_ms), Median(top_ms), ours, runs);
  std::cout << absl::StrFormat("perfgate diff (2 parses + diff): %.1f ms\n", Median(diff_ms));
  std::cout << absl::StrFormat("peak RSS growth while diffing two such profiles: %.1f MiB\n",
                               peak / 1024.0);

  std::string go = perfgate::common::FindProgram("go");
  if (go.empty()) {
    std::cout << "reference: go not installed (apt-get install golang-go): no ratio\n";
    return 0;
  }
  // Reference: the same file through go tool pprof, and its start-up on a tiny profile.
  std::string tiny = dir + "/perfgate-bench-tiny.pb.gz";
  std::ofstream(tiny, std::ios::binary) << Synthetic(10, 10, 3);
  std::vector<double> go_ms, go_tiny;
  for (int r = 0; r < std::max(3, runs / 2); ++r) {
    go_tiny.push_back(GoPprofMs(go, tiny));
    go_ms.push_back(GoPprofMs(go, fa));
  }
  const double g = Median(go_ms), gt = Median(go_tiny);
  if (g < 0) return 1;
  std::cout << absl::StrFormat(
      "reference: go tool pprof -top: %.1f ms (start-up on a tiny profile %.1f ms, so %.1f ms "
      "of work)\n",
      g, gt, g - gt);
  std::cout << absl::StrFormat(
      "ratio: perfgate parse+top / go tool pprof work = %.4f (%.0fx faster)\n",
      ours / std::max(1.0, g - gt), (g - gt) / std::max(0.001, ours));
  std::remove(fa.c_str());
  std::remove(fb.c_str());
  std::remove(tiny.c_str());
  return 0;
}
