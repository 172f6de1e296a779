// The scenario files in scenarios/ (found at test time): every one loads
// without errors and says which question it answers; the main ones have the
// shape their header promises.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <google/protobuf/util/message_differencer.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "scenario/loader.h"

#ifndef CELLSIM_SCENARIOS_DIR
#error "CELLSIM_SCENARIOS_DIR must name the source tree's scenarios/ folder"
#endif

namespace cellsim::scenario {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::vector<std::string> scenario_files() {
  std::vector<std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(CELLSIM_SCENARIOS_DIR)) {
    if (entry.is_regular_file() && entry.path().extension() == ".textproto") {
      files.push_back(entry.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string path_of(const std::string& relative) {
  return (fs::path(CELLSIM_SCENARIOS_DIR) / relative).string();
}

v1::Scenario load_or_fail(const std::string& path) {
  v1::Scenario s;
  std::vector<LoadError> errors;
  EXPECT_TRUE(load_scenario(path, &s, &errors)) << path;
  for (const LoadError& e : errors) ADD_FAILURE() << e.to_string();
  return s;
}

// The leading comment block of a file.
std::string header_of(const std::string& path) {
  std::ifstream in(path);
  std::string header;
  for (std::string line; std::getline(in, line) && line.rfind("#", 0) == 0;) header += line + "\n";
  return header;
}

uint64_t members_of(const v1::CellType& t) {
  const v1::MemberCounts& m = t.members();
  return uint64_t{m.official()} + m.probationary() + m.exempted() + m.suspended() +
         m.attached_elsewhere();
}

// Every shipped scenario (globbed now, so new files are covered) loads cleanly.
TEST(Shipped, AllLoadWithoutErrors) {
  const std::vector<std::string> files = scenario_files();
  EXPECT_GE(files.size(), 5u);
  for (const std::string& path : files) {
    SCOPED_TRACE(path);
    load_or_fail(path);
  }
}

// Every shipped scenario opens with a comment: the question, who asks, what to read.
TEST(Shipped, HeadersSayQuestionAskerAndWhatToRead) {
  for (const std::string& path : scenario_files()) {
    SCOPED_TRACE(path);
    const std::string header = header_of(path);
    EXPECT_THAT(header, HasSubstr("Question:"));
    EXPECT_THAT(header, HasSubstr("Asked by:"));
    EXPECT_THAT(header, HasSubstr("Read in the results:"));
  }
}

// Text format has no include, so each file repeats the shared profiles: a
// profile of one name is the same in every file.
TEST(Shipped, SharedProfilesAgree) {
  std::map<std::string, std::pair<std::string, v1::NetworkProfile>> seen;  // name -> (file, profile)
  for (const std::string& path : scenario_files()) {
    const v1::Scenario s = load_or_fail(path);
    for (const v1::NetworkProfile& p : s.profiles()) {
      const auto [it, fresh] = seen.emplace(p.name(), std::make_pair(path, p));
      if (fresh) continue;
      EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(it->second.second, p))
          << "profile \"" << p.name() << "\" differs between " << it->second.first << " and "
          << path;
    }
  }
  EXPECT_GE(seen.size(), 7u);  // RULES.md's table: urban, 4G, 3G, abroad, GEO, L-band, LEO
}

// The pilot: 150-250 cells of 12-25 members, 3,000-4,000 members, a ~150-minute
// run, agendas of at most 120 minutes with a resolution, an admission and a
// secret election somewhere, and a quorum SLO for every cell type.
TEST(Shipped, PilotShape) {
  const v1::Scenario s = load_or_fail(path_of("pilot-special-cells.textproto"));
  uint64_t cells = 0;
  uint64_t members = 0;
  for (const v1::CellType& t : s.cell_types()) {
    cells += t.count();
    members += t.count() * members_of(t);
    EXPECT_GE(members_of(t), 12u) << t.name();
    EXPECT_LE(members_of(t), 25u) << t.name();
  }
  EXPECT_GE(cells, 150u);
  EXPECT_LE(cells, 250u);
  EXPECT_GE(members, 3000u);
  EXPECT_LE(members, 4000u);
  EXPECT_NEAR(s.duration_min(), 150, 10);
  std::vector<int> kinds;
  for (const v1::Agenda& a : s.agendas()) {
    double minutes = 0;
    for (const v1::AgendaItem& item : a.items()) {
      minutes += item.duration_min();
      for (const v1::VoteSpec& v : item.votes()) kinds.push_back(v.kind());
    }
    EXPECT_LE(minutes, 120) << a.name();
    EXPECT_GE(minutes, 90) << a.name();
  }
  EXPECT_THAT(kinds, ::testing::IsSupersetOf({v1::VOTE_KIND_RESOLUTION, v1::VOTE_KIND_ADMISSION,
                                              v1::VOTE_KIND_ELECTION}));
  EXPECT_EQ(s.quorum_slos_size(), s.cell_types_size());
}

// The peak: 5,000 cells on 4 nodes (two shards split it), starting within an hour.
TEST(Shipped, MonthlyPeakShape) {
  const v1::Scenario s = load_or_fail(path_of("monthly-peak.textproto"));
  uint64_t cells = 0;
  for (const v1::CellType& t : s.cell_types()) {
    cells += t.count();
    EXPECT_LE(t.start_window_min(), 60) << t.name();
  }
  EXPECT_EQ(cells, 5000u);
  EXPECT_EQ(s.server().nodes(), 4u);
  EXPECT_GT(s.slos_size(), 0);
}

// The outage scenarios' events happen inside the run; the storm's outlasts
// the liveness window.
TEST(Shipped, OutageScenarios) {
  for (const char* name : {"satellite-outage-during-vote.textproto", "reconnect-storm.textproto"}) {
    SCOPED_TRACE(name);
    const v1::Scenario s = load_or_fail(path_of(name));
    ASSERT_GT(s.outage_events_size(), 0);
    for (const v1::OutageEvent& e : s.outage_events()) EXPECT_LT(e.at_min(), s.duration_min());
  }
  const v1::Scenario storm = load_or_fail(path_of("reconnect-storm.textproto"));
  const double liveness_s =
      storm.rules().heartbeat_interval_ms() / 1000.0 * storm.rules().missed_heartbeats();
  EXPECT_GT(storm.outage_events(0).duration_s(), 2 * liveness_s);
}

// The test fixture: 2 cell types x 3 cells, 10 minutes.
TEST(Shipped, TinyShape) {
  const v1::Scenario s = load_or_fail(path_of("test/tiny.textproto"));
  ASSERT_EQ(s.cell_types_size(), 2);
  for (const v1::CellType& t : s.cell_types()) EXPECT_EQ(t.count(), 3u);
  EXPECT_EQ(s.duration_min(), 10);
}

}  // namespace
}  // namespace cellsim::scenario
