// Every number RULES.md and DESIGN.md give the meeting engine, as settings
// with those defaults. A scenario or a deployment may change any of them; the
// engine never hard-codes one.
//
// Thread-safety: plain values; copy freely.
#ifndef CELLSIM_SERVER_ENGINE_SETTINGS_H_
#define CELLSIM_SERVER_ENGINE_SETTINGS_H_

#include <array>
#include <cstdint>

#include "cellsim/v1/wire.pb.h"

namespace cellsim::engine {

namespace v1 = ::cellsim::v1;

// A fraction num/den of a base count.
struct Fraction {
  uint32_t num = 2;
  uint32_t den = 3;
};

// What a vote's yes count is measured against.
enum class ThresholdBase {
  kDenominator,      // D, RULES.md
  kOfficialMembers,  // the cell's official members (standing official or exempted)
};

// "yes > fraction of base" (strict) or "yes >= fraction of base".
struct VoteRule {
  v1::VoteMethod method = v1::VOTE_METHOD_SHOW_OF_HANDS;
  ThresholdBase base = ThresholdBase::kDenominator;
  Fraction fraction{1, 2};
  bool strict = true;
};

struct RulesSettings {
  // Quorum: present members who count in D >= ceil(quorum × D).
  Fraction quorum{2, 3};
  // Liveness: a member unheard for missed_heartbeats × interval is absent.
  uint32_t heartbeat_interval_ms = 10'000;
  uint32_t missed_heartbeats = 3;
  // A connection that has not sent a good Hello within this time is closed.
  uint32_t hello_timeout_ms = 10'000;
  // The vote table, indexed by v1::VoteKind.
  std::array<VoteRule, 7> votes = default_vote_rules();

  static constexpr std::array<VoteRule, 7> default_vote_rules() {
    using v1::VOTE_METHOD_SECRET_BALLOT;
    using v1::VOTE_METHOD_SHOW_OF_HANDS;
    constexpr Fraction half{1, 2};
    constexpr Fraction two_thirds{2, 3};
    return {{
        {},  // VOTE_KIND_UNSPECIFIED: never used
        {VOTE_METHOD_SHOW_OF_HANDS, ThresholdBase::kDenominator, half, true},        // resolution
        {VOTE_METHOD_SECRET_BALLOT, ThresholdBase::kDenominator, half, true},        // election
        {VOTE_METHOD_SHOW_OF_HANDS, ThresholdBase::kOfficialMembers, two_thirds, false},  // admission
        {VOTE_METHOD_SHOW_OF_HANDS, ThresholdBase::kOfficialMembers, two_thirds, false},  // confirmation
        {VOTE_METHOD_SECRET_BALLOT, ThresholdBase::kOfficialMembers, half, true},    // discipline
        {VOTE_METHOD_SECRET_BALLOT, ThresholdBase::kOfficialMembers, two_thirds, false},  // expulsion
    }};
  }
};

// What a media frame costs in the pacing bucket beyond its payload (framing,
// envelope and a share of TCP/IP headers), bytes.
inline constexpr uint32_t kMediaFrameOverheadBytes = 48;
// Most bytes the relay adds to a received MediaFrame (the sender's id and
// tags): max_media_payload_bytes + this must fit in max_frame_bytes.
inline constexpr uint32_t kMediaRelayOverheadBytes = 64;
// Most bytes a push adds around one text of max_text_bytes (VoteOpened,
// AgendaAdvanced, FloorRequested): max_text_bytes + this must fit.
inline constexpr uint32_t kTextPushOverheadBytes = 128;

struct EngineSettings {
  RulesSettings rules;
  // Largest frame payload accepted, bytes (DESIGN.md: 64 KiB).
  uint32_t max_frame_bytes = 64 * 1024;
  // Bound on one meeting's proceedings entries kept for the minutes.
  uint32_t max_proceedings = 10'000;
  // Bound on votes per meeting.
  uint32_t max_votes_per_meeting = 256;
  // Bound on the agenda and on free text fields (bytes).
  uint32_t max_agenda_items = 64;
  uint32_t max_guests = 64;
  uint32_t max_text_bytes = 1024;
  // Floor requests one member may make in one meeting (each is minuted).
  uint32_t max_floor_requests_per_member = 32;
  // Bound on a cell's roster (so attendance lists always fit in a frame).
  uint32_t max_roster_members = 1000;
  // Media (only the floor holder's frames are relayed): the largest payload
  // accepted, bytes, and a token bucket per member paced at
  // media_rate_bytes_per_s with media_burst_bytes of burst. A frame costs
  // its payload plus kMediaFrameOverheadBytes, so floods of tiny frames are
  // paced too. The defaults carry 64 kb/s audio in 20 ms frames with room,
  // and a burst of 10 s of it (TCP delivers a stalled link's frames at once).
  uint32_t max_media_payload_bytes = 2048;
  uint32_t media_rate_bytes_per_s = 16'000;
  uint32_t media_burst_bytes = 160'000;
  // Session ids are base, base + stride, base + 2 × stride, ...: a host
  // running several engines gives each its own base (its shard index) and
  // the same stride (the shard count), so ids are unique across them.
  uint64_t session_id_base = 1;
  uint64_t session_id_stride = 1;
  // Names this server run in resume tokens: a token from an earlier run (or
  // another server) starts a fresh session instead of matching a new one.
  // Also part of every media key (proto/datagram.h, media_key()).
  uint64_t run_id = 0;
  // The `datagram` media transport (proto/datagram.h): the UDP port the host
  // receives voice datagrams on, told to every member in Welcome with its
  // session's media key. 0: datagrams are not offered (Welcome carries no
  // key and no port, and Engine::handle_datagram() drops everything as
  // unknown_session). A host may set it after construction
  // (Engine::set_media_port) once its socket is bound.
  uint32_t media_port = 0;
};

}  // namespace cellsim::engine

#endif  // CELLSIM_SERVER_ENGINE_SETTINGS_H_
