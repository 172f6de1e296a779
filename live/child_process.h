// Child processes for the tools that measure a real cellmeetd from outside
// (`cellsim calibrate`, bench/live_bench.cc), and the /proc accounting of a
// process's CPU time that the calibration's figures come from.
//
// Children: spawn_child() forks and execs with the output sent to a file and
// (by default) SIGKILL for the child should this process die
// (PR_SET_PDEATHSIG; a child that finds its parent already gone exits 127).
// stop_child() ends one: SIGTERM, then SIGKILL after a timeout, and reaps it.
// ServerProcess runs `cellmeetd serve` and never outlives its owner.
//
// CPU accounting: the sum over a process's threads alive now of
// /proc/PID/task/TID/schedstat's first field (ns on CPU), or, where schedstat
// is missing, /proc/PID/stat's utime + stime in clock ticks (which also count
// the threads that exited).
//
// Thread-safety: the functions share no state; a ServerProcess is used from
// one thread at a time. Between fork and exec the child calls only
// async-signal-safe functions, so spawning from a threaded process is safe.
#ifndef CELLSIM_LIVE_CHILD_PROCESS_H_
#define CELLSIM_LIVE_CHILD_PROCESS_H_

#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cellsim::live {

// --- Children ------------------------------------------------------------------

struct SpawnOptions {
  // The child's stdout and stderr go to this file ("": this process's).
  std::string output_file;
  bool append = false;         // add to output_file instead of truncating it
  bool keep_stderr = false;    // only stdout goes to output_file
  mode_t output_mode = 0644;   // output_file's permissions when it is created
  int death_signal = SIGKILL;  // sent to the child when this process dies; 0: none
};

// Forks and execs argv[0] (a path, not looked up in PATH) with argv. The
// child's pid, or -1 with *why (the output file cannot be opened, fork fails).
// An exec that fails shows as exit status 127.
// REQUIRES: argv is not empty.
pid_t spawn_child(const std::vector<std::string>& argv, const SpawnOptions& options,
                  std::string* why);
// Waits for the child to end; its exit status, or -1 if a signal ended it.
int wait_child(pid_t pid);
// spawn_child() then wait_child(): the exit status, -1 if it could not run.
int run_child(const std::vector<std::string>& argv, const SpawnOptions& options);
// SIGTERM, polls every poll_s for up to timeout_s, then SIGKILL; reaps the
// child. Its exit status, or -1 if it was killed or did not stop in time.
// REQUIRES: pid > 0, a child of this process not reaped yet.
int stop_child(pid_t pid, double timeout_s, double poll_s);

enum class PortFileWait { kReady, kExited, kTimedOut };

// Polls (every poll_s, up to timeout_s) until the child writes its two ports
// ("PORT METRICS_PORT", cellmeetd's --port-file) to `path`, or exits (it is
// reaped then).
PortFileWait wait_for_port_file(pid_t pid, const std::string& path, double timeout_s, double poll_s,
                                uint16_t* port, uint16_t* metrics_port);

// The whole text of a file ("" if it cannot be read): /proc files, logs.
std::string read_text_file(const std::string& path);

// --- The child server ----------------------------------------------------------

inline constexpr double kServerStartTimeoutS = 15;
inline constexpr double kServerStopTimeoutS = 10;

// A cellmeetd child process: started with serve's flags, stopped by SIGTERM
// (SIGKILL if it does not stop within kServerStopTimeoutS) when stop() is
// called or on destruction.
class ServerProcess {
 public:
  ServerProcess() = default;
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;
  ~ServerProcess() { stop(); }

  // Runs `binary serve ARGS... --port-file WORKDIR/ports`, output to
  // WORKDIR/cellmeetd.log; waits (up to kServerStartTimeoutS) until the port
  // file appears. False with *why (the log's text included).
  bool start(const std::string& binary, const std::vector<std::string>& args,
             const std::string& workdir, std::string* why);
  // Stops the child; returns its exit status (-1 if killed or none).
  int stop();
  pid_t pid() const { return pid_; }
  uint16_t port() const { return port_; }
  uint16_t metrics_port() const { return metrics_port_; }

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  uint16_t metrics_port_ = 0;
  std::string log_;
};

// The cellmeetd binary next to a cellsim executable: BUILD/cli/cellsim →
// BUILD/cellmeetd, or the same folder. Empty if none is found.
std::string find_cellmeetd(const std::string& cellsim_exe);

// --- /proc accounting ------------------------------------------------------------

// Field 1 of a /proc/PID/task/TID/schedstat line (ns on CPU).
bool parse_schedstat(std::string_view text, uint64_t* ns);
// utime + stime (fields 14 and 15) of a /proc/PID/stat line, in clock ticks;
// the command name may hold spaces and parentheses.
bool parse_stat_ticks(std::string_view text, uint64_t* ticks);
// parse_stat_ticks() of /proc/WHO/stat (WHO: a pid, or "self").
bool read_stat_ticks(const std::string& who, uint64_t* ticks);
// The process's CPU time so far (every thread alive now, from schedstat; the
// stat fallback also counts threads that exited), ns. False with *why (if
// why is not null).
bool process_cpu_ns(pid_t pid, uint64_t* ns, std::string* why);

}  // namespace cellsim::live

#endif  // CELLSIM_LIVE_CHILD_PROCESS_H_
