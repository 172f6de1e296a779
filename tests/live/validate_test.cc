// `cellsim validate` (live/validate.h, cli/validate.cc): rows built from two
// hand-made results (latency quantiles, shares, groups present on one side
// only), the tolerance checks and the "few samples" rule, the table; the
// medians, spreads and summed samples over several seeds against figures
// computed by hand; then the command end to end on a small scenario over two
// seeds (both sides' runs per seed, the results files, the table, the exit
// code) and its bad input (exit 2).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "live/link_mode.h"
#include "live/validate.h"
#include "metrics/histogram.h"
#include "metrics/results_io.h"

namespace cellsim::live {
namespace {

namespace fs = std::filesystem;

// A latency metric with `n` samples of `ms` milliseconds.
v1::LatencyMetric latency(const std::string& name, double ms, uint64_t n) {
  metrics::Histogram h;
  h.record(static_cast<int64_t>(ms * 1000), n);
  v1::LatencyMetric l;
  l.set_name(name);
  h.to_proto(l.mutable_histogram());
  return l;
}

v1::Group* group(v1::Results* r, const std::string& kind, const std::string& name) {
  v1::Group* g = r->add_groups();
  g->set_kind(kind);
  g->set_name(name);
  return g;
}

// sim and live: overall join 100 ms vs 90 ms (+11%: within 20%), ballot
// 300 vs 200 ms (+50%: out), attainment 0.95 vs 1.0 over 400 meetings (-5
// pp: within 5%), a cell type with 5 meetings (few samples), a profile only
// live.
void make(v1::Results* sim, v1::Results* live) {
  for (int side = 0; side < 2; ++side) {
    v1::Results* r = side == 0 ? sim : live;
    r->mutable_run()->set_mode(side == 0 ? "sim" : "live");
    v1::Group* o = group(r, "overall", "");
    *o->add_latencies() = latency("ballot_latency", side == 0 ? 300 : 200, 300);
    *o->add_latencies() = latency("join_latency", side == 0 ? 100 : 90, 500);
    o->mutable_quorum()->set_meetings(400);
    o->mutable_quorum()->set_meetings_quorate_by_deadline(side == 0 ? 380 : 400);
    v1::Group* t = group(r, "cell_type", "island");
    *t->add_latencies() = latency("join_latency", side == 0 ? 900 : 100, 10);
    t->mutable_quorum()->set_meetings(5);
    t->mutable_quorum()->set_meetings_quorate_by_deadline(side == 0 ? 1 : 5);
  }
  *group(live, "profile", "geo-vsat")->add_latencies() = latency("join_latency", 700, 300);
}

const ComparedRow* find(const Comparison& c, const std::string& group, const std::string& metric,
                        const std::string& stat) {
  for (const auto& r : c.rows) {
    if (r.row.group() == group && r.row.metric() == metric && r.row.stat() == stat) return &r;
  }
  return nullptr;
}

TEST(ValidateRows, LatencyAndShareRowsWithTolerances) {
  v1::Results sim, live;
  make(&sim, &live);
  const ValidateTolerances tol;
  const Comparison c = compare_results(sim, live, tol);

  const ComparedRow* join = find(c, "overall", "join_latency", "p50");
  ASSERT_NE(join, nullptr);
  EXPECT_NEAR(join->row.sim(), 100, 0.2);
  EXPECT_NEAR(join->row.live(), 90, 0.2);
  EXPECT_NEAR(join->row.difference(), 10.0 / 90, 0.005);
  EXPECT_TRUE(join->row.within_tolerance());
  EXPECT_FALSE(join->few_samples);
  EXPECT_EQ(join->sim_samples, 500u);

  const ComparedRow* ballot = find(c, "overall", "ballot_latency", "p99");
  ASSERT_NE(ballot, nullptr);
  EXPECT_NEAR(ballot->row.difference(), 0.5, 0.01);
  EXPECT_FALSE(ballot->row.within_tolerance());

  const ComparedRow* att = find(c, "overall", "quorum_attainment", "share");
  ASSERT_NE(att, nullptr);
  EXPECT_DOUBLE_EQ(att->row.sim(), 0.95);
  EXPECT_DOUBLE_EQ(att->row.live(), 1.0);
  EXPECT_NEAR(att->row.difference(), -0.05, 1e-12);
  EXPECT_TRUE(att->row.within_tolerance());  // |−0.05| <= 0.05

  // Ten samples, 900 vs 100 ms: shown, few samples, does not count.
  const ComparedRow* island = find(c, "island", "join_latency", "p50");
  ASSERT_NE(island, nullptr);
  EXPECT_TRUE(island->few_samples);
  EXPECT_TRUE(island->row.few_samples());
  EXPECT_EQ(island->row.sim_samples(), 10u);
  EXPECT_TRUE(island->row.within_tolerance());
  const ComparedRow* island_q = find(c, "island", "quorum_attainment", "share");
  ASSERT_NE(island_q, nullptr);
  EXPECT_TRUE(island_q->few_samples);

  // A profile only one side has: shown as missing.
  const ComparedRow* vsat = find(c, "geo-vsat", "join_latency", "p50");
  ASSERT_NE(vsat, nullptr);
  EXPECT_TRUE(vsat->missing);
  EXPECT_TRUE(vsat->row.within_tolerance());
  // Profiles have no quorum rows.
  EXPECT_EQ(find(c, "geo-vsat", "quorum_attainment", "share"), nullptr);

  // Only the ballot rows are out (p50 and p99).
  EXPECT_FALSE(c.within_tolerance);
  EXPECT_EQ(c.rows_outside, 2u);

  const v1::Validation v = to_validation(c, tol);
  EXPECT_EQ(v.rows_size(), static_cast<int>(c.rows.size()));
  EXPECT_FALSE(v.within_tolerance());
  EXPECT_DOUBLE_EQ(v.latency_tolerance(), 0.2);
  EXPECT_DOUBLE_EQ(v.share_tolerance(), 0.05);

  const std::string table = validation_table(c, tol);
  EXPECT_NE(table.find("OUT"), std::string::npos);
  EXPECT_NE(table.find("few samples"), std::string::npos);
  EXPECT_NE(table.find("2 rows outside tolerance"), std::string::npos);
  // Rows come overall first, then cell types, then profiles.
  EXPECT_LT(table.find("overall"), table.find("island"));
  EXPECT_LT(table.find("island"), table.find("geo-vsat"));
}

TEST(ValidateRows, WiderTolerancesPassAndTighterOnesFail) {
  v1::Results sim, live;
  make(&sim, &live);
  ValidateTolerances wide;
  wide.latency = 0.6;
  EXPECT_TRUE(compare_results(sim, live, wide).within_tolerance);
  ValidateTolerances tight;
  tight.latency = 0.6;
  tight.share = 0.01;
  const Comparison c = compare_results(sim, live, tight);
  EXPECT_FALSE(c.within_tolerance);
  EXPECT_FALSE(find(c, "overall", "quorum_attainment", "share")->row.within_tolerance());
  // With min_samples 1 the small cell type counts too.
  ValidateTolerances strict;
  strict.min_samples = 1;
  EXPECT_FALSE(find(compare_results(sim, live, strict), "island", "join_latency", "p50")
                   ->row.within_tolerance());
}

TEST(ValidateRows, IdenticalResultsAreWithinZeroTolerance) {
  v1::Results sim, live;
  make(&sim, &live);
  ValidateTolerances zero;
  zero.latency = 0;
  zero.share = 0;
  const Comparison c = compare_results(sim, sim, zero);
  EXPECT_TRUE(c.within_tolerance);
  for (const auto& r : c.rows) EXPECT_DOUBLE_EQ(r.row.difference(), 0) << r.row.metric();
}

// A group's voice: `intervals` intervals of 100 frames each, `played` of
// every 100 played, `late` late, every frame's mouth-to-ear `m2e_ms`, and
// MOS `mos` for all of them.
void voice(v1::Group* g, uint64_t intervals, uint64_t played, uint64_t late, double m2e_ms,
           double mos) {
  v1::VoiceStats* v = g->mutable_voice();
  v->set_intervals(intervals);
  v->set_frames_sent(100 * intervals);
  v->set_frames_played(played * intervals);
  v->set_frames_late(late * intervals);
  v->set_speech_ms(2000 * intervals);
  v->set_mouth_to_ear_us_frames(static_cast<uint64_t>(m2e_ms * 1000) * 100 * intervals);
  metrics::Histogram h;
  h.record(static_cast<int64_t>(mos * 1000), 100 * intervals);
  h.to_proto(v->mutable_mos_milli());
}

// Voice rows: loss (lost or late over sent) in points, mean mouth-to-ear
// relative, median MOS absolute, each against its own tolerance, in every
// group where listeners reported speech; and on the medians across seeds.
TEST(ValidateRows, VoiceRowsWithTheirOwnTolerances) {
  v1::Results sim, live;
  make(&sim, &live);
  // Overall: loss 4 % vs 3.5 % (+0.5 point: in), 200 vs 190 ms (+5.3 %: in),
  // MOS 3.9 vs 4.0 (-0.1: in). A profile: loss 10 % vs 8 % (+2 points: out),
  // 660 vs 600 ms (+10 %: in, at the tolerance), MOS 3.0 vs 3.3 (-0.3: out).
  voice(sim.mutable_groups(0), 300, 96, 1, 200, 3.9);
  voice(live.mutable_groups(0), 300, 96, 0, 190, 4.0);
  live.mutable_groups(0)->mutable_voice()->set_frames_played(300 * 965 / 10);
  voice(group(&sim, "profile", "geo-vsat"), 250, 90, 2, 660, 3.0);
  voice(live.mutable_groups(2), 250, 92, 2, 600, 3.3);
  const ValidateTolerances tol;
  const Comparison c = compare_results(sim, live, tol);

  const ComparedRow* loss = find(c, "overall", "voice_loss", "share");
  ASSERT_NE(loss, nullptr);
  EXPECT_NEAR(loss->row.sim(), 0.04, 1e-12);
  EXPECT_NEAR(loss->row.live(), 0.035, 1e-12);
  EXPECT_NEAR(loss->row.difference(), 0.005, 1e-12);
  EXPECT_TRUE(loss->row.within_tolerance());
  EXPECT_EQ(loss->sim_samples, 300u);  // intervals
  const ComparedRow* m2e = find(c, "overall", "mouth_to_ear", "mean");
  ASSERT_NE(m2e, nullptr);
  EXPECT_NEAR(m2e->row.sim(), 200, 1e-9);
  EXPECT_NEAR(m2e->row.difference(), 10.0 / 190, 1e-9);
  EXPECT_TRUE(m2e->row.within_tolerance());
  const ComparedRow* mos = find(c, "overall", "mos", "median");
  ASSERT_NE(mos, nullptr);
  EXPECT_NEAR(mos->row.sim(), 3.9, 0.01);
  EXPECT_NEAR(mos->row.difference(), -0.1, 0.01);
  EXPECT_TRUE(mos->row.within_tolerance());

  const ComparedRow* vloss = find(c, "geo-vsat", "voice_loss", "share");
  ASSERT_NE(vloss, nullptr);
  EXPECT_NEAR(vloss->row.difference(), 0.02, 1e-12);
  EXPECT_FALSE(vloss->row.within_tolerance());
  EXPECT_TRUE(find(c, "geo-vsat", "mouth_to_ear", "mean")->row.within_tolerance());
  const ComparedRow* vmos = find(c, "geo-vsat", "mos", "median");
  ASSERT_NE(vmos, nullptr);
  EXPECT_NEAR(vmos->row.difference(), -0.3, 0.01);
  EXPECT_FALSE(vmos->row.within_tolerance());
  // No voice rows where nobody spoke.
  EXPECT_EQ(find(c, "island", "voice_loss", "share"), nullptr);
  // The ballot rows (2) and the profile's loss and MOS.
  EXPECT_EQ(c.rows_outside, 4u);

  // Wider voice tolerances take the profile's rows in; a tighter
  // mouth-to-ear one puts the overall row out.
  ValidateTolerances wide;
  wide.voice_loss = 0.025;
  wide.mos = 0.35;
  EXPECT_EQ(compare_results(sim, live, wide).rows_outside, 2u);
  ValidateTolerances tight;
  tight.mouth_to_ear = 0.05;
  EXPECT_FALSE(find(compare_results(sim, live, tight), "overall", "mouth_to_ear", "mean")
                   ->row.within_tolerance());

  // The table: MOS with two digits and an absolute difference, loss in points.
  const std::string table = validation_table(c, tol);
  EXPECT_NE(table.find("3.90"), std::string::npos) << table;
  EXPECT_NE(table.find("-0.10"), std::string::npos) << table;
  EXPECT_NE(table.find("+0.5pp"), std::string::npos) << table;
  EXPECT_NE(table.find("MOS ±0.20"), std::string::npos) << table;
  // Voice rows after the group's latency and share rows.
  EXPECT_LT(table.find("quorum_attainment"), table.find("voice_loss"));

  // Over seeds: the median of the per-seed figures.
  std::vector<v1::Results> sims(3, sim), lives(3, live);
  voice(sims[1].mutable_groups(0), 300, 96, 1, 300, 3.0);
  voice(sims[2].mutable_groups(0), 300, 96, 1, 250, 3.5);
  const Comparison cs = compare_seeds(sims, lives, tol);
  const ComparedRow* m = find(cs, "overall", "mouth_to_ear", "mean");
  ASSERT_NE(m, nullptr);
  EXPECT_NEAR(m->row.sim(), 250, 1e-9);
  EXPECT_NEAR(m->row.sim_min(), 200, 1e-9);
  EXPECT_NEAR(m->row.sim_max(), 300, 1e-9);
  EXPECT_EQ(m->sim_samples, 900u);
  EXPECT_NEAR(find(cs, "overall", "mos", "median")->row.sim(), 3.5, 0.01);
}

TEST(ValidateSeeds, SpreadOfFiguresByHand) {
  const Spread none = spread_of({});
  EXPECT_EQ(none.count, 0u);
  EXPECT_EQ(none.median, 0);
  const Spread one = spread_of({5});
  EXPECT_EQ(one.count, 1u);
  EXPECT_EQ(one.median, 5);
  EXPECT_EQ(one.min, 5);
  EXPECT_EQ(one.max, 5);
  const Spread odd = spread_of({3, 1, 2});
  EXPECT_EQ(odd.median, 2);
  EXPECT_EQ(odd.min, 1);
  EXPECT_EQ(odd.max, 3);
  const Spread even = spread_of({4, 1, 3, 2});  // (2 + 3) / 2
  EXPECT_EQ(even.median, 2.5);
  EXPECT_EQ(even.count, 4u);
  EXPECT_EQ(kDefaultMinSamples, 200u);  // the documented default threshold
}

// One seed's overall group: join and ballot latencies (ms, samples each),
// heartbeat_rtt when `hb_ms` > 0, and `quorate` of 100 meetings.
v1::Results seed_result(double join_ms, uint64_t join_n, double ballot_ms, uint64_t ballot_n,
                        double hb_ms, uint64_t quorate) {
  v1::Results r;
  v1::Group* o = group(&r, "overall", "");
  *o->add_latencies() = latency("join_latency", join_ms, join_n);
  *o->add_latencies() = latency("ballot_latency", ballot_ms, ballot_n);
  if (hb_ms > 0) *o->add_latencies() = latency("heartbeat_rtt", hb_ms, hb_ms == 50 ? 250 : 150);
  o->mutable_quorum()->set_meetings(100);
  o->mutable_quorum()->set_meetings_quorate_by_deadline(quorate);
  return r;
}

// Three simulator seeds against two live ones, every figure by hand:
//   join p50    sim 100, 130, 110 ms (70 each: 210)   -> median 110, 100..130
//               live 100, 120 ms (100 each: 200)      -> median 110, 100..120
//               200 samples is the threshold: judged, +0%: ok
//   ballot p99  sim 400 ms x 3 (60 each: 180 < 200)   -> few samples, not judged
//   heartbeat   sim seed 1 only, 50 ms (250)          -> median 50 over 1 seed
//               live 40, 60 ms (150 each)             -> median 50 over 2 seeds
//   attainment  sim 0.90, 0.80, 1.00 (300 meetings)   -> median 0.90, 0.80..1.00
//               live 1.00, 0.96 (200 meetings)        -> median 0.98: -8 pp, OUT
TEST(ValidateSeeds, MediansSpreadsAndSummedSamplesByHand) {
  const std::vector<v1::Results> sim = {seed_result(100, 70, 400, 60, 50, 90),
                                        seed_result(130, 70, 400, 60, 0, 80),
                                        seed_result(110, 70, 400, 60, 0, 100)};
  const std::vector<v1::Results> live = {seed_result(100, 100, 100, 150, 40, 100),
                                         seed_result(120, 100, 100, 150, 60, 96)};
  const ValidateTolerances tol;
  const Comparison c = compare_seeds(sim, live, tol);
  EXPECT_EQ(c.seeds, 3u);

  const ComparedRow* join = find(c, "overall", "join_latency", "p50");
  ASSERT_NE(join, nullptr);
  EXPECT_NEAR(join->row.sim(), 110, 0.2);
  EXPECT_NEAR(join->row.sim_min(), 100, 0.2);
  EXPECT_NEAR(join->row.sim_max(), 130, 0.2);
  EXPECT_NEAR(join->row.live(), 110, 0.2);
  EXPECT_NEAR(join->row.live_min(), 100, 0.2);
  EXPECT_NEAR(join->row.live_max(), 120, 0.2);
  EXPECT_EQ(join->row.sim_seeds(), 3u);
  EXPECT_EQ(join->row.live_seeds(), 2u);
  EXPECT_EQ(join->row.sim_samples(), 210u);
  EXPECT_EQ(join->row.live_samples(), 200u);
  EXPECT_FALSE(join->few_samples);
  EXPECT_TRUE(join->row.within_tolerance());

  const ComparedRow* ballot = find(c, "overall", "ballot_latency", "p99");
  ASSERT_NE(ballot, nullptr);
  EXPECT_EQ(ballot->sim_samples, 180u);
  EXPECT_TRUE(ballot->few_samples);
  EXPECT_TRUE(ballot->row.few_samples());
  EXPECT_NEAR(ballot->row.difference(), 3.0, 0.01);  // +300%, but not judged
  EXPECT_TRUE(ballot->row.within_tolerance());

  const ComparedRow* hb = find(c, "overall", "heartbeat_rtt", "p50");
  ASSERT_NE(hb, nullptr);
  EXPECT_EQ(hb->row.sim_seeds(), 1u);
  EXPECT_EQ(hb->row.live_seeds(), 2u);
  EXPECT_NEAR(hb->row.sim(), 50, 0.1);
  EXPECT_NEAR(hb->row.live(), 50, 0.1);
  EXPECT_EQ(hb->row.sim_samples(), 250u);
  EXPECT_EQ(hb->row.live_samples(), 300u);
  EXPECT_TRUE(hb->row.within_tolerance());

  const ComparedRow* att = find(c, "overall", "quorum_attainment", "share");
  ASSERT_NE(att, nullptr);
  EXPECT_DOUBLE_EQ(att->row.sim(), 0.90);
  EXPECT_DOUBLE_EQ(att->row.sim_min(), 0.80);
  EXPECT_DOUBLE_EQ(att->row.sim_max(), 1.00);
  EXPECT_DOUBLE_EQ(att->row.live(), 0.98);
  EXPECT_DOUBLE_EQ(att->row.live_min(), 0.96);
  EXPECT_NEAR(att->row.difference(), -0.08, 1e-12);
  EXPECT_EQ(att->sim_samples, 300u);
  EXPECT_EQ(att->live_samples, 200u);
  EXPECT_FALSE(att->row.within_tolerance());

  EXPECT_FALSE(c.within_tolerance);
  EXPECT_EQ(c.rows_outside, 1u);

  const v1::Validation v = to_validation(c, tol);
  EXPECT_EQ(v.seeds(), 3u);
  EXPECT_EQ(v.min_samples(), 200u);
  const std::string table = validation_table(c, tol);
  EXPECT_NE(table.find("sim min..max"), std::string::npos) << table;
  EXPECT_NE(table.find("0.800..1.000"), std::string::npos) << table;
  EXPECT_NE(table.find("medians over 3 seeds"), std::string::npos) << table;

  // One seed a side is compare_results(): the seed's own figures, min = max.
  const Comparison one = compare_results(sim[0], live[0], tol);
  EXPECT_EQ(one.seeds, 1u);
  const ComparedRow* j1 = find(one, "overall", "join_latency", "p50");
  ASSERT_NE(j1, nullptr);
  EXPECT_DOUBLE_EQ(j1->row.sim_min(), j1->row.sim());
  EXPECT_DOUBLE_EQ(j1->row.sim_max(), j1->row.sim());
  EXPECT_TRUE(j1->few_samples);  // 70 and 100 samples, one seed each
  EXPECT_EQ(validation_table(one, tol).find("min..max"), std::string::npos);
}

int run(const std::string& cmd) {
  const int r = std::system(cmd.c_str());
  return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// About 30 s live: twelve cells of eight members on fibre and 4G, a short
// agenda with one vote.
constexpr char kScenario[] = R"pb(
name: "validate-small"
question: "Do sim and live agree on a small scenario? (test)"
seed: 5
duration_min: 0.5
start_unix_s: 1796086800
quorum_deadline_min: 0.3
server { nodes: 1 cores_per_node: 1 nic_egress_mbps: 1000 }
rules { quorum_fraction: 0.6666666666666666 heartbeat_interval_ms: 2000 missed_heartbeats: 3 }
reconnect { initial_backoff_ms: 500 max_backoff_ms: 4000 multiplier: 2 jitter: 0.5 }
chair { open_deadline_min: 0.2 wait_for_quorum_min: 0.05 }
media { bitrate_kbps: 0 frame_ms: 20 }
profiles {
  name: "urban-fibre"
  base_one_way_ms: 4
  jitter_ms { lognormal { median: 2 sigma: 0.6 } }
  bandwidth_down_kbps: 100000
  bandwidth_up_kbps: 50000
  loss { p_good_to_bad: 0.00001 p_bad_to_good: 0.5 loss_good: 0 loss_bad: 0.2 }
  rto_min_ms: 200
  tls: true
}
profiles {
  name: "border-4g"
  base_one_way_ms: 30
  jitter_ms { lognormal { median: 12 sigma: 0.7 } }
  bandwidth_down_kbps: 10000
  bandwidth_up_kbps: 5000
  loss { p_good_to_bad: 0.004 p_bad_to_good: 0.25 loss_good: 0.003 loss_bad: 0.5 }
  rto_min_ms: 200
  tls: true
}
agendas {
  name: "short"
  items { title: "Khai mạc" duration_min: 0.05 }
  items {
    title: "Nghị quyết"
    duration_min: 0.05
    votes { vote_id: 1 kind: VOTE_KIND_RESOLUTION subject: "Nghị quyết" open_s: 21
            yes_probability: 0.9 no_probability: 0.05 }
  }
}
cell_types {
  name: "mixed"
  count: 12
  members { official: 7 probationary: 1 }
  links { profile: "urban-fibre" share: 0.5 }
  links { profile: "border-4g" share: 0.5 }
  attend_probability: 0.95
  join_offset_min { uniform { min: 0 max: 0.05 } }
  join_earliest_min: 0
  agenda: "short"
  start_window_min: 0.02
  start_offset_min: 0.01
}
)pb";

// Two seeds a side in frame mode: about 60 s live.
TEST(ValidateCli, EndToEndOverTwoSeedsWritesEverySeedAndTheTable) {
  const fs::path dir = fs::temp_directory_path() / ("validate_test_" + std::to_string(getpid()));
  fs::create_directories(dir);
  {
    std::ofstream f(dir / "small.textproto");
    f << kScenario;
  }
  const fs::path out = dir / "out";
  // Wide tolerances: the point is the plumbing, not this machine's load.
  const int rc = run(std::string(CELLSIM_BINARY) + " validate " + (dir / "small.textproto").string() +
                     " --seed 9 --seeds 2 --link frame --out " + out.string() +
                     " --latency-tolerance 10 --share-tolerance 1 --voice-loss-tolerance 1"
                     " --mouth-to-ear-tolerance 10 --mos-tolerance 3.5 > " +
                     (dir / "stdout").string() +
                     " 2> " + (dir / "stderr").string());
  const std::string stdout_text = slurp(dir / "stdout");
  EXPECT_EQ(rc, 0) << stdout_text << slurp(dir / "stderr");
  EXPECT_NE(stdout_text.find("join_latency"), std::string::npos) << stdout_text;
  EXPECT_NE(stdout_text.find("quorum_attainment"), std::string::npos) << stdout_text;
  EXPECT_NE(stdout_text.find("every row within tolerance"), std::string::npos) << stdout_text;
  EXPECT_NE(stdout_text.find("medians over 2 seeds"), std::string::npos) << stdout_text;
  EXPECT_NE(stdout_text.find("live link mode frame"), std::string::npos) << stdout_text;
  std::string why;
  for (uint64_t seed : {9u, 10u}) {
    v1::Results sim, live;
    const std::string tail = "/seed-" + std::to_string(seed);
    ASSERT_TRUE(metrics::read_results((out / "sim").string() + tail, &sim, &why)) << why;
    ASSERT_TRUE(metrics::read_results((out / "live").string() + tail, &live, &why)) << why;
    EXPECT_EQ(sim.run().mode(), "sim");
    EXPECT_EQ(live.run().mode(), "live");
    EXPECT_EQ(sim.run().seed(), seed);
    EXPECT_EQ(live.run().seed(), seed);
  }
  // The validate results hold no groups but a validation: read_results()
  // takes them (and merge refuses them, results_io_test.cc).
  v1::Results v;
  ASSERT_TRUE(metrics::read_results(out.string(), &v, &why)) << why;
  EXPECT_NE(slurp(out / "results.json").find("\"validation\""), std::string::npos);
  EXPECT_EQ(v.run().mode(), "validate");
  EXPECT_EQ(v.groups_size(), 0);
  ASSERT_TRUE(v.has_validation());
  EXPECT_EQ(v.validation().seed(), 9u);
  EXPECT_EQ(v.validation().seeds(), 2u);
  EXPECT_EQ(v.validation().link_mode(), "frame");
  EXPECT_EQ(v.validation().min_samples(), kDefaultMinSamples);
  EXPECT_GT(v.validation().rows_size(), 4);
  EXPECT_TRUE(v.validation().within_tolerance());
  EXPECT_EQ(v.validation().members(), 96u);
  EXPECT_GT(v.validation().live_wall_s(), 40);  // two seeds of 30 s
  EXPECT_DOUBLE_EQ(v.validation().latency_tolerance(), 10);
  // The overall join row: medians of two seeds each side, samples summed.
  bool found = false;
  for (const auto& row : v.validation().rows()) {
    if (row.group() != "overall" || row.metric() != "join_latency" || row.stat() != "p50") continue;
    found = true;
    EXPECT_EQ(row.sim_seeds(), 2u);
    EXPECT_EQ(row.live_seeds(), 2u);
    EXPECT_LE(row.sim_min(), row.sim());
    EXPECT_LE(row.sim(), row.sim_max());
    EXPECT_LE(row.live_min(), row.live());
    EXPECT_LE(row.live(), row.live_max());
    EXPECT_GT(row.sim_samples(), 96u);  // two seeds of ~90 joins
  }
  EXPECT_TRUE(found);
  fs::remove_all(dir);
}

TEST(ValidateCli, BadInputIsExit2) {
  const std::string bin = std::string(CELLSIM_BINARY) + " validate ";
  const std::string tiny = std::string(CELLSIM_SOURCE_DIR) + "/scenarios/test/tiny.textproto";
  const std::string q = " > /dev/null 2>&1";
  EXPECT_EQ(run(bin + q), 2);                                            // no scenario
  EXPECT_EQ(run(bin + "/nonexistent/scenario.textproto" + q), 2);        // missing
  EXPECT_EQ(run(bin + tiny + " --no-such-flag" + q), 2);
  EXPECT_EQ(run(bin + tiny + " --latency-tolerance -0.1" + q), 2);
  EXPECT_EQ(run(bin + tiny + " --latency-tolerance abc" + q), 2);
  EXPECT_EQ(run(bin + tiny + " --share-tolerance 1.5" + q), 2);
  EXPECT_EQ(run(bin + tiny + " --duration 0" + q), 2);
  EXPECT_EQ(run(bin + tiny + " --seed -1" + q), 2);
  EXPECT_EQ(run(bin + tiny + " --calibration /nonexistent.textproto" + q), 2);
  // tiny's meetings start after 1 min: 30 s leaves them outside the run.
  EXPECT_EQ(run(bin + tiny + " --duration 30" + q), 2);
  EXPECT_EQ(run(bin + tiny + " --seeds 0" + q), 2);
  EXPECT_EQ(run(bin + tiny + " --seeds 51" + q), 2);
  EXPECT_EQ(run(bin + tiny + " --seeds 2x" + q), 2);
  EXPECT_EQ(run(bin + tiny + " --link udp" + q), 2);
  EXPECT_EQ(run(bin + "--help > /dev/null"), 0);
}

// An explicit --link packet this process cannot use is one line and exit 2
// (where packet mode is available the check does not apply).
TEST(ValidateCli, UnavailablePacketModeIsOneLineAndExit2) {
  LinkModeChoice choice;
  std::string error;
  if (choose_link_mode(LinkMode::kPacket, &choice, &error)) {
    GTEST_SKIP() << "packet mode is available here";
  }
  const fs::path err = fs::temp_directory_path() / ("validate_link_" + std::to_string(getpid()));
  const std::string tiny = std::string(CELLSIM_SOURCE_DIR) + "/scenarios/test/tiny.textproto";
  EXPECT_EQ(run(std::string(CELLSIM_BINARY) + " validate " + tiny + " --link packet > /dev/null 2> " +
                err.string()),
            2);
  const std::string text = slurp(err);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
  EXPECT_NE(text.find("cellsim validate: --link packet: "), std::string::npos) << text;
  fs::remove(err);
}

}  // namespace
}  // namespace cellsim::live
