// The loader's semantic checks: one test per kind of mistake, each feeding a
// small snippet and checking the file, line, column and field path of the
// error and that its message names the field and the problem. Columns were
// counted off the snippets independently of the loader.
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/scenario/snippet.h"

namespace cellsim::scenario::testing {
namespace {

using ::testing::HasSubstr;

// ---------------------------------------------------------------------------
// Range rules on single fields, table-driven: each row is one test.

struct RangeCase {
  const char* name;
  std::string text;
  int line;
  int column;
  const char* field;
  const char* problem;  // a substring of the message
};

void PrintTo(const RangeCase& c, std::ostream* os) { *os << c.name; }

class RangeTest : public ::testing::TestWithParam<RangeCase> {};

// Each row's mistake is reported once, at its field, naming field and problem.
TEST_P(RangeTest, ReportsTheFieldAndTheProblem) {
  const RangeCase& c = GetParam();
  const LoadError e = only_error(c.text);
  expect_at(e, c.line, c.column, c.field);
  EXPECT_THAT(e.message, HasSubstr(c.problem));
}

std::string cell_line5(std::string_view line5) {
  return text_of({kDuration, kProfile, kAgenda, kCellOpen, line5});
}

constexpr std::string_view kProfileQOpen =
    R"(profiles { name: "q" bandwidth_down_kbps: 1 bandwidth_up_kbps: 1)";
constexpr std::string_view kVoteOpen =
    R"(agendas { name: "v" items { title: "t" votes { vote_id: 1 kind: VOTE_KIND_RESOLUTION)";

std::vector<RangeCase> probability_cases() {
  return {
      // A cell type's attendance probability above 1.
      {"AttendProbability", cell_line5("  attend_probability: 1.5 }"), 5, 3,
       "cell_types[0].attend_probability",
       "attend_probability must be a probability in [0, 1], got 1.5"},
      // A negative attendance probability for exempted members.
      {"ExemptedAttendProbability", cell_line5("  exempted_attend_probability: -0.1 }"), 5, 3,
       "cell_types[0].exempted_attend_probability", "must be a probability in [0, 1], got -0.1"},
      // An excuse probability of 2.
      {"ExcusedProbability", cell_line5("  excused_probability: 2 }"), 5, 3,
       "cell_types[0].excused_probability", "excused_probability must be a probability"},
      // A crash probability just above 1.
      {"CrashProbability", cell_line5("  crash_probability: 1.01 }"), 5, 3,
       "cell_types[0].crash_probability", "got 1.01"},
      // A vote's yes probability above 1.
      {"YesProbability", base_plus({kVoteOpen, "  yes_probability: 1.2 } } }"}), 6, 3,
       "agendas[1].items[0].votes[0].yes_probability", "yes_probability must be a probability"},
      // A negative no probability.
      {"NoProbability", base_plus({kVoteOpen, "  no_probability: -0.5 } } }"}), 6, 3,
       "agendas[1].items[0].votes[0].no_probability", "no_probability must be a probability"},
      // A Gilbert-Elliott transition probability above 1.
      {"LossTransition", base_plus({kProfileQOpen, "  loss { p_good_to_bad: 0.1 p_bad_to_good: 1.5 } }"}),
       6, 29, "profiles[1].loss.p_bad_to_good", "p_bad_to_good must be a probability"},
      // A loss probability in the bad state above 1.
      {"LossBad", base_plus({kProfileQOpen, "  loss { loss_bad: 1.1 } }"}), 6, 10,
       "profiles[1].loss.loss_bad", "loss_bad must be a probability"},
      // A link share above 1 (the sum check stays quiet about it).
      {"LinkShare",
       text_of({kDuration, kProfile, kAgenda,
                R"(cell_types { name: "c" count: 1 members { official: 3 } agenda: "a")",
                R"(  links { profile: "p" share: 1.5 } })"}),
       5, 24, "cell_types[0].links[0].share", "share must be a probability in [0, 1], got 1.5"},
      // An outage event's share above 1.
      {"OutageShare", base_plus({"outage_events { at_min: 1 duration_s: 5 share: 1.5 }"}), 5, 41,
       "outage_events[0].share", "share must be a probability"},
      // Reconnect jitter above 1.
      {"ReconnectJitter", base_plus({"reconnect { jitter: 1.5 }"}), 5, 13, "reconnect.jitter",
       "jitter must be a probability in [0, 1], got 1.5"},
      // A quorum SLO's attainment above 1.
      {"QuorumAttainment", base_plus({"quorum_slos { min_attainment: 1.2 }"}), 5, 15,
       "quorum_slos[0].min_attainment", "min_attainment must be a probability"},
  };
}
std::vector<RangeCase> voice_cases() {
  return {
      // An equipment impairment beyond the E-model's scale.
      {"CodecIe", base_plus({"media { voice { codec_ie: 120 } }"}), 5, 17, "media.voice.codec_ie",
       "codec_ie 120 is outside [0, 95]"},
      // A loss robustness factor above 100.
      {"CodecBpl", base_plus({"media { voice { codec_bpl: 300 } }"}), 5, 17,
       "media.voice.codec_bpl", "codec_bpl 300 is outside"},
      // A jitter buffer of a minute.
      {"JitterBuffer", base_plus({"media { voice { jitter_buffer_ms: 60000 } }"}), 5, 17,
       "media.voice.jitter_buffer_ms", "jitter_buffer_ms 60000 is outside [0, 10000]"},
      // A MOS threshold off the MOS scale.
      {"MosThreshold", base_plus({"media { voice { mos_threshold: 5 } }"}), 5, 17,
       "media.voice.mos_threshold", "mos_threshold 5 is outside [1, 4.5]"},
      // A target share above 1.
      {"MinShare", base_plus({"media { voice { min_share: 1.5 } }"}), 5, 17,
       "media.voice.min_share", "min_share 1.5 is outside [0, 1]"},
      // A voice frame too big for one datagram.
      {"DatagramFrame",
       base_plus({"media { bitrate_kbps: 1000 frame_ms: 20 transport: MEDIA_TRANSPORT_DATAGRAM }"}),
       5, 41, "media.transport", "more than a voice datagram carries"},
  };
}
INSTANTIATE_TEST_SUITE_P(Voice, RangeTest, ::testing::ValuesIn(voice_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

INSTANTIATE_TEST_SUITE_P(Probability, RangeTest, ::testing::ValuesIn(probability_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

std::vector<RangeCase> duration_cases() {
  return {
      // A negative one-way delay.
      {"BaseOneWay", base_plus({kProfileQOpen, "  base_one_way_ms: -5 }"}), 6, 3,
       "profiles[1].base_one_way_ms", "base_one_way_ms must be >= 0, got -5"},
      // A negative minimum RTO.
      {"RtoMin", base_plus({kProfileQOpen, "  rto_min_ms: -1 }"}), 6, 3, "profiles[1].rto_min_ms",
       "rto_min_ms must be >= 0"},
      // A negative initial backoff.
      {"InitialBackoff", base_plus({"reconnect { initial_backoff_ms: -1 }"}), 5, 13,
       "reconnect.initial_backoff_ms", "initial_backoff_ms must be >= 0"},
      // A negative open deadline for the chair.
      {"OpenDeadline", base_plus({"chair { open_deadline_min: -1 }"}), 5, 9,
       "chair.open_deadline_min", "open_deadline_min must be >= 0"},
      // A negative wait for quorum.
      {"WaitForQuorum", base_plus({"chair { wait_for_quorum_min: -2 }"}), 5, 9,
       "chair.wait_for_quorum_min", "wait_for_quorum_min must be >= 0, got -2"},
      // A negative quorum deadline.
      {"QuorumDeadline", base_plus({"quorum_deadline_min: -1"}), 5, 1, "quorum_deadline_min",
       "quorum_deadline_min must be >= 0"},
      // A negative agenda item duration.
      {"ItemDuration", base_plus({R"(agendas { name: "v" items { title: "t")", "  duration_min: -5 } }"}),
       6, 3, "agendas[1].items[0].duration_min", "duration_min must be >= 0, got -5"},
      // A negative start window.
      {"StartWindow", cell_line5("  start_window_min: -1 }"), 5, 3,
       "cell_types[0].start_window_min", "start_window_min must be >= 0"},
      // A negative start offset.
      {"StartOffset", cell_line5("  start_offset_min: -1 }"), 5, 3,
       "cell_types[0].start_offset_min", "start_offset_min must be >= 0"},
      // An outage event before the start of the run.
      {"OutageAt", base_plus({"outage_events { duration_s: 5 at_min: -1 }"}), 5, 31,
       "outage_events[0].at_min", "at_min must be >= 0"},
      // A negative outage duration.
      {"OutageDurationNegative", base_plus({"outage_events { duration_s: -3 }"}), 5, 17,
       "outage_events[0].duration_s", "duration_s must be > 0, got -3"},
      // An outage of zero seconds, written out.
      {"OutageDurationZero", base_plus({"outage_events { duration_s: 0 }"}), 5, 17,
       "outage_events[0].duration_s", "duration_s must be > 0, got 0"},
      // An outage with no duration: reported at the event.
      {"OutageDurationMissing", base_plus({R"(outage_events { name: "o" })"}), 5, 1,
       "outage_events[0].duration_s", "duration_s is missing; it must be > 0"},
      // A negative mean up time of an outage process.
      {"MeanUp", base_plus({kProfileQOpen, "  outages { mean_up_s: -60 } }"}), 6, 13,
       "profiles[1].outages.mean_up_s", "mean_up_s must be >= 0"},
      // A vote kept open for a negative time.
      {"VoteOpen", base_plus({kVoteOpen, "  open_s: -1 } } }"}), 6, 3,
       "agendas[1].items[0].votes[0].open_s", "open_s must be > 0, got -1"},
      // An SLO bound below zero.
      {"SloMax", base_plus({R"(slos { metric: "join_latency" quantile: 0.99 max_ms: -1 })"}), 5, 46,
       "slos[0].max_ms", "max_ms must be > 0, got -1"},
      // A start time before 1970.
      {"StartUnix", base_plus({"start_unix_s: -1"}), 5, 1, "start_unix_s",
       "start_unix_s must be >= 0"},
      // A profile without a downstream bandwidth.
      {"BandwidthMissing", base_plus({R"(profiles { name: "q" bandwidth_up_kbps: 1 })"}), 5, 1,
       "profiles[1].bandwidth_down_kbps", "bandwidth_down_kbps is missing; it must be >= 1"},
  };
}
INSTANTIATE_TEST_SUITE_P(NonNegative, RangeTest, ::testing::ValuesIn(duration_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

std::vector<RangeCase> distribution_cases() {
  constexpr std::string_view kEmpiricalOpen = "  join_offset_min { empirical {";
  return {
      // A negative constant.
      {"ConstantNegative", cell_line5("  join_offset_min { constant { value: -1 } } }"), 5, 32,
       "cell_types[0].join_offset_min.constant.value", "value must be >= 0, got -1"},
      // Uniform with max below min.
      {"UniformMaxBelowMin", cell_line5("  join_offset_min { uniform { min: 5 max: 2 } } }"), 5, 38,
       "cell_types[0].join_offset_min.uniform.max", "max 2 is below min 5"},
      // Normal with a negative standard deviation.
      {"NormalStddev", cell_line5("  join_offset_min { normal { mean: 1 stddev: -1 } } }"), 5, 38,
       "cell_types[0].join_offset_min.normal.stddev", "stddev must be >= 0, got -1"},
      // LogNormal with a negative sigma.
      {"LogNormalSigma", cell_line5("  join_offset_min { lognormal { median: 1 sigma: -0.5 } } }"), 5,
       43, "cell_types[0].join_offset_min.lognormal.sigma", "sigma must be >= 0, got -0.5"},
      // LogNormal with a zero median, written out.
      {"LogNormalMedianZero", cell_line5("  join_offset_min { lognormal { median: 0 sigma: 1 } } }"),
       5, 33, "cell_types[0].join_offset_min.lognormal.median", "median must be > 0, got 0"},
      // LogNormal with no median: reported at the lognormal.
      {"LogNormalMedianMissing", cell_line5("  join_offset_min { lognormal { sigma: 1 } } }"), 5, 21,
       "cell_types[0].join_offset_min.lognormal.median", "median is missing; it must be > 0"},
      // Exponential with a zero mean.
      {"ExponentialMean", cell_line5("  join_offset_min { exponential { mean: 0 } } }"), 5, 35,
       "cell_types[0].join_offset_min.exponential.mean", "mean must be > 0, got 0"},
      // Pareto with a negative scale.
      {"ParetoScale", cell_line5("  join_offset_min { pareto { scale: -1 shape: 2 } } }"), 5, 30,
       "cell_types[0].join_offset_min.pareto.scale", "scale must be > 0, got -1"},
      // Pareto with a zero shape.
      {"ParetoShape", cell_line5("  join_offset_min { pareto { scale: 1 shape: 0 } } }"), 5, 39,
       "cell_types[0].join_offset_min.pareto.shape", "shape must be > 0, got 0"},
      // Empirical whose first quantile is not 0.
      {"EmpiricalFirstQuantile",
       text_of({kDuration, kProfile, kAgenda, kCellOpen, kEmpiricalOpen,
                "    points { quantile: 0.1 value: 1 }", "    points { quantile: 1 value: 2 } } } }"}),
       6, 14, "cell_types[0].join_offset_min.empirical.points[0].quantile",
       "the first quantile must be 0, got 0.1"},
      // Empirical whose last quantile is not 1.
      {"EmpiricalLastQuantile",
       text_of({kDuration, kProfile, kAgenda, kCellOpen, kEmpiricalOpen,
                "    points { quantile: 0 value: 1 }", "    points { quantile: 0.9 value: 2 } } } }"}),
       7, 14, "cell_types[0].join_offset_min.empirical.points[1].quantile",
       "the last quantile must be 1, got 0.9"},
      // Empirical quantiles that repeat.
      {"EmpiricalNotIncreasing",
       text_of({kDuration, kProfile, kAgenda, kCellOpen, kEmpiricalOpen,
                "    points { quantile: 0 value: 1 }", "    points { quantile: 0.5 value: 2 }",
                "    points { quantile: 0.5 value: 3 }", "    points { quantile: 1 value: 4 } } } }"}),
       8, 14, "cell_types[0].join_offset_min.empirical.points[2].quantile",
       "quantile 0.5 must be above the previous one, 0.5"},
      // Empirical values that decrease.
      {"EmpiricalValueDecreasing",
       text_of({kDuration, kProfile, kAgenda, kCellOpen, kEmpiricalOpen,
                "    points { quantile: 0 value: 5 }", "    points { quantile: 1 value: 2 } } } }"}),
       7, 26, "cell_types[0].join_offset_min.empirical.points[1].value",
       "value 2 is below the previous one, 5"},
      // Empirical with one point.
      {"EmpiricalTooFewPoints",
       cell_line5("  join_offset_min { empirical { points { quantile: 0 value: 1 } } } }"), 5, 21,
       "cell_types[0].join_offset_min.empirical", "at least 2 points"},
      // An empty distribution: `{}` names none.
      {"EmptyDistribution", cell_line5("  join_offset_min { } }"), 5, 3,
       "cell_types[0].join_offset_min", "join_offset_min names no distribution"},
      // Outages with no down time.
      {"OutageDownMissing", base_plus({kProfileQOpen, "  outages { mean_up_s: 60 } }"}), 6, 3,
       "profiles[1].outages.down_s", "down_s is missing"},
      // The checks apply inside every distribution: a profile's jitter.
      {"JitterNormalMean", base_plus({kProfileQOpen, "  jitter_ms { normal { mean: -1 stddev: 1 } } }"}),
       6, 24, "profiles[1].jitter_ms.normal.mean", "mean must be >= 0, got -1"},
      // ... and an outage process's down time.
      {"OutageDownExponential",
       base_plus({kProfileQOpen, "  outages { mean_up_s: 60 down_s { exponential { mean: -5 } } } }"}),
       6, 50, "profiles[1].outages.down_s.exponential.mean", "mean must be > 0, got -5"},
  };
}
INSTANTIATE_TEST_SUITE_P(Distribution, RangeTest, ::testing::ValuesIn(distribution_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

std::vector<RangeCase> settings_cases() {
  return {
      // A quorum fraction above 1.
      {"QuorumAboveOne", base_plus({"rules { quorum_fraction: 1.5 }"}), 5, 9,
       "rules.quorum_fraction", "quorum_fraction must be in (0, 1], got 1.5"},
      // A quorum fraction of 0, written out (left out, it defaults to 2/3).
      {"QuorumZero", base_plus({"rules { quorum_fraction: 0 }"}), 5, 9, "rules.quorum_fraction",
       "quorum_fraction must be in (0, 1], got 0"},
      // A negative quorum fraction.
      {"QuorumNegative", base_plus({"rules { quorum_fraction: -0.5 }"}), 5, 9,
       "rules.quorum_fraction", "got -0.5"},
      // Zero server nodes.
      {"ZeroNodes", base_plus({"server { nodes: 0 }"}), 5, 10, "server.nodes",
       "nodes must be >= 1, got 0"},
      // Zero cores per node.
      {"ZeroCores", base_plus({"server { cores_per_node: 0 }"}), 5, 10, "server.cores_per_node",
       "cores_per_node must be >= 1, got 0"},
      // A NIC of zero bandwidth.
      {"ZeroNic", base_plus({"server { nic_egress_mbps: 0 }"}), 5, 10, "server.nic_egress_mbps",
       "nic_egress_mbps must be >= 1"},
      // A heartbeat interval of zero.
      {"HeartbeatZero", base_plus({"rules { heartbeat_interval_ms: 0 }"}), 5, 9,
       "rules.heartbeat_interval_ms", "heartbeat_interval_ms must be >= 1, got 0"},
      // Zero missed heartbeats.
      {"MissedHeartbeatsZero", base_plus({"rules { missed_heartbeats: 0 }"}), 5, 9,
       "rules.missed_heartbeats", "missed_heartbeats must be >= 1"},
      // A backoff that shrinks.
      {"MultiplierBelowOne", base_plus({"reconnect { multiplier: 0.5 }"}), 5, 13,
       "reconnect.multiplier", "multiplier must be >= 1, got 0.5"},
      // A backoff cap below the first backoff.
      {"MaxBackoffBelowInitial", base_plus({"reconnect { initial_backoff_ms: 1000 max_backoff_ms: 10 }"}),
       5, 38, "reconnect.max_backoff_ms", "max_backoff_ms 10 is below initial_backoff_ms 1000"},
      // Media with a bitrate but zero-length frames.
      {"MediaFrameZero", base_plus({"media { bitrate_kbps: 24 frame_ms: 0 }"}), 5, 26,
       "media.frame_ms", "frame_ms must be >= 1 when bitrate_kbps > 0"},
      // An SLO quantile of 0.
      {"SloQuantileZero", base_plus({R"(slos { metric: "join_latency" quantile: 0 max_ms: 5 })"}), 5, 31,
       "slos[0].quantile", "quantile must be in (0, 1], got 0"},
      // An SLO quantile above 1 (99 meant as a percentile).
      {"SloQuantileAboveOne", base_plus({R"(slos { metric: "join_latency" quantile: 99 max_ms: 5 })"}),
       5, 31, "slos[0].quantile", "quantile must be in (0, 1], got 99"},
      // Not a number.
      {"NotFinite", base_plus({"quorum_deadline_min: nan"}), 5, 1, "quorum_deadline_min",
       "quorum_deadline_min must be a finite number, got nan"},
      // Infinity.
      {"Infinite", base_plus({"chair { open_deadline_min: inf }"}), 5, 9, "chair.open_deadline_min",
       "must be a finite number, got inf"},
      // A meeting scheduled to start after the run ends.
      {"StartAfterEnd", cell_line5("  start_offset_min: 10 }"), 5, 3,
       "cell_types[0].start_offset_min", "not before the end of the run (duration_min 10)"},
      // An outage scheduled after the run ends.
      {"OutageAfterEnd", base_plus({"outage_events { duration_s: 5 at_min: 12 }"}), 5, 31,
       "outage_events[0].at_min", "the outage would never happen"},
  };
}
INSTANTIATE_TEST_SUITE_P(Settings, RangeTest, ::testing::ValuesIn(settings_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

// ---------------------------------------------------------------------------
// Durations of the run.

// A scenario without duration_min: reported at the top of the file.
TEST(Duration, Missing) {
  const LoadError e = only_error(text_of({kProfile, kAgenda, kCell}));
  expect_at(e, 1, 1, "duration_min");
  EXPECT_THAT(e.message, HasSubstr("duration_min is missing; it must be > 0"));
}

// A run of zero minutes.
TEST(Duration, Zero) {
  const LoadError e = only_error(text_of({"duration_min: 0", kProfile, kAgenda, kCell}));
  expect_at(e, 1, 1, "duration_min");
  EXPECT_THAT(e.message, HasSubstr("duration_min must be > 0, got 0"));
}

// A run of negative length.
TEST(Duration, Negative) {
  const LoadError e = only_error(text_of({kProfile, kAgenda, kCell, "duration_min: -150"}));
  expect_at(e, 4, 1, "duration_min");
  EXPECT_THAT(e.message, HasSubstr("got -150"));
}

// ---------------------------------------------------------------------------
// Cells and their members.

// count: 0 written out.
TEST(Cells, CountZero) {
  const LoadError e = only_error(text_of({kDuration, kProfile, kAgenda,
      R"(cell_types { name: "c" count: 0 members { official: 3 } links { profile: "p" share: 1 } agenda: "a" })"}));
  expect_at(e, 4, 24, "cell_types[0].count");
  EXPECT_THAT(e.message, HasSubstr("count must be >= 1, got 0"));
}

// No count at all: reported at the cell type.
TEST(Cells, CountMissing) {
  const LoadError e = only_error(text_of({kDuration, kProfile, kAgenda,
      R"(cell_types { name: "c" members { official: 3 } links { profile: "p" share: 1 } agenda: "a" })"}));
  expect_at(e, 4, 1, "cell_types[0].count");
  EXPECT_THAT(e.message, HasSubstr("count is missing; it must be >= 1"));
}

// Two official members are too few (RULES.md: at least 3).
TEST(Cells, FewerThanThreeOfficial) {
  const LoadError e = only_error(text_of({kDuration, kProfile, kAgenda,
      R"(cell_types { name: "c" count: 1 members { official: 2 probationary: 5 } links { profile: "p" share: 1 } agenda: "a" })"}));
  expect_at(e, 4, 43, "cell_types[0].members.official");
  EXPECT_THAT(e.message, HasSubstr("official is 2; a cell has at least 3 official members"));
}

// A cell type with no members at all.
TEST(Cells, NoMembers) {
  const LoadError e = only_error(text_of({kDuration, kProfile, kAgenda,
      R"(cell_types { name: "c" count: 1 links { profile: "p" share: 1 } agenda: "a" })"}));
  expect_at(e, 4, 1, "cell_types[0].members");
  EXPECT_THAT(e.message, HasSubstr("cell type \"c\" has no members"));
}

// A cell type whose members are on no network.
TEST(Cells, NoLinks) {
  const LoadError e = only_error(text_of({kDuration, kProfile, kAgenda,
      R"(cell_types { name: "c" count: 1 members { official: 3 } agenda: "a" })"}));
  expect_at(e, 4, 1, "cell_types[0].links");
  EXPECT_THAT(e.message, HasSubstr("links is empty"));
}

// Link shares of 0.5 + 0.4: reported at the first link.
TEST(Cells, SharesNotSummingToOne) {
  const LoadError e = only_error(text_of({kDuration, kProfile, kAgenda,
      R"(cell_types { name: "c" count: 1 members { official: 3 } agenda: "a")",
      R"(  links { profile: "p" share: 0.5 })", R"(  links { profile: "p" share: 0.4 } })"}));
  expect_at(e, 5, 3, "cell_types[0].links");
  EXPECT_THAT(e.message, HasSubstr("link shares sum to 0.9; they must sum to 1"));
}

// Thirds written to 7 digits sum to 1 within the 1e-6 tolerance.
TEST(Cells, SharesWithinTolerance) {
  EXPECT_THAT(errors_of(text_of({kDuration, kProfile, kAgenda,
                  R"(cell_types { name: "c" count: 1 members { official: 3 } agenda: "a")",
                  R"(  links { profile: "p" share: 0.3333333 } links { profile: "p" share: 0.3333333 })",
                  R"(  links { profile: "p" share: 0.3333334 } })"})),
              ::testing::IsEmpty());
}

// ---------------------------------------------------------------------------
// Names: defined once, and every reference defined.

// A link to a profile nobody defined points at its "profile" field.
TEST(Names, UnknownProfileInLinks) {
  const LoadError e = only_error(text_of({kDuration, kProfile, kAgenda,
      R"(cell_types { name: "c" count: 1 members { official: 3 } agenda: "a")",
      R"(  links { profile: "vsat-geo" share: 1 } })"}));
  expect_at(e, 5, 11, "cell_types[0].links[0].profile");
  EXPECT_THAT(e.message, HasSubstr("unknown profile \"vsat-geo\""));
}

// A near miss gets a suggestion.
TEST(Names, UnknownNameSuggestsNearMiss) {
  const LoadError e = only_error(text_of({kDuration,
      R"(profiles { name: "urban-fibre" bandwidth_down_kbps: 1 bandwidth_up_kbps: 1 })", kAgenda,
      R"(cell_types { name: "c" count: 1 members { official: 3 } agenda: "a")",
      R"(  links { profile: "urban-fiber" share: 1 } })"}));
  expect_at(e, 5, 11, "cell_types[0].links[0].profile");
  EXPECT_THAT(e.message, HasSubstr("unknown profile \"urban-fiber\"; did you mean \"urban-fibre\"?"));
}

// An outage naming an unknown profile, in list syntax: the element's position.
TEST(Names, UnknownProfileInOutageList) {
  const LoadError e = only_error(base_plus({R"(outage_events { duration_s: 5 profiles: ["p", "q"] })"}));
  expect_at(e, 5, 47, "outage_events[0].profiles[1]");
  EXPECT_THAT(e.message, HasSubstr("unknown profile \"q\""));
}

// An outage naming an unknown cell type.
TEST(Names, UnknownCellTypeInOutage) {
  const LoadError e = only_error(base_plus({R"(outage_events { duration_s: 5 cell_types: "island" })"}));
  expect_at(e, 5, 31, "outage_events[0].cell_types[0]");
  EXPECT_THAT(e.message, HasSubstr("unknown cell type \"island\""));
}

// An SLO on an unknown cell type.
TEST(Names, UnknownCellTypeInSlo) {
  const LoadError e = only_error(
      base_plus({R"(slos { metric: "join_latency" quantile: 0.99 max_ms: 5 cell_type: "x" })"}));
  expect_at(e, 5, 56, "slos[0].cell_type");
  EXPECT_THAT(e.message, HasSubstr("unknown cell type \"x\""));
}

// A quorum SLO on an unknown cell type.
TEST(Names, UnknownCellTypeInQuorumSlo) {
  const LoadError e = only_error(base_plus({R"(quorum_slos { min_attainment: 0.9 cell_type: "x" })"}));
  expect_at(e, 5, 35, "quorum_slos[0].cell_type");
  EXPECT_THAT(e.message, HasSubstr("unknown cell type \"x\""));
}

// A cell type naming an unknown agenda.
TEST(Names, UnknownAgenda) {
  const LoadError e = only_error(text_of({kDuration, kProfile, kAgenda,
      R"(cell_types { name: "c" count: 1 members { official: 3 } links { profile: "p" share: 1 } agenda: "monthly" })"}));
  expect_at(e, 4, 89, "cell_types[0].agenda");
  EXPECT_THAT(e.message, HasSubstr("unknown agenda \"monthly\""));
}

// A cell type naming no agenda.
TEST(Names, MissingAgenda) {
  const LoadError e = only_error(text_of({kDuration, kProfile, kAgenda,
      R"(cell_types { name: "c" count: 1 members { official: 3 } links { profile: "p" share: 1 } })"}));
  expect_at(e, 4, 1, "cell_types[0].agenda");
  EXPECT_THAT(e.message, HasSubstr("agenda is missing"));
}

// Two profiles of one name: the second is reported, pointing at the first.
TEST(Names, DuplicateProfile) {
  const LoadError e = only_error(base_plus({kProfile}));
  expect_at(e, 5, 12, "profiles[1].name");
  EXPECT_THAT(e.message, HasSubstr("duplicate profile name \"p\" (first: profiles[0], line 2)"));
}

// Two agendas of one name.
TEST(Names, DuplicateAgenda) {
  const LoadError e = only_error(base_plus({kAgenda}));
  expect_at(e, 5, 11, "agendas[1].name");
  EXPECT_THAT(e.message, HasSubstr("duplicate agenda name \"a\" (first: agendas[0], line 3)"));
}

// Two cell types of one name.
TEST(Names, DuplicateCellType) {
  const LoadError e = only_error(base_plus({kCell}));
  expect_at(e, 5, 14, "cell_types[1].name");
  EXPECT_THAT(e.message, HasSubstr("duplicate cell type name \"c\" (first: cell_types[0], line 4)"));
}

// An agenda without a name.
TEST(Names, MissingName) {
  const LoadError e = only_error(base_plus({R"(agendas { items { title: "t" } })"}));
  expect_at(e, 5, 1, "agendas[1].name");
  EXPECT_THAT(e.message, HasSubstr("name is missing; every agenda needs one"));
}

// ---------------------------------------------------------------------------
// SLOs.

// A misspelt metric name.
TEST(Slos, UnknownMetric) {
  const LoadError e =
      only_error(base_plus({R"(slos { metric: "join_latncy" quantile: 0.99 max_ms: 5 })"}));
  expect_at(e, 5, 8, "slos[0].metric");
  EXPECT_THAT(e.message, HasSubstr("unknown metric \"join_latncy\"; use one of join_latency,"));
}

// An SLO without a metric: reported at the SLO.
TEST(Slos, MissingMetric) {
  const LoadError e = only_error(base_plus({"slos { quantile: 0.99 max_ms: 5 }"}));
  expect_at(e, 5, 1, "slos[0].metric");
  EXPECT_THAT(e.message, HasSubstr("metric is missing"));
}

// ---------------------------------------------------------------------------
// Votes.

// A vote without a kind: reported at the vote.
TEST(Votes, KindMissing) {
  const LoadError e =
      only_error(base_plus({R"(agendas { name: "v" items { title: "t" votes { vote_id: 1 } } })"}));
  expect_at(e, 5, 40, "agendas[1].items[0].votes[0].kind");
  EXPECT_THAT(e.message, HasSubstr("kind is missing; use one of VOTE_KIND_RESOLUTION"));
}

// VOTE_KIND_UNSPECIFIED written out.
TEST(Votes, KindUnspecified) {
  const LoadError e = only_error(base_plus(
      {R"(agendas { name: "v" items { title: "t" votes { vote_id: 1 kind: VOTE_KIND_UNSPECIFIED } } })"}));
  expect_at(e, 5, 59, "agendas[1].items[0].votes[0].kind");
  EXPECT_THAT(e.message, HasSubstr("kind is missing"));
}

// A kind given as a number that is no VoteKind (proto3 enums accept it).
TEST(Votes, KindUnknownNumber) {
  const LoadError e = only_error(
      base_plus({R"(agendas { name: "v" items { title: "t" votes { vote_id: 1 kind: 17 } } })"}));
  expect_at(e, 5, 59, "agendas[1].items[0].votes[0].kind");
  EXPECT_THAT(e.message, HasSubstr("kind 17 is not a cellsim.v1.VoteKind value"));
}

// A vote without an id (the engine refuses id 0).
TEST(Votes, IdMissing) {
  const LoadError e = only_error(base_plus(
      {R"(agendas { name: "v" items { title: "t" votes { kind: VOTE_KIND_RESOLUTION } } })"}));
  expect_at(e, 5, 40, "agendas[1].items[0].votes[0].vote_id");
  EXPECT_THAT(e.message, HasSubstr("vote_id is missing; it must be >= 1"));
}

// The same vote id twice in one agenda, across items.
TEST(Votes, DuplicateIds) {
  const LoadError e = only_error(base_plus({R"(agendas { name: "v")",
      R"(  items { title: "t1" votes { vote_id: 7 kind: VOTE_KIND_RESOLUTION } })",
      R"(  items { title: "t2" votes { vote_id: 7 kind: VOTE_KIND_ELECTION } } })"}));
  expect_at(e, 7, 31, "agendas[1].items[1].votes[0].vote_id");
  EXPECT_THAT(e.message,
              HasSubstr("duplicate vote_id 7 in agenda \"v\" (first: agendas[1].items[0].votes[0])"));
}

// Yes and no probabilities that together exceed 1.
TEST(Votes, YesPlusNoAboveOne) {
  const LoadError e = only_error(base_plus({kVoteOpen, "  yes_probability: 0.7 no_probability: 0.4 } } }"}));
  expect_at(e, 6, 24, "agendas[1].items[0].votes[0].no_probability");
  EXPECT_THAT(e.message, HasSubstr("yes_probability + no_probability is 1.1; it must be <= 1"));
}

// An agenda with no items.
TEST(Votes, AgendaWithoutItems) {
  const LoadError e = only_error(base_plus({R"(agendas { name: "v" })"}));
  expect_at(e, 5, 1, "agendas[1].items");
  EXPECT_THAT(e.message, HasSubstr("agenda \"v\" has no items"));
}

}  // namespace
}  // namespace cellsim::scenario::testing
