// CELLSIM_ASSERT: the tree's assertion for preconditions, postconditions and
// stated invariants. Unlike assert(), it stays on in every build type
// (NDEBUG or not): a broken invariant stops the process with the condition,
// file and line on stderr instead of running on with corrupt state. Keep
// conditions cheap; a check too costly for the hot path says so and uses
// CELLSIM_DEBUG_ASSERT, which NDEBUG removes.
//
// A host may name what reproduces the failure and how the process ends: a
// ScopedAssertionContext (per thread) adds its note to the message and makes
// the process exit with its status instead of aborting (`cellsim run`: the
// seed, and status 3 as for any broken invariant).
//
// Thread-safe (writes to stderr, then ends the process).
#ifndef CELLSIM_PROTO_ASSERT_H_
#define CELLSIM_PROTO_ASSERT_H_

#include <cstdio>
#include <cstdlib>

namespace cellsim {

struct AssertionContext {
  const char* note = nullptr;  // e.g. "seed 7 reproduces it: cellsim run S --seed 7"
  int exit_status = 0;         // 0: abort()
};

inline AssertionContext& assertion_context() {
  thread_local AssertionContext context;
  return context;
}

// Sets this thread's context for its lifetime, then restores the one before.
// REQUIRES: `note` outlives the object.
class ScopedAssertionContext {
 public:
  ScopedAssertionContext(const char* note, int exit_status) : saved_(assertion_context()) {
    assertion_context() = AssertionContext{note, exit_status};
  }
  ~ScopedAssertionContext() { assertion_context() = saved_; }
  ScopedAssertionContext(const ScopedAssertionContext&) = delete;
  ScopedAssertionContext& operator=(const ScopedAssertionContext&) = delete;

 private:
  AssertionContext saved_;
};

[[noreturn]] inline void assertion_failed(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "cellsim: assertion failed at %s:%d: %s\n", file, line, condition);
  const AssertionContext& c = assertion_context();
  if (c.note != nullptr) std::fprintf(stderr, "cellsim: %s\n", c.note);
  std::fflush(stderr);
  if (c.exit_status != 0) std::_Exit(c.exit_status);
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
