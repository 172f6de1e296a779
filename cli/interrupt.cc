#include "cli/interrupt.h"

#include <atomic>
#include <csignal>

namespace cellsim::cli {
namespace {

std::atomic<bool> g_interrupted{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the handler stores to it");

void on_signal(int) { g_interrupted.store(true); }

}  // namespace

void watch_interrupts() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}

bool interrupt_requested() { return g_interrupted.load(); }

}  // namespace cellsim::cli
