// The arithmetic of RULES.md as pure functions: the quorum requirement and
// vote thresholds. Kept apart from the meeting state so each rule can be read
// and tested on its own. Thread-safe.
#ifndef CELLSIM_SERVER_ENGINE_RULES_H_
#define CELLSIM_SERVER_ENGINE_RULES_H_

#include <cstdint>

#include "server/engine/settings.h"

namespace cellsim::engine {

// ceil(q × d): the least number of present members counting in D that is
// "at least q of D".
inline uint32_t quorum_required(uint32_t d, Fraction q) {
  const uint64_t n = uint64_t{q.num} * d;
  return static_cast<uint32_t>((n + q.den - 1) / q.den);
}

// A meeting with D = 0 is never quorate (nobody it could be quorate for).
inline bool is_quorate(uint32_t present_in_d, uint32_t d, Fraction q) {
  return d > 0 && present_in_d >= quorum_required(d, q);
}

// The least yes count that passes `rule` against `base`:
// strict "yes > f × base" gives floor(f × base) + 1; otherwise ceil(f × base).
inline uint32_t yes_required(const VoteRule& rule, uint32_t base) {
  const uint64_t n = uint64_t{rule.fraction.num} * base;
  if (rule.strict) return static_cast<uint32_t>(n / rule.fraction.den + 1);
  return static_cast<uint32_t>((n + rule.fraction.den - 1) / rule.fraction.den);
}

// Whether a vote kind is one RULES.md defines.
inline bool is_known_vote_kind(int kind) {
  return kind >= v1::VOTE_KIND_RESOLUTION && kind <= v1::VOTE_KIND_EXPULSION;
}

// Members with these standings may vote (exempted ones only while present).
inline bool standing_may_vote(v1::Standing s) {
  return s == v1::STANDING_OFFICIAL || s == v1::STANDING_EXEMPTED;
}

// Members with these standings may attend.
inline bool standing_may_attend(v1::Standing s) {
  return s == v1::STANDING_OFFICIAL || s == v1::STANDING_PROBATIONARY ||
         s == v1::STANDING_EXEMPTED;
}

// Official members for the vote thresholds: standing official or exempted
// (exempted members are official members relieved of activity; D subtracts
// them only while absent, so they belong to the official count).
inline bool standing_is_official(v1::Standing s) {
  return s == v1::STANDING_OFFICIAL || s == v1::STANDING_EXEMPTED;
}

}  // namespace cellsim::engine

#endif  // CELLSIM_SERVER_ENGINE_RULES_H_
