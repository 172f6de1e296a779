// CELLSIM_ASSERT: the tree's assertion for preconditions, postconditions and
// stated invariants. Unlike assert(), it stays on in every build type
// (NDEBUG or not): a broken invariant stops the process with the condition,
// file and line on stderr instead of running on with corrupt state. Keep
// conditions cheap; a check too costly for the hot path says so and uses
// CELLSIM_DEBUG_ASSERT, which NDEBUG removes.
//
// Thread-safe (writes one line to stderr, then aborts).
#ifndef CELLSIM_PROTO_ASSERT_H_
#define CELLSIM_PROTO_ASSERT_H_

#include <cstdio>
#include <cstdlib>

namespace cellsim {

[[noreturn]] inline void assertion_failed(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "cellsim: assertion failed at %s:%d: %s\n", file, line, condition);
  std::fflush(stderr);
  std::abort();
}

}  // namespace cellsim

#define CELLSIM_ASSERT(cond) \
  ((cond) ? static_cast<void>(0) : ::cellsim::assertion_failed(#cond, __FILE__, __LINE__))

#ifdef NDEBUG
#define CELLSIM_DEBUG_ASSERT(cond) static_cast<void>(0)
#else
#define CELLSIM_DEBUG_ASSERT(cond) CELLSIM_ASSERT(cond)
#endif

#endif  // CELLSIM_PROTO_ASSERT_H_
