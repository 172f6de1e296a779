// A small fixture over Harness for tests of one cell's meeting: members are
// addressed by id, the chair is member 1, and chair commands and ballots are
// one call each. Header-only; test code only.
#ifndef CELLSIM_TESTS_ENGINE_MEETING_FIXTURE_H_
#define CELLSIM_TESTS_ENGINE_MEETING_FIXTURE_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tests/engine/harness.h"

namespace cellsim::engine::testing {

inline constexpr uint64_t kCell = 7;
inline constexpr uint64_t kChair = 1;

class Meet {
 public:
  // Member i + 1 has standings[i]; member 1 chairs.
  explicit Meet(const std::vector<v1::Standing>& standings, EngineSettings settings = {})
      : h(settings) {
    h.add_cell(make_roster(kCell, standings, /*chair_index=*/0, /*first_id=*/1));
  }

  Harness h;
  std::map<uint64_t, ConnId> conns;  // each member's latest connection

  ConnId conn(uint64_t m) const {
    auto it = conns.find(m);
    EXPECT_NE(it, conns.end()) << "member " << m << " never connected";
    return it == conns.end() ? 0 : it->second;
  }

  // Connects, says Hello and joins; expects MeetingState.
  ConnId join(uint64_t m) { return conns[m] = h.join(kCell, m); }
  void join_range(uint64_t first, uint64_t last) {
    for (uint64_t m = first; m <= last; ++m) join(m);
  }
  // Connects and says Hello only.
  ConnId login(uint64_t m, const std::string& resume = {}) {
    return conns[m] = h.login(kCell, m, resume);
  }
  // The member's connection drops.
  void drop(uint64_t m) { h.disconnect(conn(m)); }

  // Lets `ms` pass while every open connection heartbeats each interval, so
  // nobody times out.
  void pass_ms(int64_t ms) {
    const int64_t step = h.settings().rules.heartbeat_interval_ms;
    while (ms > 0) {
      const int64_t d = std::min(step, ms);
      h.advance_ms(d);
      ms -= d;
      for (const auto& [member, c] : conns) {
        if (h.is_open(c)) h.heartbeat(c);
      }
    }
  }

  // Sends a request; returns the Error that answered it, if any.
  std::optional<v1::Error> cmd(uint64_t m, v1::Envelope e) {
    const size_t since = h.mark();
    const ConnId c = conn(m);
    EXPECT_TRUE(h.is_open(c)) << "member " << m << "'s connection is closed";
    const uint64_t rid = h.send(c, std::move(e));
    for (const v1::Envelope& got : h.envelopes(c, since, v1::Envelope::kError)) {
      if (got.request_id() == rid) return got.error();
    }
    return std::nullopt;
  }
  // A request that must succeed.
  void ok(uint64_t m, v1::Envelope e) {
    const std::string what(wire::body_name(e.body_case()));
    const auto err = cmd(m, std::move(e));
    EXPECT_FALSE(err.has_value()) << what << " from " << m << " refused: "
                                  << (err ? err->DebugString() : "");
  }
  // A request that must be refused with `code`.
  void refused(uint64_t m, v1::Envelope e, v1::ErrorCode code) {
    const std::string what(wire::body_name(e.body_case()));
    const auto err = cmd(m, std::move(e));
    ASSERT_TRUE(err.has_value()) << what << " from " << m << " was not refused";
    EXPECT_EQ(err->code(), code) << what << " from " << m << ": " << err->reason();
    EXPECT_FALSE(err->reason().empty()) << "a refusal says why";
  }

  // The chair (joining if needed) opens the meeting.
  void open() {
    if (!conns.count(kChair)) join(kChair);
    ok(kChair, msg::open_meeting("monthly meeting", kChair, {"report", "discussion", "votes"}));
  }

  // Casts a ballot; returns the BallotAck, or nothing (and the error in *err).
  std::optional<v1::BallotAck> cast(uint64_t m, uint64_t vote_id, v1::Choice c,
                                    uint64_t ballot_id, v1::Error* err = nullptr) {
    const v1::Envelope a = h.request(conn(m), msg::ballot(vote_id, c, ballot_id));
    if (a.has_ballot_ack()) return a.ballot_ack();
    if (err != nullptr) *err = a.error();
    return std::nullopt;
  }
  uint64_t ballot_id(uint64_t vote_id, uint64_t m) const { return vote_id * 1000 + m; }

  // Opens a vote, lets each listed member vote, closes it; returns the
  // VoteClosed the chair received.
  v1::VoteClosed vote(uint64_t vote_id, v1::VoteKind kind,
                      const std::map<uint64_t, v1::Choice>& choices, bool secret = false) {
    ok(kChair, msg::open_vote(vote_id, kind, secret));
    for (const auto& [m, c] : choices) {
      const auto ack = cast(m, vote_id, c, ballot_id(vote_id, m));
      EXPECT_TRUE(ack.has_value()) << "ballot of member " << m << " refused";
    }
    return close(vote_id);
  }
  v1::VoteClosed close(uint64_t vote_id) {
    const size_t since = h.mark();
    ok(kChair, msg::close_vote(vote_id));
    const auto closed = h.last(conn(kChair), v1::Envelope::kVoteClosed, since);
    EXPECT_TRUE(closed.has_value()) << "no VoteClosed for vote " << vote_id;
    return closed ? closed->vote_closed() : v1::VoteClosed();
  }

  // `yes` members vote yes and the rest of `voters` vote no.
  static std::map<uint64_t, v1::Choice> yes_then_no(const std::vector<uint64_t>& voters,
                                                    uint32_t yes) {
    std::map<uint64_t, v1::Choice> out;
    for (size_t i = 0; i < voters.size(); ++i) {
      out[voters[i]] = i < yes ? v1::CHOICE_YES : v1::CHOICE_NO;
    }
    return out;
  }

  // The engine's quorum as the meeting holds it.
  v1::QuorumStatus q() const {
    const Meeting* m = h.meeting(kCell);
    EXPECT_NE(m, nullptr);
    return m ? m->quorum() : v1::QuorumStatus();
  }
  // The last QuorumChanged member `m` received.
  std::optional<v1::QuorumStatus> pushed_q(uint64_t m, size_t since = 0) const {
    const auto e = h.last(conn(m), v1::Envelope::kQuorumChanged, since);
    if (!e) return std::nullopt;
    return e->quorum_changed().quorum();
  }
};

inline std::vector<uint64_t> range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> v;
  for (uint64_t m = first; m <= last; ++m) v.push_back(m);
  return v;
}

inline std::vector<v1::Standing> officials(size_t n) {
  return std::vector<v1::Standing>(n, v1::STANDING_OFFICIAL);
}

}  // namespace cellsim::engine::testing

#endif  // CELLSIM_TESTS_ENGINE_MEETING_FIXTURE_H_
