// What every host of the agents (the simulator's world, the live driver)
// needs the same way (host/host_core.h builds on these): the agents' measures as metric names, the cell types
// and profiles registered with their titles, a chair's meeting report and
// media turned into figures, the engine settings and the members' tokens.
//
// Thread-safety: stateless functions.
#ifndef CELLSIM_HOST_HOST_H_
#define CELLSIM_HOST_HOST_H_

#include <cstdint>
#include <string>

#include <algorithm>

#include "agents/agent.h"
#include "cellsim/v1/scenario.pb.h"
#include "metrics/attendance.h"
#include "metrics/recorder.h"
#include "scenario/loader.h"
#include "server/engine/settings.h"
#include "server/engine/token.h"

namespace cellsim::host {

// The metric an agent's measure is recorded under.
inline metrics::Latency to_latency(agents::Measure m) {
  switch (m) {
    case agents::Measure::kJoin: return metrics::Latency::kJoin;
    case agents::Measure::kHeartbeatRtt: return metrics::Latency::kHeartbeatRtt;
    case agents::Measure::kBroadcast: return metrics::Latency::kBroadcast;
    case agents::Measure::kBallot: return metrics::Latency::kBallot;
    case agents::Measure::kResult: return metrics::Latency::kResult;
    case agents::Measure::kTimeToQuorum: return metrics::Latency::kTimeToQuorum;
  }
  return metrics::Latency::kJoin;
}

// The recorder index of a cell type (profile), its titles copied.
inline uint32_t register_cell_type(metrics::Recorder& rec, const v1::CellType& ct) {
  const uint32_t i = rec.cell_type_index(ct.name());
  rec.set_cell_type_titles(i, ct.title_vi(), ct.title_en());
  return i;
}
inline uint32_t register_profile(metrics::Recorder& rec, const v1::NetworkProfile& p) {
  const uint32_t i = rec.profile_index(p.name());
  rec.set_profile_titles(i, p.title_vi(), p.title_en());
  return i;
}

// A meeting's attendance trace for the results (metrics/attendance.h).
inline v1::AttendanceTrace attendance_trace(const agents::MeetingReport& r, uint64_t seed,
                                            uint32_t members) {
  v1::AttendanceTrace t;
  t.set_cell_id(r.cell_id);
  t.set_sample_key(metrics::attendance_sample_key(seed, r.cell_id));
  const double share = r.meeting_ns > 0 ? static_cast<double>(r.quorate_ns) /
                                              static_cast<double>(r.meeting_ns)
                                        : 0.0;
  t.set_quorate_ppm(static_cast<uint32_t>(std::clamp(share, 0.0, 1.0) * 1e6 + 0.5));
  t.set_quorum_losses(r.quorum_losses);
  t.set_quorate_by_deadline(r.quorate_by_deadline);
  t.set_members(members);
  for (const agents::AttendancePoint& p : r.attendance) {
    t.add_t_ms(p.since_start_ns / agents::kNsPerMs);
    t.add_present(p.present);
    t.add_required(p.required);
    t.add_denominator(p.denominator);
  }
  t.set_truncated(r.attendance_truncated);
  t.set_closed_ms(r.closed_since_start_ns / agents::kNsPerMs);
  return t;
}

// A chair's meeting report into the cell type's figures.
inline void record_meeting_report(metrics::Recorder& rec, uint32_t cell_type,
                                  const agents::MeetingReport& r, uint64_t seed,
                                  uint32_t members) {
  metrics::Quorum& q = rec.quorum(cell_type);
  // Quorum attainment is the engine's state by the deadline; where the chair
  // never received the minutes, what the chair heard.
  q.meetings_quorate_by_deadline +=
      r.engine_view_known ? r.engine_quorate_by_deadline : r.quorate_by_deadline;
  q.meetings_quorate_by_deadline_chair += r.quorate_by_deadline;
  q.meetings_ever_quorate += r.ever_quorate;
  q.meeting_time_ns += static_cast<uint64_t>(std::max<agents::TimeNs>(0, r.meeting_ns));
  q.quorate_time_ns += static_cast<uint64_t>(std::max<agents::TimeNs>(0, r.quorate_ns));
  q.quorum_losses += r.quorum_losses;
  q.votes_held += r.votes_held;
  q.votes_valid += r.votes_valid;
  q.votes_passed += r.votes_passed;
  q.ballots_counted += r.ballots_counted;
  q.meetings_closed += r.closed;
  q.minutes_complete += r.minutes_complete;
  rec.offer_attendance(cell_type, attendance_trace(r, seed, members));
}

// Media reported by an agent (agents::AgentObserver::on_media).
inline void record_media(metrics::Traffic& t, bool sent, uint64_t payload_bytes, uint64_t frames) {
  if (sent) {
    t.media_bytes_sent += payload_bytes;
    t.media_frames_sent += frames;
  } else {
    t.media_bytes += payload_bytes;
  }
}

// A speech interval's figures as the recorder keeps them.
inline metrics::SpeechSample speech_sample(const agents::SpeechResult& r, double frame_ms) {
  metrics::SpeechSample s;
  s.frames_sent = r.frames_sent;
  s.frames_played = r.frames_played;
  s.frames_late = r.frames_late;
  s.frame_ms = frame_ms;
  s.mouth_to_ear_ms = r.mouth_to_ear_ms;
  s.burst_r = r.burst_r;
  s.mos = r.mos;
  return s;
}

// The engine's media pacing for a scenario's audio: the defaults
// (engine/settings.h), raised when the scenario speaks faster, to twice the
// speaker's rate (payload plus the per-frame overhead) with 10 s of burst.
inline void apply_media_pacing(const v1::MediaSpec& media, engine::EngineSettings* s) {
  if (media.bitrate_kbps() == 0 || media.frame_ms() == 0) return;
  const uint64_t payload_bytes = uint64_t{media.bitrate_kbps()} * media.frame_ms() / 8;
  s->max_media_payload_bytes = static_cast<uint32_t>(
      std::min<uint64_t>(s->max_frame_bytes - engine::kMediaRelayOverheadBytes,
                         std::max<uint64_t>(s->max_media_payload_bytes, payload_bytes)));
  const uint64_t payload_per_s = uint64_t{media.bitrate_kbps()} * 1000 / 8;
  const uint64_t frames_per_s = (1000 + media.frame_ms() - 1) / media.frame_ms();
  const uint64_t rate = 2 * (payload_per_s + frames_per_s * engine::kMediaFrameOverheadBytes);
  constexpr uint64_t kBurstSeconds = 10;
  constexpr uint64_t kMaxRate = uint64_t{1} << 28;
  s->media_rate_bytes_per_s = static_cast<uint32_t>(
      std::min(kMaxRate, std::max<uint64_t>(s->media_rate_bytes_per_s, rate)));
  s->media_burst_bytes = static_cast<uint32_t>(
      std::min(kMaxRate * kBurstSeconds,
               std::max<uint64_t>(s->media_burst_bytes, rate * kBurstSeconds)));
}

// The engine settings a scenario's rules ask for, on top of `s`'s: quorum
// fraction, heartbeat interval, missed heartbeats, media pacing, and the
// seed as the run id. The simulator's nodes and live mode's embedded
// cellmeetd both take them from here.
inline void apply_scenario_settings(const v1::Scenario& scenario, engine::EngineSettings* s) {
  const auto q = scenario::engine_quorum(scenario.rules().quorum_fraction());
  s->rules.quorum = {q.num, q.den};
  s->rules.heartbeat_interval_ms = scenario.rules().heartbeat_interval_ms();
  s->rules.missed_heartbeats = scenario.rules().missed_heartbeats();
  apply_media_pacing(scenario.media(), s);
  s->run_id = scenario.seed();
}

// A member's token, as its server would mint it: the plan's cell, member,
// standing and role, valid until a day after the run ends.
inline std::string member_token(const std::string& key, const agents::MemberPlan& plan,
                                agents::TimeNs run_end_ns) {
  v1::TokenClaims claims;
  claims.set_cell_id(plan.cell_id);
  claims.set_member_id(plan.member_id);
  claims.set_standing(plan.standing);
  claims.set_role(plan.role);
  claims.set_expires_at_ms((run_end_ns + 86'400 * agents::kNsPerS) / agents::kNsPerMs);
  return engine::mint_token(key, claims);
}

}  // namespace cellsim::host

#endif  // CELLSIM_HOST_HOST_H_
