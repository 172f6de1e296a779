// Hand-made results for the report tests: cell types whose figures are
// chosen to land on each side of the verdict rules (report/verdict.h).
#ifndef CELLSIM_TESTS_REPORT_FIXTURES_H_
#define CELLSIM_TESTS_REPORT_FIXTURES_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cellsim/v1/results.pb.h"
#include "cellsim/v1/scenario.pb.h"
#include "metrics/histogram.h"
#include "metrics/recorder.h"
#include "metrics/slo.h"

namespace cellsim::report::testing {

namespace v1 = ::cellsim::v1;

struct TypeFigures {
  std::string name;
  uint64_t meetings = 80, quorate = 80, votes_held = 240, votes_valid = 240;
  int64_t join_ms = 500;  // every join sample (100 of them) takes this long
  int64_t ttq_min = 3;    // every meeting reaches quorum after this many minutes
};

// The batch of `g` for (seed, index), added if missing.
inline v1::CellBatch* batch(v1::Group* g, uint64_t seed, uint32_t index) {
  for (v1::CellBatch& b : *g->mutable_batches()) {
    if (b.seed() == seed && b.index() == index) return &b;
  }
  v1::CellBatch* b = g->add_batches();
  b->set_seed(seed);
  b->set_index(index);
  return b;
}

// Adds n samples of value_us to metric `name` of `g` and spreads them over
// the group's 10 batches of cells (seed 7), as the recorder would.
inline void add_latency(v1::Group* g, const std::string& name, int64_t value_us, uint64_t n) {
  metrics::Histogram h;
  h.record(value_us, n);
  v1::LatencyMetric* m = g->add_latencies();
  m->set_name(name);
  h.to_proto(m->mutable_histogram());
  for (uint32_t b = 0; b < metrics::Recorder::kCellBatches; ++b) {
    const uint64_t share =
        n / metrics::Recorder::kCellBatches + (b < n % metrics::Recorder::kCellBatches ? 1 : 0);
    if (share == 0) continue;
    metrics::Histogram hb(metrics::batch_layout());
    hb.record(value_us, share);
    v1::LatencyMetric* bm = batch(g, 7, b)->add_latencies();
    bm->set_name(name);
    hb.to_proto(bm->mutable_histogram());
  }
}

// Replaces metric `name` of `g` (group and batches): batch b holds
// per_batch[b] samples, each a (value_us, count).
inline void set_batched_latency(
    v1::Group* g, const std::string& name,
    const std::vector<std::vector<std::pair<int64_t, uint64_t>>>& per_batch) {
  metrics::Histogram all;
  g->clear_batches();
  for (uint32_t b = 0; b < per_batch.size(); ++b) {
    metrics::Histogram hb(metrics::batch_layout());
    for (const auto& [v, n] : per_batch[b]) hb.record(v, n), all.record(v, n);
    v1::LatencyMetric* bm = batch(g, 7, b)->add_latencies();
    bm->set_name(name);
    hb.to_proto(bm->mutable_histogram());
  }
  for (v1::LatencyMetric& m : *g->mutable_latencies()) {
    if (m.name() == name) all.to_proto(m.mutable_histogram());
  }
}

inline v1::Group make_group(const char* kind, const TypeFigures& f) {
  v1::Group g;
  g.set_kind(kind);
  g.set_name(f.name);
  g.set_cells(f.meetings);
  g.set_members(f.meetings * 15);
  add_latency(&g, "join_latency", f.join_ms * 1000, 100);
  add_latency(&g, "time_to_quorum", f.ttq_min * 60'000'000, f.quorate);
  if (std::string(kind) == metrics::kGroupProfile) return g;
  auto* q = g.mutable_quorum();
  q->set_meetings(f.meetings);
  q->set_meetings_quorate_by_deadline(f.quorate);
  q->set_meetings_ever_quorate(f.quorate);
  q->set_meetings_closed(f.meetings);
  q->set_minutes_complete(f.meetings);
  q->set_votes_held(f.votes_held);
  q->set_votes_valid(f.votes_valid);
  q->set_ballots_acked(f.votes_held * 10);
  q->set_ballots_counted(f.votes_held * 10);
  return g;
}

// Three cell types: "steady" clearly feasible (80 of 80 meetings quorate,
// 240 valid votes: every interval clears its target); "thin-quorum" reaches
// quorum in 10 of 20 meetings against a 90% target; "slow-link" takes 9 s
// to join against a 2 s SLO. One all-cells SLO that every type meets.
inline v1::Results three_types() {
  TypeFigures steady{"steady"};
  TypeFigures thin{"thin-quorum"};
  thin.meetings = 20;
  thin.quorate = 10;
  TypeFigures slow{"slow-link"};
  slow.join_ms = 9000;
  v1::Results r;
  auto* run = r.mutable_run();
  run->set_scenario("hand-made");
  run->set_seed(7);
  run->set_mode("sim");
  run->set_cellsim_version("test");
  run->set_calibration("built-in estimate");
  run->add_shards("0/1");
  run->set_shard_count(1);
  TypeFigures all{""};
  all.meetings = 60;
  all.quorate = 50;
  all.join_ms = 9000;
  *r.add_groups() = make_group(metrics::kGroupOverall, all);
  for (const TypeFigures* f : {&slow, &steady, &thin}) {
    *r.add_groups() = make_group(metrics::kGroupCellType, *f);
  }
  TypeFigures fibre{"fibre"}, vsat{"vsat"};
  vsat.join_ms = 9000;
  *r.add_groups() = make_group(metrics::kGroupProfile, fibre);
  *r.add_groups() = make_group(metrics::kGroupProfile, vsat);
  v1::ServerStats* s = r.add_servers();
  s->set_node(0);
  s->set_cores(2);
  s->set_busy_ns(600);
  s->set_elapsed_ns(1000);
  s->set_cells(60);
  v1::Scenario sc;
  for (const char* type : {"steady", "thin-quorum", "slow-link"}) {
    v1::Slo* slo = sc.add_slos();
    slo->set_metric("join_latency");
    slo->set_quantile(0.99);
    slo->set_max_ms(2000);
    slo->set_cell_type(type);
    v1::QuorumSlo* q = sc.add_quorum_slos();
    q->set_min_attainment(0.9);
    q->set_cell_type(type);
  }
  v1::Slo* global = sc.add_slos();
  global->set_metric("time_to_quorum");
  global->set_quantile(0.9);
  global->set_max_ms(600000);
  metrics::evaluate_slos(sc, &r);
  return r;
}

// A meeting's attendance trace: `steps` are (minute, present) changes, with
// `required` members needed throughout, out of D = `denominator`.
inline v1::AttendanceTrace make_trace(uint64_t cell_id, uint64_t sample_key, uint32_t quorate_ppm,
                                      std::vector<std::pair<double, uint32_t>> steps,
                                      uint32_t required, uint32_t denominator, double closed_min,
                                      bool truncated = false) {
  v1::AttendanceTrace t;
  t.set_cell_id(cell_id);
  t.set_sample_key(sample_key);
  t.set_quorate_ppm(quorate_ppm);
  t.set_members(denominator + 2);
  t.set_quorate_by_deadline(quorate_ppm > 500'000);
  uint32_t losses = 0;
  bool quorate = false;
  for (const auto& [minute, present] : steps) {
    t.add_t_ms(static_cast<int64_t>(minute * 60'000));
    t.add_present(present);
    t.add_required(required);
    t.add_denominator(denominator);
    if (quorate && present < required) ++losses;
    quorate = present >= required;
  }
  t.set_quorum_losses(losses);
  t.set_closed_ms(static_cast<int64_t>(closed_min * 60'000));
  t.set_truncated(truncated);
  return t;
}

// Attendance for the three types: a typical meeting reaching quorum at minute
// 4 and closing at 110; "thin-quorum"'s worst never quorate, cut short.
inline void add_attendance(v1::Results* r) {
  for (const char* type : {"slow-link", "steady", "thin-quorum"}) {
    v1::AttendanceSamples* a = r->add_attendance();
    a->set_cell_type(type);
    a->set_meetings_seen(20);
    for (uint64_t i = 0; i < 5; ++i) {
      *a->add_sample() = make_trace(100 + i, 10 + i, 1'000'000 - 10'000 * static_cast<uint32_t>(i),
                                    {{-2, 3}, {1, 8}, {4, 11}, {60, 10}, {61, 12}}, 10, 15, 110);
    }
    const bool thin = std::string(type) == "thin-quorum";
    *a->mutable_worst() =
        thin ? make_trace(7, 99, 0, {{0, 2}, {5, 6}, {20, 9}}, 10, 15, 0, /*truncated=*/true)
             : make_trace(9, 98, 900'000, {{0, 4}, {8, 10}, {50, 7}, {55, 11}}, 10, 15, 115);
  }
}

// Display names in both languages for the cell types and one profile.
inline void add_titles(v1::Results* r) {
  for (v1::Group& g : *r->mutable_groups()) {
    if (g.name() == "steady") g.set_title_vi("Chi bộ ổn định"), g.set_title_en("Steady cells");
    if (g.name() == "slow-link") {
      g.set_title_vi("Chi bộ đường truyền chậm"), g.set_title_en("Cells on slow links");
    }
    if (g.name() == "vsat") g.set_title_vi("Vệ tinh VSAT"), g.set_title_en("VSAT satellite");
  }
}

}  // namespace cellsim::report::testing

#endif  // CELLSIM_TESTS_REPORT_FIXTURES_H_
