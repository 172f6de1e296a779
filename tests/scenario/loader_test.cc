// The loader's syntax errors, positions, defaults, the quorum rational, file
// handling and LoadError formatting.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/scenario/snippet.h"

namespace cellsim::scenario::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

// ---------------------------------------------------------------------------
// Syntax errors: the parser's, with field paths and corrected positions.

// A value of the wrong type: the position of the value, the field it is for.
TEST(Syntax, BadValue) {
  const LoadError e =
      only_error(text_of({kDuration, R"(profiles { name: "p" bandwidth_down_kbps: lots })"}));
  expect_at(e, 2, 43, "profiles[0].bandwidth_down_kbps");
  EXPECT_THAT(e.message, HasSubstr("Expected integer, got: lots"));
}

// An unknown field: at its name (the parser says the token after), with a suggestion.
TEST(Syntax, UnknownField) {
  const LoadError e = only_error(text_of({kDuration, "cell_types {", "  cont: 3", "}"}));
  expect_at(e, 3, 3, "cell_types[0].cont");
  EXPECT_THAT(e.message,
              HasSubstr("unknown field \"cont\" in cellsim.v1.CellType; did you mean \"count\"?"));
}

// An unknown enum value: at the value, listing the valid ones.
TEST(Syntax, UnknownEnumValue) {
  const LoadError e = only_error(text_of({kDuration,
      R"(agendas { name: "a" items { title: "t" votes {)", "  kind: VOTE_KIND_ELECTON } } }"}));
  expect_at(e, 3, 9, "agendas[0].items[0].votes[0].kind");
  EXPECT_THAT(e.message, HasSubstr("unknown enum value \"VOTE_KIND_ELECTON\" for kind"));
  EXPECT_THAT(e.message, HasSubstr("VOTE_KIND_ELECTION"));
}

// A singular field written twice: at the second one.
TEST(Syntax, FieldTwice) {
  const LoadError e = only_error(text_of({kDuration, "duration_min: 20"}));
  expect_at(e, 2, 1, "duration_min");
  EXPECT_THAT(e.message, HasSubstr("\"duration_min\" is specified multiple times"));
}

// A brace left open: the end of the file, in the message left open.
TEST(Syntax, UnclosedBrace) {
  const LoadError e = only_error(text_of({kDuration, "cell_types {", "  count: 3"}));
  expect_at(e, 4, 1, "cell_types[0]");
  EXPECT_THAT(e.message, HasSubstr("the end of the file"));
}

// A negative number for an unsigned field says so.
TEST(Syntax, NegativeUnsigned) {
  const LoadError e = only_error(text_of({kDuration, "cell_types { count: -1 }"}));
  expect_at(e, 2, 21, "cell_types[0].count");
  EXPECT_THAT(e.message, HasSubstr("count is unsigned and cannot be negative"));
}

// A syntax error stops parsing: the later one is not reported.
TEST(Syntax, StopsAtTheFirst) {
  const std::vector<LoadError> errors =
      errors_of(text_of({"duration_min: x", "profiles { nme: 1 }"}));
  ASSERT_EQ(errors.size(), 1u) << all_of(errors);
  EXPECT_EQ(errors[0].line, 1);
}

// Columns count characters, not bytes (Vietnamese text), and tabs to 8.
TEST(Syntax, ColumnsCountCharactersAndTabs) {
  const LoadError utf8 = only_error(text_of({R"(name: "Họp chi bộ" cont: 1)"}));
  expect_at(utf8, 1, 20, "cont");
  const LoadError tab = only_error(text_of({"\tcont: 1"}));
  expect_at(tab, 1, 9, "cont");
}

// ---------------------------------------------------------------------------
// Semantic errors: all of them, in file order.

// Three mistakes on three lines give three errors, sorted by position.
TEST(Semantic, ReportsAllSortedByPosition) {
  const std::vector<LoadError> errors = errors_of(text_of({
      "duration_min: 10",
      R"(profiles { name: "p" bandwidth_down_kbps: 1 bandwidth_up_kbps: 1 base_one_way_ms: -1 })",
      "rules { quorum_fraction: 2 }",
      R"(cell_types { name: "c" count: 1 members { official: 1 } links { profile: "x" share: 1 } })",
  }));
  ASSERT_EQ(errors.size(), 5u) << all_of(errors);
  EXPECT_EQ(errors[0].field, "profiles[0].base_one_way_ms");
  EXPECT_EQ(errors[1].field, "rules.quorum_fraction");
  EXPECT_EQ(errors[2].field, "cell_types[0].agenda");
  EXPECT_EQ(errors[3].field, "cell_types[0].members.official");
  EXPECT_EQ(errors[4].field, "cell_types[0].links[0].profile");
  for (size_t i = 1; i < errors.size(); ++i) {
    EXPECT_LE(std::make_pair(errors[i - 1].line, errors[i - 1].column),
              std::make_pair(errors[i].line, errors[i].column));
  }
}

// Element positions stay right when messages are given in list syntax.
TEST(Semantic, ListSyntaxPositions) {
  const LoadError e = only_error(text_of({kDuration, kProfile, kAgenda,
      R"(cell_types: [{ name: "c" count: 1 members { official: 3 } links { profile: "p" share: 1 } agenda: "a" },)",
      R"(  { name: "d" count: 0 members { official: 3 } links { profile: "p" share: 1 } agenda: "a" }])"}));
  expect_at(e, 5, 15, "cell_types[1].count");
}

// On failure the output is left as it was.
TEST(Semantic, OutputUnchangedOnFailure) {
  v1::Scenario s;
  s.set_name("before");
  std::vector<LoadError> errors;
  EXPECT_FALSE(parse_scenario(text_of({"name: \"after\"", "duration_min: -1"}), kSnippetFile, &s,
                              &errors));
  EXPECT_EQ(s.name(), "before");
}

// ---------------------------------------------------------------------------
// Defaults.

// Settings left out of a file get the documented defaults.
TEST(Defaults, AppliedToWhatTheFileLeavesOut) {
  v1::Scenario s;
  std::vector<LoadError> errors;
  ASSERT_TRUE(parse_scenario(
      base_plus({R"(agendas { name: "v" items { title: "t" votes { vote_id: 1 kind: VOTE_KIND_ELECTION } } })",
                 "outage_events { duration_s: 5 }"}),
      kSnippetFile, &s, &errors))
      << all_of(errors);
  EXPECT_EQ(s.start_unix_s(), 1'796'086'800);  // 2026-12-01T01:00:00Z
  EXPECT_EQ(s.server().nodes(), 1u);
  EXPECT_EQ(s.server().cores_per_node(), 2u);
  EXPECT_EQ(s.server().nic_egress_mbps(), 1000u);
  EXPECT_EQ(s.rules().quorum_fraction(), 2.0 / 3.0);
  EXPECT_EQ(s.rules().heartbeat_interval_ms(), 10000u);
  EXPECT_EQ(s.rules().missed_heartbeats(), 3u);
  EXPECT_EQ(s.reconnect().initial_backoff_ms(), 500);
  EXPECT_EQ(s.reconnect().max_backoff_ms(), 30000);
  EXPECT_EQ(s.reconnect().multiplier(), 2);
  EXPECT_EQ(s.reconnect().jitter(), 0.5);
  EXPECT_EQ(s.chair().open_deadline_min(), 15);
  EXPECT_EQ(s.chair().wait_for_quorum_min(), 5);
  EXPECT_EQ(s.media().bitrate_kbps(), 24u);
  EXPECT_EQ(s.media().frame_ms(), 20u);
  EXPECT_EQ(s.quorum_deadline_min(), 15);
  EXPECT_EQ(s.profiles(0).rto_min_ms(), 200);
  EXPECT_EQ(s.agendas(1).items(0).votes(0).open_s(), 60);
  EXPECT_EQ(s.outage_events(0).share(), 1);
}

// A zero the file writes out is kept where zero means something.
TEST(Defaults, ExplicitZeroKept) {
  v1::Scenario s;
  std::vector<LoadError> errors;
  ASSERT_TRUE(parse_scenario(base_plus({"reconnect { jitter: 0 initial_backoff_ms: 0 }",
                                        "chair { wait_for_quorum_min: 0 open_deadline_min: 0 }",
                                        "media { bitrate_kbps: 0 }", "quorum_deadline_min: 0"}),
                             kSnippetFile, &s, &errors))
      << all_of(errors);
  EXPECT_EQ(s.reconnect().jitter(), 0);
  EXPECT_EQ(s.reconnect().initial_backoff_ms(), 0);
  EXPECT_EQ(s.chair().wait_for_quorum_min(), 0);
  EXPECT_EQ(s.chair().open_deadline_min(), 0);
  EXPECT_EQ(s.media().bitrate_kbps(), 0u);
  EXPECT_EQ(s.quorum_deadline_min(), 0);
  EXPECT_EQ(s.reconnect().max_backoff_ms(), 30000);  // the rest still defaulted
}

// An outage share of 0 means 1 (the schema), written out or not.
TEST(Defaults, OutageShareZeroMeansOne) {
  v1::Scenario s;
  std::vector<LoadError> errors;
  ASSERT_TRUE(parse_scenario(base_plus({"outage_events { duration_s: 5 share: 0 }"}), kSnippetFile,
                             &s, &errors))
      << all_of(errors);
  EXPECT_EQ(s.outage_events(0).share(), 1);
}

// apply_defaults fills zeros of a scenario built in code, and is idempotent.
TEST(Defaults, ApplyDefaultsInCode) {
  v1::Scenario s;
  s.add_profiles()->set_name("p");
  s.add_agendas()->add_items()->add_votes()->set_vote_id(1);
  s.mutable_reconnect()->set_jitter(0.25);  // set: kept
  apply_defaults(&s);
  EXPECT_EQ(s.reconnect().jitter(), 0.25);
  EXPECT_EQ(s.reconnect().multiplier(), 2);
  EXPECT_EQ(s.rules().quorum_fraction(), kDefaultQuorumFraction);
  EXPECT_EQ(s.profiles(0).rto_min_ms(), kDefaultRtoMinMs);
  EXPECT_EQ(s.agendas(0).items(0).votes(0).open_s(), kDefaultVoteOpenS);
  EXPECT_EQ(s.start_unix_s(), kDefaultStartUnixS);
  const std::string once = s.SerializeAsString();
  apply_defaults(&s);
  EXPECT_EQ(s.SerializeAsString(), once);
}

// validate_scenario checks a scenario built in code: paths, no positions.
TEST(Defaults, ValidateScenarioInCode) {
  v1::Scenario s;
  s.set_duration_min(10);
  v1::CellType* t = s.add_cell_types();
  t->set_name("c");
  t->set_count(1);
  t->mutable_members()->set_official(3);
  t->set_agenda("nowhere");
  v1::ProfileShare* link = t->add_links();
  link->set_profile("p");
  link->set_share(1);
  apply_defaults(&s);
  std::vector<LoadError> errors;
  EXPECT_FALSE(validate_scenario(s, &errors));
  ASSERT_EQ(errors.size(), 2u) << all_of(errors);
  EXPECT_EQ(errors[0].field, "cell_types[0].links[0].profile");
  EXPECT_EQ(errors[0].line, 0);
  EXPECT_EQ(errors[1].field, "cell_types[0].agenda");
  EXPECT_EQ(errors[1].to_string(), "cell_types[0].agenda: unknown agenda \"nowhere\"; none is defined");
}

// ---------------------------------------------------------------------------
// The quorum fraction as the engine's rational.

// 2/3 (the default, as a double) maps exactly to 2/3; simple fractions map
// exactly; others round up to thousandths; nonsense is clamped.
TEST(EngineQuorum, Mapping) {
  const auto is = [](double f, uint32_t num, uint32_t den) {
    const QuorumRational q = engine_quorum(f);
    EXPECT_EQ(q.num, num) << f;
    EXPECT_EQ(q.den, den) << f;
  };
  is(kDefaultQuorumFraction, 2, 3);
  is(0.6666666666666666, 2, 3);
  is(0.666666667, 2, 3);
  is(0.5, 1, 2);
  is(0.75, 3, 4);
  is(1, 1, 1);
  is(0.51, 51, 100);
  is(1.0 / 7.0, 1, 7);
  is(0.667, 667, 1000);
  is(0.6667, 667, 1000);   // rounded up: the quorum is never lowered
  is(0.12345, 31, 250);    // 124/1000
  is(0, 1, 1000);          // clamped
  is(1.5, 1, 1);           // clamped
}

// ---------------------------------------------------------------------------
// Files.

std::string temp_path(const std::string& name) {
  return (std::filesystem::path(::testing::TempDir()) / name).string();
}

// A missing file gives one error naming it and why.
TEST(Files, MissingFile) {
  v1::Scenario s;
  std::vector<LoadError> errors;
  const std::string path = temp_path("no-such-scenario.textproto");
  EXPECT_FALSE(load_scenario(path, &s, &errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].file, path);
  EXPECT_EQ(errors[0].line, 0);
  EXPECT_THAT(errors[0].message, HasSubstr("cannot read the scenario file: No such file"));
  EXPECT_THAT(errors[0].to_string(), StartsWith(path + ": cannot read the scenario file"));
}

// A directory is not a scenario file.
TEST(Files, Directory) {
  v1::Scenario s;
  std::vector<LoadError> errors;
  EXPECT_FALSE(load_scenario(::testing::TempDir(), &s, &errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0].message, HasSubstr("it is a directory"));
}

// A file loads, and its errors carry its path.
TEST(Files, LoadsAndNamesTheFile) {
  const std::string path = temp_path("scenario-loader-test.textproto");
  std::ofstream(path) << base_plus({"quorum_slos { min_attainment: 7 }"});
  v1::Scenario s;
  std::vector<LoadError> errors;
  EXPECT_FALSE(load_scenario(path, &s, &errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].to_string(),
            path + ":5:15: quorum_slos[0].min_attainment: min_attainment must be a probability in "
                   "[0, 1], got 7");
  std::ofstream(path) << base_plus({});
  errors.clear();
  EXPECT_TRUE(load_scenario(path, &s, &errors)) << all_of(errors);
  std::filesystem::remove(path);
}

// ---------------------------------------------------------------------------
// LoadError::to_string.

// Every part present; parts that are empty or 0 are left out.
TEST(LoadErrorText, Format) {
  EXPECT_EQ((LoadError{"f.textproto", 7, 3, "a.b", "bad"}.to_string()), "f.textproto:7:3: a.b: bad");
  EXPECT_EQ((LoadError{"f.textproto", 7, 0, "a.b", "bad"}.to_string()), "f.textproto:7: a.b: bad");
  EXPECT_EQ((LoadError{"f.textproto", 0, 0, "", "bad"}.to_string()), "f.textproto: bad");
  EXPECT_EQ((LoadError{"", 0, 0, "a.b", "bad"}.to_string()), "a.b: bad");
}

// A clean scenario yields no errors at all.
TEST(LoadErrorText, CleanSnippetHasNone) { EXPECT_THAT(errors_of(base_plus({})), IsEmpty()); }

}  // namespace
}  // namespace cellsim::scenario::testing
