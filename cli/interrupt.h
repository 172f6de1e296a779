// Ctrl-C (SIGINT) and SIGTERM for the long commands (run, load, validate,
// size, calibrate, the demo): watch_interrupts() installs handlers that
// only set a flag; the command polls interrupt_requested() between slices of
// work and writes what it has, marked partial (exit 130).
//
// Thread-safety: both functions may be called from any thread; the handler
// is async-signal-safe (it stores to a lock-free atomic).
#ifndef CELLSIM_CLI_INTERRUPT_H_
#define CELLSIM_CLI_INTERRUPT_H_

namespace cellsim::cli {

inline constexpr int kExitInterrupted = 130;

// Installs the SIGINT and SIGTERM handlers (again is harmless).
void watch_interrupts();

// True once SIGINT or SIGTERM arrived after watch_interrupts().
bool interrupt_requested();

}  // namespace cellsim::cli

#endif  // CELLSIM_CLI_INTERRUPT_H_
