// `cellsim calibrate` (live/calibrate.h): child processes and /proc
// accounting (live/child_process.h), Prometheus counters; the
// derived scenarios are valid and vary the frame mix; and an end to end quick
// calibration against the real cellmeetd binary writes a loadable, measured
// calibration file and leaves no child behind. The fit: fit_test.cc.
#include "live/calibrate.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>

#include "live/run_calibration.h"
#include "metrics/prometheus_text.h"
#include "metrics/scrape.h"
#include "scenario/loader.h"
#include "sim/runner.h"

namespace cellsim::live {
namespace {

namespace fs = std::filesystem;

bool process_alive(pid_t pid) { return ::kill(pid, 0) == 0; }

TEST(CalibrateProc, ParsesSchedstatAndStat) {
  uint64_t v = 0;
  EXPECT_TRUE(parse_schedstat("123456789 2000 17\n", &v));
  EXPECT_EQ(v, 123456789u);
  EXPECT_FALSE(parse_schedstat("", &v));
  EXPECT_FALSE(parse_schedstat("x 1 2", &v));
  // The name holds spaces and a parenthesis.
  const std::string stat =
      "4242 (cell meetd) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 31 17 0 0 20 0 3 0 9 1 2 3\n";
  EXPECT_TRUE(parse_stat_ticks(stat, &v));
  EXPECT_EQ(v, 48u);
  EXPECT_FALSE(parse_stat_ticks("4242 (x) S 1", &v));
  // This process's own CPU time is readable and grows.
  uint64_t a = 0, b = 0;
  ASSERT_TRUE(process_cpu_ns(getpid(), &a, nullptr));
  volatile double spin = 0;
  for (int i = 0; i < 20'000'000; ++i) spin = spin + std::sqrt(static_cast<double>(i));
  ASSERT_TRUE(process_cpu_ns(getpid(), &b, nullptr));
  EXPECT_GT(b, a);
  std::string why;
  EXPECT_FALSE(process_cpu_ns(999'999'999, &a, &why));
}

TEST(CalibrateChild, RunsChildrenWithTheirOutputAndExitStatus) {
  const fs::path dir = fs::temp_directory_path() / ("calibrate_child_" + std::to_string(getpid()));
  fs::create_directories(dir);
  SpawnOptions o;
  o.output_file = (dir / "out").string();
  EXPECT_EQ(run_child({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}, o), 3);
  EXPECT_EQ(read_text_file(o.output_file), "out\nerr\n");
  o.append = true;
  o.keep_stderr = true;
  EXPECT_EQ(run_child({"/bin/sh", "-c", "echo more; echo hidden >&2"}, o), 0);
  EXPECT_EQ(read_text_file(o.output_file), "out\nerr\nmore\n");
  EXPECT_EQ(run_child({"/nonexistent/binary"}, o), 127);  // the exec failed
  std::string why;
  SpawnOptions unwritable;
  unwritable.output_file = "/nonexistent/dir/log";
  EXPECT_EQ(spawn_child({"/bin/true"}, unwritable, &why), -1);
  EXPECT_NE(why.find("cannot write"), std::string::npos) << why;
  fs::remove_all(dir);
}

TEST(CalibrateChild, WaitsForThePortFileAndStopsTheChild) {
  const fs::path dir = fs::temp_directory_path() / ("calibrate_ports_" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string ports = (dir / "ports").string();
  std::string why;
  const pid_t writer = spawn_child(
      {"/bin/sh", "-c", "sleep 0.1; echo '7000 7001' > " + ports + "; exec sleep 30"}, {}, &why);
  ASSERT_GT(writer, 0) << why;
  uint16_t port = 0, metrics_port = 0;
  EXPECT_EQ(wait_for_port_file(writer, ports, 10, 0.01, &port, &metrics_port),
            PortFileWait::kReady);
  EXPECT_EQ(port, 7000);
  EXPECT_EQ(metrics_port, 7001);
  EXPECT_EQ(stop_child(writer, 5, 0.01), -1);  // SIGTERM ended it
  EXPECT_FALSE(process_alive(writer));
  const pid_t quitter = spawn_child({"/bin/sh", "-c", "exit 0"}, {}, &why);
  ASSERT_GT(quitter, 0) << why;
  EXPECT_EQ(wait_for_port_file(quitter, (dir / "none").string(), 10, 0.01, &port, &metrics_port),
            PortFileWait::kExited);
  const pid_t sleeper = spawn_child({"/bin/sleep", "30"}, {}, &why);
  ASSERT_GT(sleeper, 0) << why;
  EXPECT_EQ(wait_for_port_file(sleeper, (dir / "none").string(), 0.1, 0.01, &port, &metrics_port),
            PortFileWait::kTimedOut);
  EXPECT_EQ(stop_child(sleeper, 5, 0.01), -1);
  fs::remove_all(dir);
}

TEST(CalibrateProc, ParsesPrometheusCounters) {
  const std::string text =
      "# HELP cellmeet_frames_in_total Frames received\n"
      "# TYPE cellmeet_frames_in_total counter\n"
      "cellmeet_frames_in_total{type=\"hello\"} 12\n"
      "cellmeet_frames_in_total{type=\"heartbeat\"} 3.5e+02\n"
      "cellmeet_frames_out_total{type=\"welcome\"} 12\n"
      "cellmeet_frames_in_total_other{type=\"x\"} 1\n";
  const metrics::PrometheusText parsed = metrics::parse_prometheus_text(text);
  EXPECT_TRUE(parsed.errors.empty());
  const auto in = metrics::sum_by_label(parsed, "cellmeet_frames_in_total", "type");
  ASSERT_EQ(in.size(), 2u);
  EXPECT_DOUBLE_EQ(in.at("hello"), 12);
  EXPECT_DOUBLE_EQ(in.at("heartbeat"), 350);
  EXPECT_EQ(metrics::sum_by_label(parsed, "cellmeet_frames_out_total", "type").at("welcome"), 12);
}

TEST(CalibrateScenarios, DerivedScenariosAreValidAndVaryTheMix) {
  v1::Scenario base;
  std::vector<scenario::LoadError> errors;
  ASSERT_TRUE(scenario::load_scenario(
      std::string(CELLSIM_SOURCE_DIR) + "/scenarios/pilot-special-cells.textproto", &base,
      &errors));
  std::set<uint32_t> intervals;
  for (const auto& mix : calibration_mixes()) {
    for (int level = 1; level <= 3; ++level) {
      const v1::Scenario s = calibration_scenario(base, mix, level, 15, 1);
      errors.clear();
      EXPECT_TRUE(scenario::validate_scenario(s, &errors))
          << mix << " L" << level << ": " << (errors.empty() ? "" : errors[0].to_string());
      intervals.insert(s.rules().heartbeat_interval_ms());
    }
  }
  EXPECT_GE(intervals.size(), 3u);
  EXPECT_FALSE(machine_description().empty());
  EXPECT_FALSE(machine_slug().empty());
}

// Processes running this build's cellmeetd from a calibrate working folder.
int calibrate_servers_running() {
  int n = 0;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(e.path() / "cmdline");
    std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (char& c : cmd) c = c == '\0' ? ' ' : c;
    if (cmd.rfind(CELLMEETD_BINARY, 0) == 0 &&
        cmd.find("/tmp/cellsim-calibrate-") != std::string::npos) {
      // A zombie has an empty cmdline, so this one is alive.
      ++n;
    }
  }
  return n;
}

TEST(RunCalibration, ABaseScenarioThatDoesNotLoadIsReportedBeforeAnyRun) {
  CalibrateOptions o;
  o.server_binary = CELLMEETD_BINARY;
  o.base_scenario_file = "/nonexistent/base.textproto";
  bool started = false;
  CalibrationHooks hooks;
  hooks.on_start = [&](const CalibrationPlan&) { started = true; };
  const CalibrationResult r = run_calibration(o, "/nonexistent/out.textproto", hooks);
  EXPECT_EQ(r.status, CalibrationStatus::kBadScenario);
  ASSERT_FALSE(r.scenario_errors.empty());
  EXPECT_NE(r.scenario_errors[0].find("/nonexistent/base.textproto"), std::string::npos);
  EXPECT_FALSE(started);
}

TEST(RunCalibration, PlansTheLengthAndTheDefaultFile) {
  // 5 mixes: 4 runs of S + 1 s and the media run of at least 25 + 1 s, per level.
  EXPECT_EQ(calibration_minutes(1, 5), 1);      // 50 s
  EXPECT_EQ(calibration_minutes(3, 12), 4);     // 234 s
  EXPECT_EQ(calibration_minutes(8, 600), 401);  // 24,040 s
  const std::string file = default_calibration_file();
  EXPECT_EQ(file.rfind("calibration/measured-", 0), 0u) << file;
  EXPECT_NE(file.find(machine_slug()), std::string::npos) << file;
}

// Shows the TLS handshake's server-side CPU is measured: positive, more than
// a plain frame (microseconds, not nanoseconds) and below a bound no 2020s
// CPU exceeds for ECDHE + ECDSA P-256 (10 ms).
TEST(CalibrateTls, HandshakeCostIsMeasuredInProcess) {
  const TlsHandshakeCost c = measure_tls_handshake(kTlsHandshakesDefault);
  ASSERT_TRUE(c.ok) << c.error;
  std::printf("TLS 1.3 handshake (%d): server %.1f us, client %.1f us CPU\n", c.handshakes,
              c.server_us, c.client_us);
  EXPECT_EQ(c.handshakes, kTlsHandshakesDefault);
  EXPECT_GT(c.server_us, 20);
  EXPECT_LT(c.server_us, 10'000);
  EXPECT_GT(c.client_us, 0);
}

TEST(CalibrateEndToEnd, QuickCalibrationAgainstTheRealServer) {
  ASSERT_EQ(::access(CELLMEETD_BINARY, X_OK), 0) << CELLMEETD_BINARY;
  const fs::path dir = fs::temp_directory_path() / ("calibrate_test_" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string out = (dir / "measured.textproto").string();
  const std::string cmd = std::string(CELLSIM_BINARY) + " calibrate --server " + CELLMEETD_BINARY +
                          " --quick --levels 1 --seconds 5 --quiet --scenario " +
                          CELLSIM_SOURCE_DIR + "/scenarios/pilot-special-cells.textproto --out " +
                          out + " > " + (dir / "stdout").string() + " 2> " +
                          (dir / "stderr").string();
  const int rc = std::system(cmd.c_str());
  std::ifstream err(dir / "stderr");
  std::stringstream errs;
  errs << err.rdbuf();
  ASSERT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 0) << errs.str();

  v1::Scenario s;
  std::vector<scenario::LoadError> errors;
  ASSERT_TRUE(scenario::load_scenario(
      std::string(CELLSIM_SOURCE_DIR) + "/scenarios/test/tiny.textproto", &s, &errors));
  v1::Calibration cal;
  std::string label, why;
  ASSERT_TRUE(sim::resolve_calibration(out, "", s, &cal, &label, &why)) << why;
  EXPECT_FALSE(cal.estimated());
  EXPECT_FALSE(cal.machine().empty());
  EXPECT_TRUE(std::isfinite(cal.fit_error()));
  EXPECT_GE(cal.fit_error(), 0);
  EXPECT_GT(cal.costs_size(), 0);
  EXPECT_NE(label.find("measured"), std::string::npos);
  bool has_heartbeat = false;
  for (const auto& c : cal.costs()) has_heartbeat |= c.type() == "heartbeat";
  EXPECT_TRUE(has_heartbeat);
  EXPECT_GT(cal.tls_handshake_us(), 0);  // measured even with --quick

  // No cellmeetd child is left behind: no process serves from this build's
  // binary with calibrate's working folder.
  EXPECT_EQ(calibrate_servers_running(), 0);
  fs::remove_all(dir);
}

TEST(CalibrateEndToEnd, ServerProcessStopsItsChild) {
  const fs::path dir = fs::temp_directory_path() / ("calibrate_sp_" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string key = (dir / "key").string();
  ASSERT_EQ(std::system((std::string(CELLMEETD_BINARY) + " keygen --out " + key).c_str()), 0);
  {
    std::ofstream d(dir / "d.textproto");
    d << "cells { cell_id: 1 members { member_id: 1 name: \"a\" standing: STANDING_OFFICIAL "
         "role: ROLE_CHAIR } }\n";
  }
  pid_t pid = -1;
  {
    ServerProcess sp;
    std::string why;
    ASSERT_TRUE(
        sp.start(CELLMEETD_BINARY,
                 {"--key", key, "--deployment", (dir / "d.textproto").string(), "--threads", "1"},
                 dir.string(), &why))
        << why;
    pid = sp.pid();
    EXPECT_GT(sp.port(), 0);
    EXPECT_GT(sp.metrics_port(), 0);
    EXPECT_TRUE(process_alive(pid));
    std::string body;
    ASSERT_TRUE(metrics::http_get_local(sp.metrics_port(), "/metrics", &body, &why)) << why;
    EXPECT_NE(body.find("cellmeet_frames_in_total"), std::string::npos);
    // What prometheus-cpp serves parses with no line refused.
    const metrics::PrometheusText parsed = metrics::parse_prometheus_text(body);
    EXPECT_TRUE(parsed.errors.empty()) << parsed.errors[0].reason << ": " << parsed.errors[0].text;
    double open = -1;
    EXPECT_TRUE(metrics::unlabelled_value(parsed, "cellmeet_connections_open", &open));
    EXPECT_EQ(open, 0);
    EXPECT_EQ(parsed.types.at("cellmeet_frames_in_total"), "counter");
    uint64_t ns = 0;
    EXPECT_TRUE(process_cpu_ns(pid, &ns, &why)) << why;
  }  // the destructor stops it
  EXPECT_FALSE(process_alive(pid));
  // A bad server fails to start with the reason, and leaves nothing behind.
  ServerProcess bad;
  std::string why;
  EXPECT_FALSE(bad.start(CELLMEETD_BINARY, {"--no-such-flag"}, dir.string(), &why));
  EXPECT_NE(why.find("no-such-flag"), std::string::npos) << why;
  EXPECT_EQ(bad.pid(), -1);
  fs::remove_all(dir);
}

TEST(CalibrateCli, BadInputIsExit2) {
  const std::string bin = CELLSIM_BINARY;
  auto rc = [](const std::string& cmd) {
    const int r = std::system((cmd + " > /dev/null 2>&1").c_str());
    return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
  };
  EXPECT_EQ(rc(bin + " calibrate --no-such-flag"), 2);
  EXPECT_EQ(rc(bin + " calibrate --levels 0"), 2);
  EXPECT_EQ(rc(bin + " calibrate --levels 99"), 2);
  EXPECT_EQ(rc(bin + " calibrate --seconds 1"), 2);
  EXPECT_EQ(rc(bin + " calibrate --server /nonexistent/cellmeetd"), 2);
  EXPECT_EQ(
      rc(bin + " calibrate --server " + CELLMEETD_BINARY + " --scenario /nonexistent.textproto"),
      2);
  EXPECT_EQ(rc(bin + " calibrate --help"), 0);
}

}  // namespace
}  // namespace cellsim::live
