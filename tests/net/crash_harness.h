// Helpers for tests that drive the real cellmeetd binary as a child process
// (net_crash_test): a child process that is always killed and reaped (RAII,
// and PR_SET_PDEATHSIG so it dies with the test even if the test is killed),
// a work folder with a key made by `cellmeetd keygen` and a deployment file,
// starting `cellmeetd serve` on a loopback port read from --port-file, and
// reading the minutes folder.
//
// Thread-safety: ChildProcess::sigkill() and pid() may be called from any
// thread; everything else from one thread.
#ifndef CELLSIM_TESTS_NET_CRASH_HARNESS_H_
#define CELLSIM_TESTS_NET_CRASH_HARNESS_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cellsim/v1/wire.pb.h"

namespace cellsim::net::testing {

namespace v1 = ::cellsim::v1;

// Longest wait for a started cellmeetd to write its port file.
inline constexpr int kServerStartTimeoutMs = 15'000;
// Longest wait for a cellmeetd to exit after SIGTERM.
inline constexpr int kServerStopTimeoutMs = 15'000;

class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess() { kill_and_reap(); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // fork + execv(args[0], args); stdout and stderr appended to `log_path`.
  bool start(const std::vector<std::string>& args, const std::string& log_path, std::string* why);
  pid_t pid() const { return pid_.load(); }
  bool running() const { return pid_.load() > 0; }
  // Sends SIGKILL (async-signal-safe; any thread). The caller reaps with wait().
  void sigkill() const;
  // Sends `signal` (any signal).
  void signal(int signal) const;
  // Waits up to timeout_ms for the child to exit and reaps it: its wait
  // status, or nullopt on timeout (the child is then left running).
  std::optional<int> wait(int timeout_ms);
  // True if the child has exited (reaps it; *status set).
  bool exited(int* status);
  // SIGKILL and reap, if running. Idempotent.
  void kill_and_reap();

 private:
  std::atomic<pid_t> pid_{-1};
};

// Runs a command to completion and returns its stdout (nullopt if it did not
// exit 0).
std::optional<std::string> run_capture(const std::vector<std::string>& args);

// A work folder for one cellmeetd: DIR/key (cellmeetd keygen), DIR/cells.textproto,
// DIR/minutes, DIR/ports, DIR/cellmeetd.log.
struct ServerFiles {
  std::string binary;
  std::string dir;
  std::string key_file;
  std::string deployment_file;
  std::string minutes_dir;
  std::string port_file;
  std::string log_file;
  std::string key;  // the key's bytes (decoded from the file's hex)
};

// Makes `dir` afresh (removing what was there) with a key from `binary keygen`
// and `deployment` written as text format.
bool make_server_files(const std::string& binary, const std::string& dir,
                       const v1::Deployment& deployment, ServerFiles* out, std::string* why);

// Starts `binary serve` on 127.0.0.1 (ephemeral port, no metrics) with the
// files' key, deployment and minutes folder and `threads` shards, and waits
// for its port file. False with *why (and the log's tail) on failure.
bool start_server(const ServerFiles& files, unsigned threads, ChildProcess* child, uint16_t* port,
                  std::string* why);

// The last `bytes` of a file (for failure messages).
std::string file_tail(const std::string& path, size_t bytes = 2000);

// A minutes file's name, parsed:
// minutes-cellC-meetingM-[recovered-]MS[-N].json.
struct MinutesName {
  uint64_t cell_id = 0;
  uint64_t meeting_id = 0;
  bool recovered = false;
  int64_t at_ms = 0;
};
bool parse_minutes_name(const std::string& name, MinutesName* out);

// Every minutes file in `dir` (by the name pattern above): name → bytes.
std::map<std::string, std::string> read_minutes_files(const std::string& dir);

// Parses minutes JSON (as cellmeetd writes it).
bool parse_minutes_json(const std::string& json, v1::Minutes* out, std::string* why);

}  // namespace cellsim::net::testing

#endif  // CELLSIM_TESTS_NET_CRASH_HARNESS_H_
