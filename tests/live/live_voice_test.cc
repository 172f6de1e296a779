// Voice in live mode (live/driver.h, "Media transports"): members given the
// floor speak, every listener present meters the speaker's interval
// (agents/voice.h) and the driver records it in the run's results (the
// groups' VoiceStats, through HostCore::on_speech as the simulator does) and
// exports it on /metrics while it runs (live/live_metrics.h).
//
//  - in_band: voice as MediaFrames on the members' TCP sessions;
//  - datagram: voice as UDP datagrams to and from the embedded cellmeetd's
//    media port, sealed per session, through frame mode's link model, beside
//    the sessions that carry the meeting's business (joins, ballots).
//
// Loopback only; each run is about 42 s of real time.
#include <gtest/gtest.h>

#include <string>

#include "live/driver.h"
#include "live/link_mode.h"
#include "metrics/prometheus_text.h"
#include "metrics/scrape.h"
#include "metrics/voice_stats.h"
#include "scenario/loader.h"

namespace cellsim::live {
namespace {

// About 40 s: a discussion of 20 s for which four members of each cell ask
// for the floor (5-60 s after it starts; the chair grants 5 s later; each
// speaks until the next one is granted or the agenda moves on, so some speak
// on into the vote), then a vote open 14 s, then the close. Two profiles: a
// clean LAN and a lossy, jittery one.
constexpr char kScenario[] = R"pb(
  name: "live-voice"
  seed: 3
  duration_min: 0.7
  start_unix_s: 1796086800
  quorum_deadline_min: 0.2
  rules { quorum_fraction: 0.5 heartbeat_interval_ms: 2000 missed_heartbeats: 3 }
  reconnect { initial_backoff_ms: 500 max_backoff_ms: 4000 multiplier: 2 jitter: 0.5 }
  chair { open_deadline_min: 0.1 wait_for_quorum_min: 0.05 }
  media { bitrate_kbps: 24 frame_ms: 20 }
  profiles {
    name: "lan"
    base_one_way_ms: 5
    jitter_ms { lognormal { median: 1 sigma: 0.5 } }
    bandwidth_down_kbps: 100000
    bandwidth_up_kbps: 100000
    rto_min_ms: 200
  }
  profiles {
    name: "lossy"
    base_one_way_ms: 60
    jitter_ms { lognormal { median: 15 sigma: 0.8 } }
    bandwidth_down_kbps: 4000
    bandwidth_up_kbps: 1000
    loss { p_good_to_bad: 0.01 p_bad_to_good: 0.3 loss_good: 0.01 loss_bad: 0.4 }
    rto_min_ms: 200
  }
  agendas {
    name: "short"
    items { title: "Thảo luận" duration_min: 0.33 floor_requests: 4 }
    items {
      title: "Nghị quyết"
      duration_min: 0.02
      votes {
        vote_id: 1
        kind: VOTE_KIND_RESOLUTION
        subject: "Nghị quyết"
        open_s: 14
        yes_probability: 0.9
        no_probability: 0.05
      }
    }
  }
  cell_types {
    name: "mixed"
    count: 4
    members { official: 8 }
    links { profile: "lan" share: 0.5 }
    links { profile: "lossy" share: 0.5 }
    attend_probability: 1
    join_offset_min { uniform { min: 0 max: 0.02 } }
    join_earliest_min: 0
    agenda: "short"
    start_window_min: 0.01
    start_offset_min: 0.02
  }
)pb";

v1::Scenario load(v1::MediaTransport transport) {
  v1::Scenario s;
  std::vector<scenario::LoadError> errors;
  const bool ok = scenario::parse_scenario(kScenario, "live-voice", &s, &errors);
  for (const auto& e : errors) ADD_FAILURE() << e.to_string();
  EXPECT_TRUE(ok);
  s.mutable_media()->set_transport(transport);
  return s;
}

const v1::Group* group(const v1::Results& r, const std::string& kind, const std::string& name) {
  for (const auto& g : r.groups()) {
    if (g.kind() == kind && (kind == "overall" || g.name() == name)) return &g;
  }
  return nullptr;
}

// One run with /metrics scraped after the discussion (when speech was
// reported), the results and the scrape checked alike for either transport.
struct VoiceRun {
  LoadOutcome out;
  std::string scraped;
  metrics::PrometheusText text;
};

VoiceRun run_voice(v1::MediaTransport transport, LinkMode mode = LinkMode::kFrame) {
  VoiceRun run;
  const v1::Scenario s = load(transport);
  LoadOptions o;
  o.link_mode = mode;
  o.scenario_file = "live-voice (in the test)";
  o.metrics_port = 0;
  std::string scrape_error;
  o.on_progress = [&](const Progress& p) {
    if (run.scraped.empty() && p.speech_intervals > 0 && p.elapsed_s > 30 && p.metrics_port != 0) {
      metrics::http_get_local(p.metrics_port, "/metrics", &run.scraped, &scrape_error);
    }
    return true;
  };
  run.out = run_load(s, o);
  EXPECT_FALSE(run.scraped.empty()) << scrape_error;
  run.text = metrics::parse_prometheus_text(run.scraped);
  EXPECT_TRUE(run.text.errors.empty())
      << run.text.errors[0].reason << ": " << run.text.errors[0].text;
  return run;
}

// What both transports must show: the business done, speech reported by
// listeners and recorded per group, the same on /metrics.
void expect_voice_recorded(const VoiceRun& run) {
  const LoadOutcome& out = run.out;
  ASSERT_TRUE(out.ok) << out.error;
  EXPECT_FALSE(out.partial);
  EXPECT_EQ(out.violation_count, 0u);
  for (const auto& v : out.violations) ADD_FAILURE() << v;
  const v1::Results& r = out.results;
  const v1::Group* all = group(r, "overall", "");
  ASSERT_NE(all, nullptr);
  // The business: every member joined, every meeting closed, ballots counted.
  EXPECT_EQ(all->quorum().meetings(), 4u);
  EXPECT_EQ(all->quorum().meetings_closed(), 4u);
  EXPECT_EQ(all->quorum().votes_held(), 4u);
  EXPECT_GT(all->quorum().ballots_counted(), 4u);
  EXPECT_EQ(all->quorum().ballots_acked(), all->quorum().ballots_counted());
  for (const auto& l : all->latencies()) {
    if (l.name() == "join_latency") {
      EXPECT_EQ(l.histogram().total_count(), 32u);
    }
  }

  // Speech: reported by the listeners, in the overall, cell-type and profile
  // groups alike (each interval once per group kind).
  const v1::VoiceStats& v = all->voice();
  std::printf(
      "voice: %llu intervals, %llu frames sent, %llu played, %llu late; "
      "mean mouth-to-ear %.1f ms, loss %.2f %%\n",
      static_cast<unsigned long long>(v.intervals()),
      static_cast<unsigned long long>(v.frames_sent()),
      static_cast<unsigned long long>(v.frames_played()),
      static_cast<unsigned long long>(v.frames_late()),
      metrics::voice_mouth_to_ear_ms(v).value_or(-1), metrics::voice_loss_percent(v).value_or(-1));
  EXPECT_GT(v.intervals(), 0u);
  EXPECT_EQ(v.intervals(), out.speech_intervals);
  EXPECT_GT(v.frames_played(), 0u);
  EXPECT_LE(v.frames_played() + v.frames_late(), v.frames_sent());
  EXPECT_GT(v.mos_milli().total_count(), 0u);
  const v1::Group* mixed = group(r, "cell_type", "mixed");
  ASSERT_NE(mixed, nullptr);
  EXPECT_EQ(mixed->voice().intervals(), v.intervals());
  const v1::Group* lan = group(r, "profile", "lan");
  const v1::Group* lossy = group(r, "profile", "lossy");
  ASSERT_NE(lan, nullptr);
  ASSERT_NE(lossy, nullptr);
  EXPECT_EQ(lan->voice().intervals() + lossy->voice().intervals(), v.intervals());
  EXPECT_EQ(lan->voice().frames_sent() + lossy->voice().frames_sent(), v.frames_sent());
  // The LAN's listeners hear sooner than the lossy link's.
  const auto lan_m2e = metrics::voice_mouth_to_ear_ms(lan->voice());
  const auto lossy_m2e = metrics::voice_mouth_to_ear_ms(lossy->voice());
  ASSERT_TRUE(lan_m2e && lossy_m2e);
  EXPECT_LT(*lan_m2e, *lossy_m2e);
  // At least packetisation, look-ahead and the jitter buffer (20 + 5 + 60 ms).
  EXPECT_GE(*lan_m2e, 85.0 * static_cast<double>(lan->voice().frames_played()) /
                          static_cast<double>(lan->voice().frames_sent()));

  // /metrics while it ran: the voice figures per listener profile.
  const auto series = metrics::values_by_series(run.text);
  const auto value = [&](const std::string& key) {
    const auto it = series.find(key);
    return it == series.end() ? -1.0 : it->second;
  };
  EXPECT_GT(value("cellsim_live_speech_intervals_total{profile=\"lan\"}"), 0) << run.scraped;
  const double played =
      value("cellsim_live_voice_frames_total{outcome=\"played\",profile=\"lan\"}");
  const double late = value("cellsim_live_voice_frames_total{outcome=\"late\",profile=\"lan\"}");
  const double lost = value("cellsim_live_voice_frames_total{outcome=\"lost\",profile=\"lan\"}");
  const double sent = value("cellsim_live_voice_frames_sent_total{profile=\"lan\"}");
  EXPECT_GT(played, 0) << run.scraped;
  EXPECT_GE(late, 0) << run.scraped;
  EXPECT_GE(lost, 0) << run.scraped;
  EXPECT_DOUBLE_EQ(played + late + lost, sent) << run.scraped;
  const double ratio = value("cellsim_live_voice_loss_ratio{profile=\"lan\"}");
  EXPECT_NEAR(ratio, (late + lost) / sent, 1e-9) << run.scraped;
  EXPECT_GT(value("cellsim_live_voice_mouth_to_ear_seconds{profile=\"lan\"}"), 0.08) << run.scraped;
  EXPECT_GE(value("cellsim_live_voice_mos{profile=\"lan\"}"), 1) << run.scraped;
  EXPECT_EQ(run.text.types.at("cellsim_live_voice_interval_mouth_to_ear_seconds"), "histogram");
  EXPECT_FALSE(metrics::histogram_buckets(
                   run.text, "cellsim_live_voice_interval_mouth_to_ear_seconds", "profile", "lan")
                   .empty())
      << run.scraped;
  EXPECT_FALSE(
      metrics::histogram_buckets(run.text, "cellsim_live_voice_interval_mos", "profile", "lan")
          .empty())
      << run.scraped;
}

TEST(LiveVoice, InBandVoiceIsMeteredRecordedAndExported) {
  const VoiceRun run = run_voice(v1::MEDIA_TRANSPORT_IN_BAND);
  expect_voice_recorded(run);
  EXPECT_EQ(run.out.results.run().media_transport(), "in_band");
  EXPECT_EQ(run.out.datagrams.polled, 0u);
  EXPECT_EQ(run.out.datagrams.agents.fallbacks, 0u);
}

// The datagram transport against the embedded cellmeetd's media port: binds
// and voice go up as UDP datagrams, the floor holder's voice comes back
// relayed and sealed per listener, and the agents accept all of it; no
// member fell back to in-band; listeners report speech as with in_band.
void expect_datagram_voice(const VoiceRun& run);

TEST(LiveVoice, DatagramVoiceFlowsAsUdpBesideTheSessions) {
  expect_datagram_voice(run_voice(v1::MEDIA_TRANSPORT_DATAGRAM));
}

// The same in packet mode: the members' UDP sockets in the agents' network
// namespace, every datagram through the packet emulator (which delivers a
// direction's packets in order: no reordering, and still no replay).
// Skipped unless this process may create namespaces and TUN devices.
TEST(LiveVoice, DatagramVoiceThroughThePacketEmulator) {
  LinkModeChoice choice;
  std::string why;
  if (!choose_link_mode(LinkMode::kPacket, &choice, &why)) GTEST_SKIP() << why;
  const VoiceRun run = run_voice(v1::MEDIA_TRANSPORT_DATAGRAM, LinkMode::kPacket);
  EXPECT_EQ(run.out.link_mode, LinkMode::kPacket);
  expect_datagram_voice(run);
}

void expect_datagram_voice(const VoiceRun& run) {
  expect_voice_recorded(run);
  const LoadOutcome& out = run.out;
  EXPECT_EQ(out.results.run().media_transport(), "datagram");
  const DatagramFigures& d = out.datagrams;
  std::printf(
      "datagrams: %llu polled, %llu sent, %llu received, %llu delivered, lost %llu up "
      "%llu down, %llu/%llu queue drops up/down, %llu send errors; agents: %llu accepted, %llu "
      "dropped, %llu fallbacks\n",
      static_cast<unsigned long long>(d.polled), static_cast<unsigned long long>(d.sent),
      static_cast<unsigned long long>(d.received), static_cast<unsigned long long>(d.delivered),
      static_cast<unsigned long long>(d.lost_up), static_cast<unsigned long long>(d.lost_down),
      static_cast<unsigned long long>(d.queue_drops_up),
      static_cast<unsigned long long>(d.queue_drops_down),
      static_cast<unsigned long long>(d.send_errors),
      static_cast<unsigned long long>(d.agents.accepted),
      static_cast<unsigned long long>(d.agents.dropped()),
      static_cast<unsigned long long>(d.agents.fallbacks));
  EXPECT_EQ(d.fallback_members, 0u);
  EXPECT_EQ(d.agents.fallbacks, 0u);
  EXPECT_GT(d.agents.binds_sent, 64u);  // per Welcome, join and heartbeat
  EXPECT_GT(d.sent, d.agents.binds_sent);
  EXPECT_EQ(d.polled, d.agents.sent - d.agents.dropped_queue);
  EXPECT_EQ(d.polled, d.sent + d.lost_up + d.queue_drops_up + d.send_errors + d.pending_up);
  EXPECT_GT(d.received, 0u);
  EXPECT_EQ(d.received, d.delivered + d.lost_down + d.queue_drops_down + d.pending_down);
  EXPECT_EQ(d.agents.received, d.delivered);
  EXPECT_EQ(d.agents.received, d.agents.accepted + d.agents.dropped());
  // Nothing forged, stale or replayed on this path (the link model reorders
  // by a few frames, well within the replay window): a replay here would be
  // the driver handing one datagram twice.
  EXPECT_EQ(d.agents.dropped(), 0u);
  EXPECT_GT(d.agents.accepted, 0u);
  EXPECT_EQ(d.send_errors, 0u);
  // Voice went as datagrams, not on the sessions.
  const v1::TrafficStats& t = group(out.results, "overall", "")->traffic();
  EXPECT_GT(t.media_frames_sent(), 0u);
  EXPECT_LE(t.media_frames_sent(), d.agents.sent - d.agents.binds_sent);
}

}  // namespace
}  // namespace cellsim::live
