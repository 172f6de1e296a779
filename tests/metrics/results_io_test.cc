// Results files and merging: write/read round trips (binary and JSON), read
// errors that name the file, the exact merge of shards into the whole run,
// merge order independence, and merges refused.
#include "metrics/results_io.h"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "metrics/histogram.h"
#include "metrics/recorder.h"
#include "metrics/slo.h"
#include "synthetic_run.h"

namespace cellsim::metrics {
namespace {

namespace fs = std::filesystem;
using ::google::protobuf::util::MessageDifferencer;
using testing::SyntheticRun;

// A fresh directory per test, removed afterwards.
class ResultsIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("cellsim_metrics_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static void write_text(const fs::path& p, const std::string& text) {
    std::ofstream(p, std::ios::binary) << text;
  }
  static std::string read_text(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  fs::path dir_;
};

// The results of shard i of n: the nodes in `nodes`.
v1::Results shard_results(const SyntheticRun& run, const std::set<uint32_t>& nodes, uint32_t i,
                          uint32_t n) {
  Recorder rec;
  testing::record_cells(run, nodes, &rec);
  return rec.to_results(testing::run_info(run, i, n));
}

v1::Scenario scenario_with_slos() {
  v1::Scenario s;
  s.set_name("synthetic");
  v1::Slo* slo = s.add_slos();
  slo->set_metric("join_latency");
  slo->set_quantile(0.99);
  slo->set_max_ms(10'000);
  slo = s.add_slos();
  slo->set_metric("heartbeat_rtt");
  slo->set_quantile(0.5);
  slo->set_max_ms(100);
  slo->set_cell_type("island");
  s.add_quorum_slos()->set_min_attainment(0.8);
  return s;
}

// Clears what legitimately differs between a merge of shards and the whole run.
void clear_wall_clock_and_shards(v1::Results* r) {
  v1::RunInfo* run = r->mutable_run();
  run->clear_wall_s();
  run->clear_finished_unix_s();
  run->clear_peak_rss_bytes();
  run->clear_host();
  run->clear_shards();
  run->clear_shard_count();
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// results.pb and results.json are written; the dir, the .pb and the .json all read back exactly.
TEST_F(ResultsIoTest, WriteReadRoundTrip) {
  v1::Results r = shard_results({}, {0, 1, 2, 3}, 0, 0);
  evaluate_slos(scenario_with_slos(), &r);
  const fs::path out = dir_ / "run" / "nested";
  std::string why;
  ASSERT_TRUE(write_results(out.string(), r, &why)) << why;
  for (const fs::path& p : {out, out / "results.pb", out / "results.json"}) {
    SCOPED_TRACE(p.string());
    v1::Results back;
    ASSERT_TRUE(read_results(p.string(), &back, &why)) << why;
    EXPECT_TRUE(MessageDifferencer::Equals(r, back));
  }
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(out)) files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files, (std::vector<std::string>{"results.json", "results.pb"}));  // no .tmp left
  const std::string json = read_text(out / "results.json");
  EXPECT_TRUE(contains(json, "\"counts_index\"")) << "proto field names preserved";
  EXPECT_TRUE(contains(json, "\"partial\": false")) << "primitive fields always printed";
  EXPECT_TRUE(contains(json, "\n \"run\": {")) << "pretty-printed";
}

// Writing again replaces both files.
TEST_F(ResultsIoTest, WriteReplaces) {
  v1::Results a = shard_results({}, {0}, 0, 4);
  v1::Results b = shard_results({}, {1}, 1, 4);
  std::string why;
  ASSERT_TRUE(write_results(dir_.string(), a, &why)) << why;
  ASSERT_TRUE(write_results(dir_.string(), b, &why)) << why;
  v1::Results back;
  ASSERT_TRUE(read_results((dir_ / "results.json").string(), &back, &why)) << why;
  EXPECT_TRUE(MessageDifferencer::Equals(b, back));
  ASSERT_TRUE(read_results(dir_.string(), &back, &why)) << why;
  EXPECT_TRUE(MessageDifferencer::Equals(b, back));
}

// write_results fails, naming the path, when the directory cannot be made.
TEST_F(ResultsIoTest, WriteErrorNamesPath) {
  write_text(dir_ / "file", "x");
  std::string why;
  EXPECT_FALSE(write_results((dir_ / "file" / "sub").string(), v1::Results(), &why));
  EXPECT_TRUE(contains(why, (dir_ / "file").string())) << why;
}

// Read errors name the file: missing, dir without results.pb, not results, invalid histogram.
TEST_F(ResultsIoTest, ReadErrorsNameTheFile) {
  std::string why;
  v1::Results r;
  const std::string missing = (dir_ / "nope.pb").string();
  EXPECT_FALSE(read_results(missing, &r, &why));
  EXPECT_TRUE(contains(why, missing) && contains(why, "no such file")) << why;

  fs::create_directories(dir_ / "empty_dir");
  EXPECT_FALSE(read_results((dir_ / "empty_dir").string(), &r, &why));
  EXPECT_TRUE(contains(why, (dir_ / "empty_dir").string()) && contains(why, "results.pb")) << why;

  struct NotResults {
    fs::path file;
    std::string content;
  };
  const NotResults cases[] = {
      {dir_ / "garbage.pb", "\xff\xff\xff\xff garbage"},
      {dir_ / "empty.pb", ""},
      {dir_ / "scenario.json", "{\"name\": \"x\", \"seed\": 3}"},
      {dir_ / "broken.json", "{\"run\": "},
      {dir_ / "no_groups.json", "{\"run\": {\"scenario\": \"x\"}}"},
      {dir_ / "text_no_extension", "{\"groups\": [{\"kind\": \"profile\", \"name\": \"x\"}]}"},
  };
  for (const NotResults& c : cases) {
    SCOPED_TRACE(c.file.string());
    write_text(c.file, c.content);
    EXPECT_FALSE(read_results(c.file.string(), &r, &why));
    EXPECT_TRUE(contains(why, c.file.string()) && contains(why, "not cellsim results")) << why;
  }

  v1::Results bad = shard_results({}, {0, 1}, 0, 0);
  v1::Histogram* h = bad.mutable_groups(1)->mutable_latencies(2)->mutable_histogram();
  h->set_counts(0, h->counts(0) + 1);  // counts no longer sum to total_count
  ASSERT_TRUE(write_results(dir_.string(), bad, &why)) << why;
  for (const char* name : {"results.pb", "results.json"}) {
    const std::string file = (dir_ / name).string();
    EXPECT_FALSE(read_results(file, &r, &why));
    EXPECT_TRUE(contains(why, file) && contains(why, "invalid histogram") &&
                contains(why, bad.groups(1).name()) && contains(why, "total_count"))
        << why;
  }

  if (::geteuid() != 0) {  // root reads anything
    const fs::path locked = dir_ / "locked.pb";
    write_text(locked, "x");
    ::chmod(locked.c_str(), 0);
    EXPECT_FALSE(read_results(locked.string(), &r, &why));
    EXPECT_TRUE(contains(why, locked.string()) && contains(why, "cannot read")) << why;
  }
}

// Results whose shares count more successes than trials, or whose batches
// repeat, are refused by name (they would break the verdicts' intervals).
TEST_F(ResultsIoTest, ReadRefusesImpossibleSharesAndRepeatedBatches) {
  std::string why;
  v1::Results r;
  v1::Results votes = shard_results({}, {0, 1}, 0, 0);
  v1::QuorumStats* q = votes.mutable_groups(1)->mutable_quorum();
  q->set_votes_valid(q->votes_held() + 1);
  ASSERT_TRUE(write_results(dir_.string(), votes, &why)) << why;
  EXPECT_FALSE(read_results(dir_.string(), &r, &why));
  EXPECT_TRUE(contains(why, "quorum.votes_valid") && contains(why, votes.groups(1).name())) << why;

  v1::Results twice = shard_results({}, {0, 1}, 0, 0);
  v1::Group* g = twice.mutable_groups(1);
  ASSERT_GT(g->batches_size(), 0);
  *g->add_batches() = g->batches(0);
  ASSERT_TRUE(write_results(dir_.string(), twice, &why)) << why;
  EXPECT_FALSE(read_results(dir_.string(), &r, &why));
  EXPECT_TRUE(contains(why, "appears twice") && contains(why, "batch")) << why;
}

// Merging shards that partition the cells gives exactly the whole run's results (SLOs too).
TEST_F(ResultsIoTest, MergeOfShardsEqualsWhole) {
  struct Split {
    SyntheticRun run;
    std::set<uint32_t> first, second;
  };
  const Split splits[] = {
      {{.seed = 1, .cells = 36, .nodes = 4}, {0, 2}, {1, 3}},
      {{.seed = 2, .cells = 40, .nodes = 5}, {4}, {0, 1, 2, 3}},
      {{.seed = 3, .cells = 3, .nodes = 3}, {0}, {1, 2}},  // cell types disjoint between shards
  };
  for (const Split& s : splits) {
    SCOPED_TRACE("seed " + std::to_string(s.run.seed));
    std::set<uint32_t> all = s.first;
    all.insert(s.second.begin(), s.second.end());
    v1::Results whole = shard_results(s.run, all, 0, 0);
    whole.mutable_run()->set_events(1000 + 2000);
    whole.mutable_run()->set_frames(500 + 1000);
    const v1::Results a = shard_results(s.run, s.first, 0, 2);
    const v1::Results b = shard_results(s.run, s.second, 1, 2);
    v1::Results merged;
    std::string why;
    ASSERT_TRUE(merge_results(a, b, &merged, &why)) << why;
    EXPECT_EQ(merged.run().shards_size(), 2);
    EXPECT_EQ(merged.run().host(), "host-0,host-1");
    EXPECT_EQ(merged.run().wall_s(), 2.5);
    const v1::Scenario scenario = scenario_with_slos();
    evaluate_slos(scenario, &merged);
    evaluate_slos(scenario, &whole);
    clear_wall_clock_and_shards(&merged);
    clear_wall_clock_and_shards(&whole);
    MessageDifferencer diff;
    std::string report;
    diff.ReportDifferencesToString(&report);
    EXPECT_TRUE(diff.Compare(whole, merged)) << report;
  }
}

// Any order and grouping of merging four shards gives identical bytes.
TEST_F(ResultsIoTest, MergeOrderIndependent) {
  const SyntheticRun run{.seed = 4, .cells = 48, .nodes = 4};
  std::vector<v1::Results> shards;
  for (uint32_t i = 0; i < 4; ++i) shards.push_back(shard_results(run, {i}, i, 4));
  auto merge = [](const v1::Results& x, const v1::Results& y) {
    v1::Results out;
    std::string why;
    EXPECT_TRUE(merge_results(x, y, &out, &why)) << why;
    return out;
  };
  const v1::Results& s0 = shards[0];
  const v1::Results& s1 = shards[1];
  const v1::Results& s2 = shards[2];
  const v1::Results& s3 = shards[3];
  const v1::Results left = merge(merge(merge(s0, s1), s2), s3);
  const std::vector<v1::Results> others = {
      merge(s3, merge(s2, merge(s1, s0))),
      merge(merge(s0, s1), merge(s2, s3)),
      merge(merge(s3, s1), merge(s2, s0)),
      merge(s2, merge(merge(s0, s3), s1)),
  };
  for (const v1::Results& o : others) {
    EXPECT_EQ(o.SerializeAsString(), left.SerializeAsString());
  }
  v1::Results acc = s0;  // accumulating in place: out may be an input
  std::string why;
  for (const v1::Results* next : {&s1, &s2, &s3}) {
    ASSERT_TRUE(merge_results(acc, *next, &acc, &why)) << why;
  }
  EXPECT_EQ(acc.SerializeAsString(), left.SerializeAsString());
  EXPECT_EQ(left.run().shards_size(), 4);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(left.run().shards(i), std::to_string(i) + "/4");
  for (int i = 0; i < 4; ++i) EXPECT_EQ(left.servers(i).node(), static_cast<uint32_t>(i));
  EXPECT_EQ(left.run().host(), "host-0,host-1,host-2,host-3");
}

// Shard names sort numerically ("2/12" before "10/12").
TEST_F(ResultsIoTest, ShardsSortNumerically) {
  const SyntheticRun run{.seed = 6, .cells = 24, .nodes = 12};
  v1::Results merged;
  std::string why;
  ASSERT_TRUE(merge_results(shard_results(run, {10}, 10, 12), shard_results(run, {2}, 2, 12),
                            &merged, &why))
      << why;
  ASSERT_EQ(merged.run().shards_size(), 2);
  EXPECT_EQ(merged.run().shards(0), "2/12");
  EXPECT_EQ(merged.run().shards(1), "10/12");
}

// Merges of different runs, overlapping shards/nodes or mismatched histograms are refused.
TEST_F(ResultsIoTest, MergeRefusals) {
  const SyntheticRun run{.seed = 7, .cells = 12, .nodes = 2};
  const v1::Results a = shard_results(run, {0}, 0, 2);
  const v1::Results b = shard_results(run, {1}, 1, 2);
  struct Case {
    const char* name;
    std::function<void(v1::Results*)> change;
    const char* says;
  };
  const Case cases[] = {
      {"scenario", [](v1::Results* r) { r->mutable_run()->set_scenario("other"); }, "scenarios"},
      {"seed", [](v1::Results* r) { r->mutable_run()->set_seed(99); }, "seeds"},
      {"mode", [](v1::Results* r) { r->mutable_run()->set_mode("live"); }, "modes"},
      {"version", [](v1::Results* r) { r->mutable_run()->set_cellsim_version("9"); }, "versions"},
      {"calibration", [](v1::Results* r) { r->mutable_run()->set_calibration("x"); },
       "calibrations"},
      {"shard count", [](v1::Results* r) { r->mutable_run()->set_shard_count(3); }, "shard counts"},
      {"same shard", [](v1::Results* r) { r->mutable_run()->set_shards(0, "0/2"); },
       "shard 0/2 is in both"},
      {"same node", [](v1::Results* r) { r->mutable_servers(0)->set_node(0); },
       "server node 0 is in both"},
      {"histogram layout",
       [](v1::Results* r) {
         Histogram h(HistogramLayout{1, 3'600'000'000, 2, "us"});
         h.record(5);
         h.to_proto(r->mutable_groups(0)->mutable_latencies(0)->mutable_histogram());
       },
       "layouts differ"},
      {"invalid histogram",
       [](v1::Results* r) {
         r->mutable_groups(0)->mutable_latencies(0)->mutable_histogram()->set_total_count(1);
       },
       "invalid histogram"},
      {"bad group kind", [](v1::Results* r) { r->mutable_groups(1)->set_kind("region"); },
       "group kind"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    v1::Results changed = b;
    c.change(&changed);
    v1::Results out;
    out.mutable_run()->set_scenario("untouched");
    std::string why;
    EXPECT_FALSE(merge_results(a, changed, &out, &why));
    EXPECT_TRUE(contains(why, c.says)) << why;
    EXPECT_EQ(out.run().scenario(), "untouched");
    EXPECT_FALSE(merge_results(changed, a, &out, &why));
  }
}

// A merge drops SLO results (they are recomputed from the merged figures, never merged).
TEST_F(ResultsIoTest, MergeDropsSlos) {
  const SyntheticRun run{.seed = 8, .cells = 12, .nodes = 2};
  v1::Results a = shard_results(run, {0}, 0, 2);
  v1::Results b = shard_results(run, {1}, 1, 2);
  evaluate_slos(scenario_with_slos(), &a);
  evaluate_slos(scenario_with_slos(), &b);
  v1::Results out;
  std::string why;
  ASSERT_TRUE(merge_results(a, b, &out, &why)) << why;
  EXPECT_EQ(out.slos_size(), 0);
}

// Sizing results (`cellsim size`) are a search over runs, not shards: never merged.
TEST_F(ResultsIoTest, MergeRefusesSizing) {
  const SyntheticRun run{.seed = 8, .cells = 12, .nodes = 2};
  v1::Results a = shard_results(run, {0}, 0, 2);
  v1::Results b = shard_results(run, {1}, 1, 2);
  a.mutable_sizing()->set_scenario("s");
  v1::Results out;
  std::string why;
  EXPECT_FALSE(merge_results(a, b, &out, &why));
  EXPECT_NE(why.find("cellsim size"), std::string::npos) << why;
}

// Validation results compare two runs: never merged either.
TEST_F(ResultsIoTest, MergeRefusesValidation) {
  const SyntheticRun run{.seed = 8, .cells = 12, .nodes = 2};
  v1::Results a = shard_results(run, {0}, 0, 2);
  v1::Results b = shard_results(run, {1}, 1, 2);
  b.mutable_validation()->set_scenario("s");
  v1::Results out;
  std::string why;
  EXPECT_FALSE(merge_results(a, b, &out, &why));
  EXPECT_NE(why.find("cellsim validate"), std::string::npos) << why;
}

// merge_results has a rule for every field of RunInfo, Group, Results: a new field needs one.
TEST_F(ResultsIoTest, MergeKnowsEveryField) {
  EXPECT_EQ(v1::RunInfo::descriptor()->field_count(),
            20);                                          // link_mode, media_transport: must agree
  EXPECT_EQ(v1::Group::descriptor()->field_count(), 11);  // titles: the first non-empty;
                                                          // batches: by (seed, index);
                                                          // voice: merge_voice
  EXPECT_EQ(v1::Results::descriptor()->field_count(), 7);   // sizing, validation: refused;
                                                            // attendance: attendance_test.cc
  EXPECT_EQ(v1::Histogram::descriptor()->field_count(), 11);
  EXPECT_EQ(v1::VoiceStats::descriptor()->field_count(),
            12);  // merge_voice: sums, batches by (seed, index)
}

}  // namespace
}  // namespace cellsim::metrics
