// The plan's chair (scenario/plan.h, CellType.chair_attend_probability): by
// default the chair always attends; an absent chair hands the chair to the
// first attending official in roster order, named chair in the roster; with
// nobody attending, nobody chairs; the setting is a probability.
#include "scenario/plan.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "scenario/loader.h"
#include "snippet.h"

namespace cellsim::scenario {
namespace {

v1::Scenario with_cell(const std::string& cell_fields) {
  const std::string text =
      "duration_min: 30\n"
      "profiles { name: \"p\" bandwidth_down_kbps: 1000 bandwidth_up_kbps: 1000 }\n"
      "agendas { name: \"a\" items { title: \"t\" } }\n"
      "cell_types { name: \"c\" count: 4 members { official: 5 probationary: 2 }\n"
      "  links { profile: \"p\" share: 1 } agenda: \"a\" " +
      cell_fields + " }\n";
  v1::Scenario s;
  std::vector<LoadError> errors;
  EXPECT_TRUE(parse_scenario(text, "plan", &s, &errors))
      << (errors.empty() ? "" : errors[0].to_string());
  return s;
}

// Roster position of the member holding the chair plan, and checks the
// roster agrees (exactly one ROLE_CHAIR, the same member).
int chair_position(const CellSetup& c) {
  int holder = -1, chairs = 0;
  for (size_t i = 0; i < c.members.size(); ++i) {
    if (c.members[i].plan.chair) {
      EXPECT_EQ(holder, -1);
      holder = static_cast<int>(i);
    }
    if (c.roster.members(static_cast<int>(i)).role() == v1::ROLE_CHAIR) {
      ++chairs;
      EXPECT_EQ(c.members[i].plan.role, v1::ROLE_CHAIR);
      EXPECT_EQ(static_cast<int>(i), holder);
    }
  }
  EXPECT_EQ(chairs, 1);
  return holder;
}

TEST(PlanTest, TheChairAttendsByDefault) {
  const v1::Scenario s = with_cell("attend_probability: 0");
  for (const CellSlot& slot : cell_slots(s)) {
    const CellSetup c = plan_cell(s, slot, 0);
    EXPECT_EQ(chair_position(c), 0);
    EXPECT_NE(c.members[0].plan.join_at_ns, agents::kNever);
  }
}

TEST(PlanTest, AnAbsentChairHandsOverToTheFirstAttendingOfficial) {
  const v1::Scenario s = with_cell("attend_probability: 1 chair_attend_probability: 0");
  for (const CellSlot& slot : cell_slots(s)) {
    const CellSetup c = plan_cell(s, slot, 0);
    EXPECT_EQ(c.members[0].plan.join_at_ns, agents::kNever);
    EXPECT_EQ(c.roster.members(0).role(), v1::ROLE_MEMBER);
    EXPECT_EQ(chair_position(c), 1);  // member 2, official, attends
    EXPECT_NE(c.members[0].plan.chair.has_value(), true);
    EXPECT_NE(c.members[1].plan.chair->minute_taker_id, c.roster.members(1).member_id());
  }
}

TEST(PlanTest, WithNobodyAttendingTheChairStaysAbsent) {
  const v1::Scenario s = with_cell("attend_probability: 0 chair_attend_probability: 0");
  for (const CellSlot& slot : cell_slots(s)) {
    const CellSetup c = plan_cell(s, slot, 0);
    EXPECT_EQ(chair_position(c), 0);
    for (const MemberSetup& m : c.members) EXPECT_EQ(m.plan.join_at_ns, agents::kNever);
  }
}

TEST(PlanTest, ChairAttendProbabilityIsAProbability) {
  const std::string text =
      testing::text_of({testing::kDuration, testing::kProfile, testing::kAgenda, testing::kCellOpen,
                        "  chair_attend_probability: 1.5 }"});
  v1::Scenario s;
  std::vector<LoadError> errors;
  EXPECT_FALSE(parse_scenario(text, testing::kSnippetFile, &s, &errors));
  ASSERT_FALSE(errors.empty());
  EXPECT_NE(errors[0].to_string().find("chair_attend_probability"), std::string::npos)
      << errors[0].to_string();
  EXPECT_NE(errors[0].to_string().find("snippet.textproto:5:"), std::string::npos)
      << errors[0].to_string();
}

}  // namespace
}  // namespace cellsim::scenario
