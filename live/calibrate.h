// `cellsim calibrate`: measures cellmeetd's CPU cost per frame for the
// simulator's capacity model (DESIGN.md, "Simulator"; calibration.proto).
//
// Method. The real cellmeetd binary runs as a child process (one shard
// thread, --threads 1), holding the rosters of a derived scenario. The live
// driver (live/driver.h) drives it over loopback TCP, one run per (workload
// mix, load level). The mixes are built from the base scenario so that the
// counts of each frame type vary independently across runs (with one fixed
// mix the per-type costs would be collinear and could not be separated):
//   heartbeat  short heartbeat interval, no votes
//   ballot     long heartbeat interval, votes on every item
//   reconnect  every member's app crashes once (a second Hello, no second Join)
//   mixed      a bit of everything, floor requests
//   media      speakers (floor granted 10-65 s into an item, so these runs
//              last at least kMediaRunS): MediaFrames relayed to the cell
// and the levels scale the number of cells. For each run the server's CPU
// time is the difference of its process accounting (live/child_process.h:
// the sum over its threads of /proc/PID/task/TID/schedstat's nanoseconds on
// CPU; /proc/PID/stat's utime + stime in clock ticks as a fallback) before
// and after, and the
// frames it handled are the differences of its Prometheus counters
// cellmeet_frames_in_total{type} and cellmeet_frames_out_total{type}
// (metrics/scrape.h, metrics/prometheus_text.h). The scrapes happen outside
// the CPU window.
//
// Fit: live/fit.h. Non-negative least squares, each run weighted by 1 / its
// measured CPU, of the server's CPU against the frames in by type, the frames
// out [, the liveness checks] [and the seconds]. Every frame costs at least
// the cost of the most frequent type (the reference: heartbeats); types with
// too few frames (kMinFramesPerType, kMinTypeShare) are folded into the
// default. The liveness-check term (timer_runs estimated as
// connection-seconds / (liveness window - heartbeat interval)) is off: it is
// nearly collinear with the heartbeats, so those checks are folded into the
// per-frame costs and timer_us is 0. The idle term (asio, the metrics
// endpoint's threads) has no place in the capacity model; it is reported in
// the file's source.
//
// TLS. The server's CPU per TLS 1.3 handshake (calibration.tls_handshake_us)
// is measured in process by measure_tls_handshake(): full handshakes between
// a client and a server TlsSession (server/net/tls.h, what cellmeetd's
// acceptor runs) over memory, the server's side timed on the thread's CPU
// clock. The runs above are plain TCP; the handshake's cost is what TLS adds
// to a hello (its extra syscalls and the round trip are not in it).
//
// Thread-safety: the functions share no state. calibrate() forks a child and
// waits for it; it never leaves the child behind (RAII, and PR_SET_PDEATHSIG
// should this process die).
#ifndef CELLSIM_LIVE_CALIBRATE_H_
#define CELLSIM_LIVE_CALIBRATE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cellsim/v1/calibration.pb.h"
#include "cellsim/v1/scenario.pb.h"
#include "live/child_process.h"
#include "live/fit.h"

namespace cellsim::live {

namespace v1 = ::cellsim::v1;

// The calibration message of a fit.
v1::Calibration to_calibration(const CostFit& fit, const std::string& machine,
                               const std::string& source);

// The file's text: a header comment (what, when, where, how; the runs'
// table), then the message in Protobuf text format.
std::string calibration_file_text(const v1::Calibration& cal, const std::string& runs_table);

// The runs as an aligned table: frames by type, measured and predicted ms.
std::string runs_table(const std::vector<CalibrationRun>& runs);

// --- The machine ---------------------------------------------------------------

// "CPU MODEL, N cores, KERNEL RELEASE (MACHINE)".
std::string machine_description();
// A short file-name slug of the CPU and cores: "intel-xeon-2c".
std::string machine_slug();

// --- The TLS handshake ---------------------------------------------------------

// Handshakes measured by default, and rounds their median is taken over.
inline constexpr int kTlsHandshakesDefault = 400;
inline constexpr int kTlsMeasureRounds = 5;

struct TlsHandshakeCost {
  bool ok = false;
  std::string error;
  int handshakes = 0;
  double server_us = 0;  // CPU per handshake, the server's side (median round)
  double client_us = 0;  // the client's side, for reference
};

// `handshakes` (>= kTlsMeasureRounds) TLS 1.3 handshakes in memory with an
// ECDSA P-256 certificate made at run time (server/net/tls_certgen.h).
TlsHandshakeCost measure_tls_handshake(int handshakes);

// --- The whole calibration ---------------------------------------------------

// Bounds and defaults.
inline constexpr int kMaxCalibrationLevels = 8;
inline constexpr double kMinCalibrationRunS = 5;
inline constexpr double kMaxCalibrationRunS = 600;
inline constexpr double kMediaRunS = 25;  // the media mix's runs, at least

struct CalibrateOptions {
  std::string server_binary;                   // cellmeetd
  int levels = 3;                              // load levels per mix
  double run_seconds = 12;                     // each run's length
  double scale = 1;                            // multiplies the cells of every run (tests: < 1)
  int tls_handshakes = kTlsHandshakesDefault;  // measure_tls_handshake()'s
  std::string base_scenario_file;              // recorded in the source; run_calibration() loads it
  // Called with a line of progress (run started, run measured).
  std::function<void(const std::string&)> on_log;
  // Called often while a run goes; return false to stop everything.
  std::function<bool(double elapsed_s, double duration_s, const std::string& run)> on_progress;
};

struct CalibrateOutcome {
  bool ok = false;
  bool interrupted = false;
  std::string error;
  std::vector<CalibrationRun> runs;
  CostFit fit;
  v1::Calibration calibration;
  std::string file_text;  // what to write
};

// The derived scenario of one run (exposed for the tests).
// REQUIRES: level >= 1, run_seconds > 0, scale > 0.
v1::Scenario calibration_scenario(const v1::Scenario& base, const std::string& mix, int level,
                                  double run_seconds, double scale);
// The mixes, in run order.
std::vector<std::string> calibration_mixes();

// Every run, the fit and the TLS handshake; the calibration and its file's
// text (written by run_calibration(), live/run_calibration.h). Not ok with
// the error (interrupted when on_progress said stop).
// REQUIRES: base validated with defaults applied.
CalibrateOutcome calibrate(const v1::Scenario& base, const CalibrateOptions& options);

}  // namespace cellsim::live

#endif  // CELLSIM_LIVE_CALIBRATE_H_
