// Helpers for the scenario loader's tests: build a small scenario text line
// by line (so that a test's line numbers can be read off its source), parse
// it, and look at the errors.
//
// Thread-safety: plain functions; the tests are single-threaded.
#ifndef CELLSIM_TESTS_SCENARIO_SNIPPET_H_
#define CELLSIM_TESTS_SCENARIO_SNIPPET_H_

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "scenario/loader.h"

namespace cellsim::scenario::testing {

// The file name every snippet is parsed under.
inline constexpr char kSnippetFile[] = "snippet.textproto";

// A minimal valid scenario, one line each: lines 1 to 4 of most snippets.
inline constexpr std::string_view kDuration = "duration_min: 10";
inline constexpr std::string_view kProfile =
    R"(profiles { name: "p" bandwidth_down_kbps: 1000 bandwidth_up_kbps: 1000 })";
inline constexpr std::string_view kAgenda = R"(agendas { name: "a" items { title: "t" } })";
inline constexpr std::string_view kCell =
    R"(cell_types { name: "c" count: 1 members { official: 3 } links { profile: "p" share: 1 } agenda: "a" })";
// kCell without its closing brace, so that line 5 can add fields and close it.
inline constexpr std::string_view kCellOpen =
    R"(cell_types { name: "c" count: 1 members { official: 3 } links { profile: "p" share: 1 } agenda: "a")";

// Line i of `lines` is line i + 1 of the text.
inline std::string text_of(std::initializer_list<std::string_view> lines) {
  std::string out;
  for (std::string_view line : lines) {
    out += line;
    out += '\n';
  }
  return out;
}

// The 4 lines of the minimal scenario followed by `more`.
inline std::string base_plus(std::initializer_list<std::string_view> more) {
  std::string out = text_of({kDuration, kProfile, kAgenda, kCell});
  return out + text_of(more);
}

inline std::vector<LoadError> errors_of(const std::string& text) {
  v1::Scenario s;
  std::vector<LoadError> errors;
  const bool ok = parse_scenario(text, kSnippetFile, &s, &errors);
  EXPECT_EQ(ok, errors.empty());
  return errors;
}

inline std::string all_of(const std::vector<LoadError>& errors) {
  std::string out;
  for (const LoadError& e : errors) out += "\n  " + e.to_string();
  return out;
}

// The one error `text` has; fails the test if it has none or several.
inline LoadError only_error(const std::string& text) {
  const std::vector<LoadError> errors = errors_of(text);
  EXPECT_EQ(errors.size(), 1u) << "errors:" << all_of(errors);
  return errors.empty() ? LoadError{} : errors.front();
}

// Checks an error's file, position and field path.
inline void expect_at(const LoadError& e, int line, int column, const std::string& field) {
  SCOPED_TRACE(e.to_string());
  EXPECT_EQ(e.file, kSnippetFile);
  EXPECT_EQ(e.line, line);
  EXPECT_EQ(e.column, column);
  EXPECT_EQ(e.field, field);
}

}  // namespace cellsim::scenario::testing

#endif  // CELLSIM_TESTS_SCENARIO_SNIPPET_H_
