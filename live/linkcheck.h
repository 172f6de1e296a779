// `cellsim linkcheck` (issue 11): the link model (host/link.h) against the
// kernel's TCP on one workload, with nothing else in between — no agents,
// no server, no meeting. For each network profile, `connections` TCP
// connections run through the packet emulator (netem/tun_bridge.h) for
// `duration_s`, each carrying what a meeting member's does:
//   down (server → member): a media frame of media_bytes every media_ms
//     (someone speaks), and a probe frame (an announcement) every probe_ms;
//   up (member → server): a heartbeat every heartbeat_ms, echoed at once.
// The same schedule runs through a pair of host::LinkDirection per
// connection on virtual time. Both sides report, per profile: the one-way
// latency of probes and of media frames and the heartbeats' round trip —
// percentiles p50..p99.9 and frames never delivered — and their counters
// (the kernel's TCP_INFO: segments, retransmissions, cwnd; the model's
// LinkStats). A mismatch here is the link model's, not the meeting's.
//
// The profiles' outage processes are left out on both sides unless
// `outages` is set; then both sides have the same windows (the emulator's
// and the hosts' schedules draw alike, host/link.h and netem/), and the
// model applies them as the simulator does (HostMember::after_outages).
//
// Both sides see the same schedule (offsets per connection from the seed);
// the random draws differ (the emulator's and the model's streams), so the
// comparison is statistical: more connections or seconds, tighter figures.
//
// Requires packet mode (netem::packet_mode_available). Traffic stays
// inside the two namespaces the bridge creates and removes.
//
// Thread-safety: run_linkcheck() is a blocking call; it starts and joins
// its own threads (the bridge's, the server side's, the members' side's).
#ifndef CELLSIM_LIVE_LINKCHECK_H_
#define CELLSIM_LIVE_LINKCHECK_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cellsim/v1/scenario.pb.h"

namespace cellsim::live {

inline constexpr uint32_t kMaxLinkCheckConnections = 256;  // per profile
inline constexpr double kMaxLinkCheckDurationS = 3600;
// Samples kept per profile, metric and side (more are counted, not kept).
inline constexpr size_t kMaxLinkCheckSamples = 2'000'000;

struct LinkCheckOptions {
  // The profiles to check, with their names. REQUIRES: non-empty; each
  // outlives the call.
  std::vector<const v1::NetworkProfile*> profiles;
  uint32_t connections = 8;  // per profile, 1..kMaxLinkCheckConnections
  double duration_s = 60;    // the schedule's length; then a drain
  double drain_s = 20;       // waits this long at most for frames in flight
  uint32_t media_ms = 20;    // 0: no media
  uint32_t media_bytes = 60;
  uint32_t probe_ms = 250;
  uint32_t probe_bytes = 120;
  uint32_t heartbeat_ms = 1000;
  uint32_t heartbeat_bytes = 40;
  uint64_t seed = 1;
  // The member speaks: media frames and probes go up (member → server)
  // instead of down; heartbeats as ever.
  bool media_up = false;
  bool outages = false;
};

// One metric of one profile on one side.
struct LinkCheckSeries {
  std::vector<double> ms;  // delivered frames' latencies, bounded
  uint64_t delivered = 0;
  uint64_t lost = 0;       // sent, never delivered by the drain's end
  double quantile_ms(double q) const;  // nan when empty
};

struct LinkCheckSide {
  LinkCheckSeries probe, media, heartbeat;
  // Counters summed over the profile's connections, down direction (the
  // server's sender) and up (the members').
  uint64_t down_data_packets = 0, down_retransmissions = 0;
  uint64_t up_data_packets = 0, up_retransmissions = 0;
  // Every segment sent, pure ACKs included (kernel only; the model's equal
  // the data packets).
  uint64_t down_segments = 0, up_segments = 0;
  uint64_t rto_expiries = 0;  // model only
  uint64_t fast_repairs = 0;  // model only
  double cwnd_mean = 0;       // kernel only: the server sockets' cwnd at the end
};

struct LinkCheckProfileResult {
  std::string profile;
  LinkCheckSide model, kernel;
};

struct LinkCheckResult {
  std::string congestion_control;  // the kernel's default, as read
  std::vector<LinkCheckProfileResult> profiles;
};

// Runs both sides. false with *error when packet mode is unavailable or the
// kernel side fails (what was made is removed). `progress`, if set, is
// called about once a second with a line of text; false from it stops the
// run (*error says so).
// REQUIRES: options as documented; out and error non-null.
bool run_linkcheck(const LinkCheckOptions& options, LinkCheckResult* out, std::string* error,
                   const std::function<bool(const std::string&)>& progress = {});

// The model's side only (no privileges; tests and the CLI use it).
// `outage_origin_ns`: where the outage processes start on the schedule's
// clock (the kernel side's bridge starts them before the schedule does).
void run_linkcheck_model(const LinkCheckOptions& options, LinkCheckResult* out,
                         int64_t outage_origin_ns = 0);

// The comparison as a text table (one row per profile, metric and side).
std::string format_linkcheck(const LinkCheckResult& r);

}  // namespace cellsim::live

#endif  // CELLSIM_LIVE_LINKCHECK_H_
