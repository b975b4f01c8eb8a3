// The pprof reader on profiles built here field by field, so every expected figure is known:
// flat counts leaves, cum counts each function once per sample (recursion too), inlined frames
// are functions of their own, and diffs line functions up by name.
#include "controller/profile/pprof.h"

#include "gtest/gtest.h"
#include "common/compress/gzip.h"

namespace perfgate::controller {
namespace {

class Builder {
 public:
  Builder() { p_.add_string_table(""); }
  int64_t S(const std::string& s) {
    for (int i = 0; i < p_.string_table_size(); ++i)
      if (p_.string_table(i) == s) return i;
    p_.add_string_table(s);
    return p_.string_table_size() - 1;
  }
  Builder& Type(const std::string& t, const std::string& unit) {
    auto* v = p_.add_sample_type();
    v->set_type(S(t));
    v->set_unit(S(unit));
    return *this;
  }
  // A location holding `names` (innermost first: inlined frames).
  uint64_t Loc(const std::vector<std::string>& names) {
    auto* l = p_.add_location();
    l->set_id(p_.location_size());
    for (const auto& n : names) {
      uint64_t fid = 0;
      for (const auto& f : p_.function())
        if (p_.string_table(static_cast<int>(f.name())) == n) fid = f.id();
      if (!fid) {
        auto* f = p_.add_function();
        f->set_id(p_.function_size());
        f->set_name(S(n));
        f->set_filename(S(n + ".go"));
        fid = f->id();
      }
      l->add_line()->set_function_id(fid);
    }
    return l->id();
  }
  // A sample with a stack of locations (leaf first) and values.
  Builder& Sample(const std::vector<uint64_t>& stack, const std::vector<int64_t>& values) {
    auto* s = p_.add_sample();
    for (auto l : stack) s->add_location_id(l);
    for (auto v : values) s->add_value(v);
    return *this;
  }
  std::string Bytes() const { return p_.SerializeAsString(); }
  std::string Gzipped() const { return perfgate::common::Gzip(Bytes()); }
  pprof::Profile& proto() { return p_; }

 private:
  pprof::Profile p_;
};

// main -> handler -> parse (leaf) and main -> handler -> write (leaf), with parse's location
// also holding an inlined helper, and a recursive walk -> walk -> walk.
Builder Sample1() {
  Builder b;
  b.Type("samples", "count").Type("cpu", "nanoseconds");
  uint64_t main = b.Loc({"main"}), handler = b.Loc({"handler"});
  uint64_t parse = b.Loc({"inlinedHelper", "parse"}), write = b.Loc({"write"});
  uint64_t walk = b.Loc({"walk"});
  b.Sample({parse, handler, main}, {3, 300});
  b.Sample({write, handler, main}, {1, 100});
  b.Sample({walk, walk, walk, main}, {2, 200});
  return b;
}

const v1::FunctionCost* Fn(const v1::ProfileTop& t, const std::string& name) {
  for (const auto& f : t.functions())
    if (f.name() == name) return &f;
  return nullptr;
}

TEST(PprofTest, TopCountsFlatAtTheLeafAndCumOncePerSample) {
  auto p = Profile::Parse(Sample1().Gzipped());
  ASSERT_TRUE(p.ok()) << p.status();
  auto top = TopFunctions(*p, "", 100);
  ASSERT_TRUE(top.ok()) << top.status();
  EXPECT_EQ(top->sample_type(), "cpu") << "the last type when no default is named";
  EXPECT_EQ(top->unit(), "nanoseconds");
  EXPECT_EQ(top->total(), 600);
  EXPECT_EQ(top->samples(), 3);
  ASSERT_EQ(top->sample_types_size(), 2);
  EXPECT_EQ(top->sample_types(0), "samples/count");
  // The inlined helper is the innermost frame of parse's location: the leaf.
  EXPECT_EQ(Fn(*top, "inlinedHelper")->flat(), 300);
  EXPECT_EQ(Fn(*top, "parse")->flat(), 0);
  EXPECT_EQ(Fn(*top, "parse")->cum(), 300);
  EXPECT_EQ(Fn(*top, "write")->flat(), 100);
  EXPECT_EQ(Fn(*top, "handler")->flat(), 0);
  EXPECT_EQ(Fn(*top, "handler")->cum(), 400);
  EXPECT_EQ(Fn(*top, "main")->cum(), 600);
  EXPECT_EQ(Fn(*top, "walk")->flat(), 200);
  EXPECT_EQ(Fn(*top, "walk")->cum(), 200) << "recursion counts once per sample";
  EXPECT_EQ(Fn(*top, "walk")->file(), "walk.go");
  // Ordered by flat, largest first.
  EXPECT_EQ(top->functions(0).name(), "inlinedHelper");
  EXPECT_EQ(top->functions(1).name(), "walk");
  auto two = TopFunctions(*p, "samples", 2);
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two->functions_size(), 2);
  EXPECT_EQ(two->total(), 6);
}

TEST(PprofTest, TheDefaultSampleTypeIsHonoured) {
  Builder b = Sample1();
  b.proto().set_default_sample_type(b.S("samples"));
  auto p = Profile::Parse(b.Bytes());  // uncompressed is read too
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(TopFunctions(*p, "", 5)->sample_type(), "samples");
  auto bad = TopFunctions(*p, "alloc_space", 5);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("it has samples, cpu"), std::string::npos) << bad.status();
}

TEST(PprofTest, DiffLinesFunctionsUpByNameLargestChangeFirst) {
  Builder base = Sample1();
  Builder cand;
  cand.Type("samples", "count").Type("cpu", "nanoseconds");
  uint64_t main = cand.Loc({"main"}), handler = cand.Loc({"handler"});
  uint64_t write = cand.Loc({"write"}), leak = cand.Loc({"grow"});
  cand.Sample({write, handler, main}, {1, 150});  // write +50
  cand.Sample({leak, handler, main}, {9, 900});   // grow is new: +900
  auto b = Profile::Parse(base.Bytes());
  auto c = Profile::Parse(cand.Gzipped());
  ASSERT_TRUE(b.ok() && c.ok());
  auto d = DiffProfiles(*b, *c, "cpu", 10);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->base_total(), 600);
  EXPECT_EQ(d->candidate_total(), 1050);
  ASSERT_GE(d->functions_size(), 4);
  EXPECT_EQ(d->functions(0).name(), "grow");
  EXPECT_EQ(d->functions(0).base_flat(), 0);
  EXPECT_EQ(d->functions(0).candidate_flat(), 900);
  // inlinedHelper and walk vanished (-300, -200), then write (+50).
  EXPECT_EQ(d->functions(1).name(), "inlinedHelper");
  EXPECT_EQ(d->functions(1).candidate_flat(), 0);
  EXPECT_EQ(d->functions(2).name(), "walk");
  EXPECT_EQ(d->functions(3).name(), "write");
  EXPECT_EQ(d->functions(3).candidate_flat() - d->functions(3).base_flat(), 50);
  // Unchanged functions are left out: main's cum went 600 -> 1050, so it stays; nothing with
  // equal flat and cum appears.
  for (const auto& f : d->functions())
    EXPECT_TRUE(f.base_flat() != f.candidate_flat() || f.base_cum() != f.candidate_cum());
}

TEST(PprofTest, SidesOfSeveralRepetitionsAreDiffedByTheirMeanPerProfile) {
  // Baseline: three repetitions of Sample1 (parse 300, write 100, walk 200 each), one of them
  // with an extra 300 in write. Candidate: two repetitions where write costs 500.
  auto one = [](int64_t write_cpu, int64_t extra_write) {
    Builder b;
    b.Type("samples", "count").Type("cpu", "nanoseconds");
    uint64_t main = b.Loc({"main"}), handler = b.Loc({"handler"});
    uint64_t parse = b.Loc({"parse"}), write = b.Loc({"write"}), walk = b.Loc({"walk"});
    b.Sample({parse, handler, main}, {3, 300});
    b.Sample({write, handler, main}, {1, write_cpu});
    if (extra_write) b.Sample({write, main}, {1, extra_write});
    b.Sample({walk, walk, main}, {2, 200});
    return *Profile::Parse(b.Bytes());
  };
  CostSum base, cand;
  ASSERT_TRUE(base.Add(one(100, 0), "cpu").ok());
  ASSERT_TRUE(base.Add(one(100, 300), "cpu").ok());
  ASSERT_TRUE(base.Add(one(100, 0), "cpu").ok());
  ASSERT_TRUE(cand.Add(one(500, 0), base.sample_type()).ok());
  ASSERT_TRUE(cand.Add(one(500, 0), base.sample_type()).ok());
  EXPECT_EQ(base.profiles(), 3);
  EXPECT_EQ(base.total(), 3 * 600 + 300);
  EXPECT_EQ(base.sums().at("write").flat, 600);
  auto d = DiffCostSums(base, cand, 10);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->base_profiles(), 3);
  EXPECT_EQ(d->candidate_profiles(), 2);
  EXPECT_EQ(d->base_total(), 700) << "(3 x 600 + 300) / 3";
  EXPECT_EQ(d->candidate_total(), 1000);
  // write: 200 a profile in the baseline (the odd repetition is averaged, not the whole story)
  // against 500; parse and walk did not move and are left out; main and handler moved in cum.
  ASSERT_GE(d->functions_size(), 1);
  EXPECT_EQ(d->functions(0).name(), "write");
  EXPECT_EQ(d->functions(0).base_flat(), 200);
  EXPECT_EQ(d->functions(0).candidate_flat(), 500);
  for (const auto& f : d->functions()) {
    EXPECT_NE(f.name(), "parse");
    EXPECT_NE(f.name(), "walk");
  }
  // A profile of another kind is refused by the sum it would spoil, naming the types it has.
  Builder heap;
  heap.Type("inuse_space", "bytes");
  heap.Sample({heap.Loc({"f"})}, {10});
  auto s = base.Add(*Profile::Parse(heap.Bytes()), base.sample_type());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("'cpu' is not in the profile"), std::string::npos) << s;
  EXPECT_EQ(base.profiles(), 3);
  EXPECT_EQ(DiffCostSums(base, CostSum(), 10).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PprofTest, DiffOfDifferentKindsOfProfileIsRefused) {
  Builder heap;
  heap.Type("inuse_space", "bytes");
  heap.Sample({heap.Loc({"f"})}, {10});
  auto h = Profile::Parse(heap.Bytes());
  auto c = Profile::Parse(Sample1().Bytes());
  ASSERT_TRUE(h.ok() && c.ok());
  auto d = DiffProfiles(*h, *c, "", 10);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(d.status().message().find("no sample type 'inuse_space'"), std::string::npos);
}

TEST(PprofTest, GarbageIsRefusedWithAReason) {
  EXPECT_NE(Profile::Parse("hello, world").status().message().find("not a pprof profile"),
            std::string::npos);
  std::string gz = Sample1().Gzipped();
  EXPECT_NE(Profile::Parse(gz.substr(0, gz.size() / 2)).status().message().find("gzip"),
            std::string::npos);
  Builder b = Sample1();
  b.proto().mutable_function(0)->set_name(999);
  EXPECT_NE(Profile::Parse(b.Bytes()).status().message().find("string that does not exist"),
            std::string::npos);
  Builder v = Sample1();
  v.proto().mutable_sample(0)->add_value(1);
  EXPECT_NE(Profile::Parse(v.Bytes()).status().message().find("do not match the sample types"),
            std::string::npos);
  EXPECT_FALSE(Profile::Parse("").ok());
}

TEST(PprofTest, UnsymbolisedLocationsAreNamedByAddress) {
  Builder b;
  b.Type("samples", "count");
  auto* l = b.proto().add_location();
  l->set_id(1);
  l->set_address(0x4a10f0);
  b.Sample({1}, {5});
  auto p = Profile::Parse(b.Bytes());
  ASSERT_TRUE(p.ok());
  auto top = TopFunctions(*p, "", 5);
  ASSERT_EQ(top->functions_size(), 1);
  EXPECT_EQ(top->functions(0).name(), "0x4a10f0");
  EXPECT_EQ(top->functions(0).flat(), 5);
}

}  // namespace
}  // namespace perfgate::controller
