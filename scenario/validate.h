// Semantic validation of a parsed scenario, and presence-aware defaults.
// Internal to cellsim_scenario: callers use scenario/loader.h.
//
// The checks are of two kinds:
//  * per field, by a rule table keyed by message type and field name
//    (probability, >= 0, > 0, in (0, 1], >= 1), applied wherever that message
//    occurs (so inside every Distribution too), plus "finite" for every double
//    and "a known value" for every enum;
//  * per message (Uniform min <= max, Empirical ordering, a cell's members,
//    link shares summing to 1, vote ids unique in an agenda ...) and across
//    the scenario (names defined once, and every name referred to defined).
//
// Positions come from the parser's ParseInfoTree; where that tree has no
// reliable position (list syntax, see text_layout.h) from the TextLayout;
// failing both, from the enclosing message.
//
// Thread-safety: stateless functions; reentrant.
#ifndef CELLSIM_SCENARIO_VALIDATE_H_
#define CELLSIM_SCENARIO_VALIDATE_H_

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <google/protobuf/text_format.h>

#include "cellsim/v1/scenario.pb.h"
#include "scenario/loader.h"
#include "scenario/text_layout.h"

namespace cellsim::scenario {

// Where a scenario came from; the pointers are null for one built in code.
struct SourceMap {
  std::string file;
  const google::protobuf::TextFormat::ParseInfoTree* tree = nullptr;
  const TextLayout* layout = nullptr;
};

// Appends every semantic error in `s` to `errors`, in the order found.
void validate(const v1::Scenario& s, const SourceMap& source, std::vector<LoadError>* errors);

// Levenshtein distance, for "did you mean" suggestions (short strings).
size_t edit_distance(std::string_view a, std::string_view b);

// Whether the field at a dotted path was written in the source.
using WrittenFn = std::function<bool(const std::string& path)>;

// Sets each defaulted setting of `s` that is 0 and, when `written` is given,
// was not written in the source. (The outage share's 0 always means 1.)
void apply_defaults_unless_written(v1::Scenario* s, const WrittenFn& written);

}  // namespace cellsim::scenario

#endif  // CELLSIM_SCENARIO_VALIDATE_H_
