// Recorder: metric names, registration, the groups it exports and their
// consistency (overall = sum of cell types = sum of profiles), determinism.
#include "metrics/recorder.h"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "metrics/results_io.h"
#include "synthetic_run.h"

namespace cellsim::metrics {
namespace {

using ::google::protobuf::util::MessageDifferencer;

// Names map to metrics and back; unknown names map to nothing.
TEST(RecorderTest, LatencyNamesRoundTrip) {
  const char* names[] = {"join_latency",   "heartbeat_rtt",  "broadcast_latency",
                         "ballot_latency", "result_latency", "time_to_quorum"};
  for (size_t i = 0; i < kLatencyCount; ++i) {
    const Latency m = static_cast<Latency>(i);
    EXPECT_EQ(latency_name(m), names[i]);
    EXPECT_EQ(latency_from_name(names[i]), m);
  }
  EXPECT_FALSE(latency_from_name("join"));
  EXPECT_FALSE(latency_from_name(""));
}

// Indices are small, stable, in order of registration; references survive more registrations.
TEST(RecorderTest, RegistrationIsStable) {
  Recorder rec;
  EXPECT_EQ(rec.cell_type_index("island"), 0u);
  EXPECT_EQ(rec.cell_type_index("at-sea"), 1u);
  EXPECT_EQ(rec.cell_type_index("island"), 0u);
  EXPECT_EQ(rec.profile_index("vsat"), 0u);
  Traffic& t = rec.traffic(1, 0);
  Quorum& q = rec.quorum(0);
  ServerFigures& s = rec.server(3);
  t.connects = 7;
  q.meetings = 2;
  s.cores = 8;
  for (int i = 0; i < 100; ++i) {
    rec.cell_type_index("type-" + std::to_string(i));
    rec.profile_index("profile-" + std::to_string(i));
    rec.server(static_cast<uint32_t>(100 + i));
  }
  EXPECT_EQ(&t, &rec.traffic(1, 0));
  EXPECT_EQ(&q, &rec.quorum(0));
  EXPECT_EQ(&s, &rec.server(3));
  EXPECT_EQ(rec.traffic(1, 0).connects, 7u);
  EXPECT_EQ(rec.server(3).node, 3u);
  EXPECT_EQ(rec.cell_type_name(1), "at-sea");
  EXPECT_EQ(rec.profile_name(0), "vsat");
}

// Every latency lands in the overall group and in each group it names (kNone names none).
TEST(RecorderTest, LatencyGoesToEachNamedGroup) {
  Recorder rec;
  const uint32_t ct = rec.cell_type_index("island");
  const uint32_t p = rec.profile_index("vsat");
  rec.record_latency(Latency::kJoin, ct, p, 1000);
  rec.record_latency(Latency::kTimeToQuorum, ct, Recorder::kNone, 5'000'000);
  rec.record_latency(Latency::kHeartbeatRtt, Recorder::kNone, Recorder::kNone, 300);
  EXPECT_EQ(rec.overall_latency(Latency::kJoin).total_count(), 1u);
  EXPECT_EQ(rec.cell_type_latency(Latency::kJoin, ct).total_count(), 1u);
  EXPECT_EQ(rec.profile_latency(Latency::kJoin, p).total_count(), 1u);
  EXPECT_EQ(rec.cell_type_latency(Latency::kTimeToQuorum, ct).total_count(), 1u);
  EXPECT_EQ(rec.profile_latency(Latency::kTimeToQuorum, p).total_count(), 0u);
  EXPECT_EQ(rec.overall_latency(Latency::kHeartbeatRtt).total_count(), 1u);
  EXPECT_EQ(rec.cell_type_latency(Latency::kHeartbeatRtt, ct).total_count(), 0u);
}

// Samples that never completed are counted beside each histogram, in the
// groups they belong to, and two results' counts add up when merged.
TEST(RecorderTest, CensoredCountsGoToEachGroupAndMerge) {
  Recorder rec;
  const uint32_t ct = rec.cell_type_index("island");
  const uint32_t p = rec.profile_index("vsat");
  rec.record_censored(Latency::kHeartbeatRtt, ct, p, 3);
  rec.record_censored(Latency::kTimeToQuorum, ct, Recorder::kNone, 1);
  EXPECT_EQ(rec.censored(Latency::kHeartbeatRtt), 3u);
  EXPECT_EQ(rec.censored(Latency::kJoin), 0u);
  const v1::Results r = rec.to_results(v1::RunInfo());
  std::map<std::string, uint64_t> heartbeat, quorum;  // by group kind
  for (const v1::Group& g : r.groups()) {
    for (const v1::LatencyMetric& m : g.latencies()) {
      if (m.name() == "heartbeat_rtt") heartbeat[g.kind()] += m.censored();
      if (m.name() == "time_to_quorum") quorum[g.kind()] += m.censored();
      // The histogram holds only completed samples.
      EXPECT_EQ(m.histogram().total_count(), 0u) << m.name();
    }
  }
  EXPECT_EQ(heartbeat[kGroupOverall], 3u);
  EXPECT_EQ(heartbeat[kGroupCellType], 3u);
  EXPECT_EQ(heartbeat[kGroupProfile], 3u);
  EXPECT_EQ(quorum[kGroupCellType], 1u);
  EXPECT_EQ(quorum[kGroupProfile], 0u);
  v1::Results merged;
  std::string why;
  ASSERT_TRUE(merge_results(r, r, &merged, &why)) << why;
  for (const v1::Group& g : merged.groups()) {
    for (const v1::LatencyMetric& m : g.latencies()) {
      if (m.name() == "heartbeat_rtt") {
        EXPECT_EQ(m.censored(), 6u) << g.kind();
      }
    }
  }
}

// Export order: overall, cell types, profiles (by name); six latencies by name; servers by node.
TEST(RecorderTest, ResultsAreOrdered) {
  Recorder rec;
  testing::record_cells({}, {0, 1, 2, 3}, &rec);
  const v1::Results r = rec.to_results(testing::run_info({}, 0, 0));
  ASSERT_EQ(r.groups_size(), 7);
  const char* expected[][2] = {
      {"overall", ""},         {"cell_type", "at-sea"}, {"cell_type", "border-post"},
      {"cell_type", "island"}, {"profile", "hf-radio"}, {"profile", "lte"},
      {"profile", "vsat"}};
  for (int i = 0; i < r.groups_size(); ++i) {
    EXPECT_EQ(r.groups(i).kind(), expected[i][0]);
    EXPECT_EQ(r.groups(i).name(), expected[i][1]);
    ASSERT_EQ(r.groups(i).latencies_size(), 6);
    for (int k = 1; k < 6; ++k) {
      EXPECT_LT(r.groups(i).latencies(k - 1).name(), r.groups(i).latencies(k).name());
    }
    EXPECT_EQ(r.groups(i).has_quorum(), r.groups(i).kind() != "profile");
    EXPECT_TRUE(r.groups(i).has_traffic());
  }
  ASSERT_EQ(r.servers_size(), 4);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(r.servers(i).node(), static_cast<uint32_t>(i));
  EXPECT_EQ(r.run().scenario(), "synthetic");
  EXPECT_EQ(r.run().cells(), 36u);
  EXPECT_EQ(r.run().members(), r.groups(0).members());
  EXPECT_EQ(r.slos_size(), 0);
}

// Overall = sum of cell types = sum of profiles, for latencies, members, traffic, quorum.
TEST(RecorderTest, GroupsAreConsistent) {
  Recorder rec;
  testing::record_cells({.seed = 5}, {0, 1, 2, 3}, &rec);
  const v1::Results r = rec.to_results(testing::run_info({.seed = 5}, 0, 0));
  const v1::Group& overall = r.groups(0);
  std::map<std::string, uint64_t> by_cell, by_profile;
  uint64_t members_cell = 0, members_profile = 0, cells_cell = 0;
  uint64_t disconnects_cell = 0, disconnects_profile = 0, bytes_cell = 0, bytes_profile = 0;
  uint64_t meetings_cell = 0, acked_cell = 0;
  for (const v1::Group& g : r.groups()) {
    const bool cell = g.kind() == "cell_type";
    if (g.kind() == "overall") continue;
    for (const v1::LatencyMetric& m : g.latencies()) {
      (cell ? by_cell : by_profile)[m.name()] += m.histogram().total_count();
    }
    (cell ? members_cell : members_profile) += g.members();
    (cell ? disconnects_cell : disconnects_profile) += g.traffic().disconnects();
    (cell ? bytes_cell : bytes_profile) += g.traffic().bytes_down();
    if (cell) {
      cells_cell += g.cells();
      meetings_cell += g.quorum().meetings();
      acked_cell += g.quorum().ballots_acked();
    } else {
      EXPECT_EQ(g.cells(), 0u);
    }
  }
  for (const v1::LatencyMetric& m : overall.latencies()) {
    SCOPED_TRACE(m.name());
    EXPECT_GT(m.histogram().total_count(), 0u);
    EXPECT_EQ(m.histogram().total_count(), by_cell[m.name()]);
    // time_to_quorum is a meeting's figure: recorded with no profile.
    EXPECT_EQ(by_profile[m.name()], m.name() == "time_to_quorum" ? 0 : m.histogram().total_count());
  }
  EXPECT_EQ(overall.members(), members_cell);
  EXPECT_EQ(overall.members(), members_profile);
  EXPECT_EQ(overall.cells(), cells_cell);
  EXPECT_EQ(overall.traffic().disconnects(), disconnects_cell);
  EXPECT_EQ(overall.traffic().disconnects(), disconnects_profile);
  EXPECT_EQ(overall.traffic().bytes_down(), bytes_cell);
  EXPECT_EQ(overall.traffic().bytes_down(), bytes_profile);
  EXPECT_EQ(overall.quorum().meetings(), meetings_cell);
  EXPECT_EQ(overall.quorum().meetings(), 36u);
  EXPECT_EQ(overall.quorum().ballots_acked(), acked_cell);
}

// The export does not depend on the order of registration or of recording.
TEST(RecorderTest, ExportIndependentOfOrder) {
  Recorder forward, backward;
  testing::record_cells({.seed = 9}, {0, 1, 2, 3}, &forward);
  testing::record_cells({.seed = 9}, {0, 1, 2, 3}, &backward, /*reverse=*/true);
  ASSERT_NE(forward.cell_type_name(0), backward.cell_type_name(0));
  const v1::RunInfo run = testing::run_info({.seed = 9}, 0, 0);
  MessageDifferencer diff;
  std::string report;
  diff.ReportDifferencesToString(&report);
  EXPECT_TRUE(diff.Compare(forward.to_results(run), backward.to_results(run))) << report;
  EXPECT_TRUE(forward.to_results(run).SerializeAsString() ==
              backward.to_results(run).SerializeAsString());
}

}  // namespace
}  // namespace cellsim::metrics
