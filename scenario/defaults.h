// The defaults a scenario gets for the settings it leaves out (RULES.md and
// DESIGN.md give the numbers; every one of them is a setting).
//
// | setting                              | default                      |
// |--------------------------------------|------------------------------|
// | start_unix_s                         | 1796086800 (2026-12-01T01:00:00Z, 08:00 in Vietnam) |
// | server.nodes                         | 1                            |
// | server.cores_per_node                | 2                            |
// | server.nic_egress_mbps               | 1000                         |
// | rules.quorum_fraction                | 2/3 (0.6666666666666666)     |
// | rules.heartbeat_interval_ms          | 10000                        |
// | rules.missed_heartbeats              | 3                            |
// | reconnect.initial_backoff_ms         | 500                          |
// | reconnect.max_backoff_ms             | 30000                        |
// | reconnect.multiplier                 | 2                            |
// | reconnect.jitter                     | 0.5                          |
// | chair.open_deadline_min              | 15                           |
// | chair.wait_for_quorum_min            | 5                            |
// | media.bitrate_kbps                   | 24                           |
// | media.frame_ms                       | 20                           |
// | quorum_deadline_min                  | 15                           |
// | profiles[].rto_min_ms                | 200                          |
// | profiles[].queue_limit_packets       | 0 = 100 (host/link.h)        |
// | profiles[].queue_limit_bytes         | 0 = 150,000                  |
// | agendas[].items[].votes[].open_s     | 60                           |
// | outage_events[].share                | 1 (the schema: 0 means 1)    |
//
// No default (required): duration_min. Left at 0 when unset, meaning what
// the schema says: seed 0, no jitter, no outages, join at the start, no
// start window or offset, no crashes, no calibration file (built-in costs).
//
// Thread-safety: constants only.
#ifndef CELLSIM_SCENARIO_DEFAULTS_H_
#define CELLSIM_SCENARIO_DEFAULTS_H_

#include <cstdint>

namespace cellsim::scenario {

inline constexpr int64_t kDefaultStartUnixS = 1'796'086'800;  // 2026-12-01T01:00:00Z
inline constexpr uint32_t kDefaultServerNodes = 1;
inline constexpr uint32_t kDefaultCoresPerNode = 2;
inline constexpr uint32_t kDefaultNicEgressMbps = 1000;
inline constexpr double kDefaultQuorumFraction = 2.0 / 3.0;
inline constexpr uint32_t kDefaultHeartbeatIntervalMs = 10'000;
inline constexpr uint32_t kDefaultMissedHeartbeats = 3;
inline constexpr double kDefaultInitialBackoffMs = 500;
inline constexpr double kDefaultMaxBackoffMs = 30'000;
inline constexpr double kDefaultBackoffMultiplier = 2;
inline constexpr double kDefaultBackoffJitter = 0.5;
inline constexpr double kDefaultOpenDeadlineMin = 15;
inline constexpr double kDefaultWaitForQuorumMin = 5;
inline constexpr uint32_t kDefaultMediaBitrateKbps = 24;
inline constexpr uint32_t kDefaultMediaFrameMs = 20;
// Voice quality (scenario.proto's VoiceSpec): G.729 Annex A, Ie and Bpl from
// ITU-T G.113 Appendix I (Tables I.1, I.3), its 5 ms look-ahead (G.729).
inline constexpr double kDefaultCodecIe = 11;
inline constexpr double kDefaultCodecBpl = 19.0;
inline constexpr double kDefaultCodecLookaheadMs = 5;
inline constexpr double kDefaultJitterBufferMs = 60;
inline constexpr double kDefaultMosThreshold = 3.6;
inline constexpr double kDefaultVoiceMinShare = 0.9;
inline constexpr double kDefaultQuorumDeadlineMin = 15;
inline constexpr double kDefaultRtoMinMs = 200;
inline constexpr double kDefaultVoteOpenS = 60;
inline constexpr double kDefaultOutageShare = 1;

}  // namespace cellsim::scenario

#endif  // CELLSIM_SCENARIO_DEFAULTS_H_
