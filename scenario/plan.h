// Turns a scenario into concrete cells and members: who is on each roster,
// which link profile each member has, whether and when each attends, who is
// excused, who asks for the floor, the chair's agenda, each member's mass
// outages. Shared by the simulator and the live driver, so both run the same
// people for the same seed.
//
// Every draw comes from the stream of its entity (the cell, or the member),
// derived from the seed and the entity's number, so a cell's plan does not
// depend on which other cells are planned (shards, live subsets).
//
// Thread-safety: pure functions.
#ifndef CELLSIM_SCENARIO_PLAN_H_
#define CELLSIM_SCENARIO_PLAN_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "agents/agent.h"
#include "cellsim/v1/scenario.pb.h"

namespace cellsim::scenario {

using TimeNs = int64_t;

struct MemberSetup {
  agents::MemberPlan plan;  // token left empty: the host mints it
  uint64_t member_no = 0;   // the member's number in the whole scenario
  int profile_pos = 0;      // index into scenario.profiles()
  std::vector<std::pair<TimeNs, TimeNs>> outage_windows;  // mass outages [from, to)
};

struct CellSetup {
  uint64_t cell_id = 0;     // cell index + 1
  int cell_type_pos = 0;    // index into scenario.cell_types()
  uint32_t node = 0;        // cell index mod nodes
  v1::CellRoster roster;    // member 1 chairs
  TimeNs scheduled_start_ns = 0;
  // Roster order. The chair's member holds plan.chair: members[0], or when
  // the chair does not attend the deputy it designated (CellType.
  // chair_attend_probability).
  std::vector<MemberSetup> members;
};

// Where each cell sits: its index, type and first member number.
struct CellSlot {
  uint32_t cell_index = 0;
  int cell_type_pos = 0;
  uint64_t first_member_no = 0;
};
std::vector<CellSlot> cell_slots(const v1::Scenario& s);

// The listeners' jitter buffer and codec for a scenario's media (VoiceSpec).
// REQUIRES: defaults applied.
agents::VoiceSettings voice_settings(const v1::MediaSpec& media);

// REQUIRES: s validated with defaults applied; start_ns is the run's start.
CellSetup plan_cell(const v1::Scenario& s, const CellSlot& slot, TimeNs start_ns);

}  // namespace cellsim::scenario

#endif  // CELLSIM_SCENARIO_PLAN_H_
