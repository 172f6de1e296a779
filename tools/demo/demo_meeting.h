// The demo meeting: one offshore-platform cell of 12 members (9 official
// including the chair, 2 probationary, 1 exempted) holds a whole meeting over
// TCP against a cellmeetd: attendance and quorum, an excused absence, the
// agenda, a resolution that passes, an admission vote that fails on the 2/3
// rule, a secret election, a probationary ballot refused, a resent ballot
// counted once, and the minutes. The README's main job and the integration
// test both run it.
//
// Thread-safety: run_demo_meeting is reentrant (no globals).
#ifndef CELLSIM_TOOLS_DEMO_DEMO_MEETING_H_
#define CELLSIM_TOOLS_DEMO_DEMO_MEETING_H_

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "cellsim/v1/wire.pb.h"
#include "server/net/tls.h"

namespace cellsim::demo {

namespace v1 = ::cellsim::v1;

inline constexpr uint64_t kDemoCellId = 1001;

// The demo cell's roster. Member 1 chairs; 2 takes the minutes; 9 is away on
// shift and excused; 10 and 11 are probationary; 12 is exempted.
v1::CellRoster demo_roster(uint64_t cell_id = kDemoCellId);

struct DemoOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string key;  // the server's HMAC key, to mint the members' tokens
  uint64_t cell_id = kDemoCellId;
  int step_timeout_ms = 5000;  // longest wait for any one expected frame
  std::ostream* log = nullptr;  // what happens, for people; may be null
  // Non-null: every member connects with TLS, verifying the server's
  // certificate for `host` (or tls_server_name).
  std::shared_ptr<const net::TlsContext> tls;
  std::string tls_server_name;
};

struct DemoResult {
  bool ok = false;
  std::string error;  // which step failed, when !ok
  bool quorum_reached = false;
  v1::QuorumStatus quorum_at_open;
  std::vector<v1::VoteClosed> votes;    // as the chair received them
  v1::Error probationary_refusal;       // the answer to the probationary ballot
  bool resent_ballot_acked_as_duplicate = false;
  v1::Minutes minutes;                  // from the chair's MeetingClosed
  std::vector<std::string> minutes_gaps;  // what the minutes lack; empty when complete
};

DemoResult run_demo_meeting(const DemoOptions& options);

// Lists what RULES.md asks of the minutes that `m` lacks.
std::vector<std::string> minutes_gaps(const v1::Minutes& m, const v1::CellRoster& roster);

// Writes the minutes as a human-readable record.
void print_minutes(const v1::Minutes& m, std::ostream& out);

}  // namespace cellsim::demo

#endif  // CELLSIM_TOOLS_DEMO_DEMO_MEETING_H_
