// The live driver at scale: N members (default 20,000), each one TCP
// connection through the impairment layer to a cellmeetd started as a child
// process (build's cellmeetd, out of process, so the driver needs one
// descriptor per member and the server its own), joining over the first 20 s
// (small: 5 s) and then heartbeating every 2 s (rules.heartbeat_interval_ms:
// 2000) in a meeting that stays open. One iteration = one run of the case's
// seconds of real time.
//
//   live_bench                                    both cases
//   live_bench --benchmark_filter=small           240 connections, 15 s (CI)
//   live_bench --benchmark_filter=full            20,000 connections, 40 s
//   CELLSIM_LIVE_BENCH_CONNECTIONS=5000 live_bench --benchmark_filter=full
//   CELLSIM_LIVE_BENCH_SECONDS=60                 the full case's run time
//   CELLSIM_CELLMEETD=PATH                        another cellmeetd binary
//   CELLSIM_LIVE_BENCH_VERBOSE=1                  a progress line every second
//
// Counters:
//   connections_planned    members in the run (after the descriptor cap)
//   connections_held       peak member transports up (LoadOutcome.peak_connected)
//   server_connections     peak cellmeet_connections_open on the server's /metrics
//   connections_at_end, server_connections_at_end  the same in the last second
//   disconnects            member connections broken during the run
//   frames_per_second      frames sent + received by members / run wall time
//   steady_frames_per_second  the same from 2 heartbeat intervals after the
//                          last join to the end (all members heartbeating)
//   driver_cpu_share, server_cpu_share  CPU seconds / wall seconds (1 = a core)
//   heartbeats_per_second  heartbeat round trips measured by members / wall time
//   heartbeat_rtt_p50_ms, _p99_ms, _max_ms  their quantiles over the run
//   steady_heartbeat_rtt_p50_le_ms, _p99_le_ms  the steady state's, as the
//                          upper bound of the driver's /metrics histogram
//                          bucket holding them (1, 2.5, 5, 10, 25, ... ms)
//   driver_bytes_per_connection  driver RSS growth during the run / held
//   server_bytes_per_connection  server (VmHWM − RSS once listening) / held
//   driver_peak_rss_mib, server_peak_rss_mib  the absolute peaks
// RSS counts user-space memory only; the kernel's socket buffers are not in it.
//
// Descriptors. The driver needs one per member plus live/driver.cc's
// live::kSpareFds under the hard RLIMIT_NOFILE; the server one per
// connection plus its own (cellmeetd raises its soft limit to the hard one).
// When the hard limit cannot hold the full case, the bench runs the largest
// count it allows and prints which limit stopped it and how to raise it.
#include <benchmark/benchmark.h>
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "live/child_process.h"
#include "live/driver.h"
#include "metrics/histogram.h"
#include "metrics/prometheus_text.h"
#include "metrics/scrape.h"
#include "scenario/loader.h"

#ifndef CELLSIM_CELLMEETD_PATH
#define CELLSIM_CELLMEETD_PATH "cellmeetd"
#endif

namespace {

constexpr uint64_t kFullConnections = 20'000;
constexpr double kFullRunS = 40;
constexpr double kFullJoinS = 20;
constexpr uint64_t kSmallConnections = 240;
constexpr double kSmallRunS = 15;
constexpr double kSmallJoinS = 5;
constexpr uint64_t kMembersPerCell = 12;
constexpr uint32_t kHeartbeatIntervalMs = 2000;
// What the driver reserves besides its sockets when it checks RLIMIT_NOFILE
// (members + kSpareFds <= the hard limit).
constexpr uint64_t kDriverSpareFds = cellsim::live::kSpareFds;
// Descriptors this process may open besides the driver's (the /metrics
// scrape, /proc files), on top of those open when the bench starts.
constexpr uint64_t kBenchHeadroomFds = 16;
// cellmeetd --max-connections slack over the members.
constexpr uint64_t kServerSlack = 64;
constexpr int kServerStartTimeoutMs = 15'000;
constexpr double kServerStartPollS = 0.05;
constexpr int kServerStopTimeoutMs = 15'000;
constexpr double kServerStopPollS = 0.02;
constexpr double kScrapeEveryS = 1;
constexpr int kScrapeTimeoutMs = 1000;

std::string cellmeetd_path() {
  const char* env = std::getenv("CELLSIM_CELLMEETD");
  return env != nullptr && *env != '\0' ? env : CELLSIM_CELLMEETD_PATH;
}

uint64_t env_u64(const char* name, uint64_t fallback) {
  const char* env = std::getenv(name);
  return env != nullptr && *env != '\0' ? std::strtoull(env, nullptr, 10) : fallback;
}

// Resident memory of a process, from /proc/PID/status ("VmRSS", "VmHWM"), bytes.
uint64_t proc_status_bytes(const std::string& pid, const char* field) {
  std::ifstream f("/proc/" + pid + "/status");
  std::string line;
  const std::string prefix = std::string(field) + ":";
  while (std::getline(f, line)) {
    if (line.rfind(prefix, 0) == 0) {
      return std::strtoull(line.c_str() + prefix.size(), nullptr, 10) * 1024;
    }
  }
  return 0;
}

// User + system CPU time of a process, seconds (/proc/PID/stat fields 14,
// 15; PID or "self"); 0 if unreadable.
double proc_cpu_s(const std::string& pid) {
  uint64_t ticks = 0;
  cellsim::live::read_stat_ticks(pid, &ticks);
  return static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

uint64_t self_rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

uint64_t open_fds() {
  uint64_t n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (const dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
    ::closedir(d);
  }
  return n > 0 ? n - 1 : 0;  // the directory's own descriptor
}

// The member count the hard RLIMIT_NOFILE allows this process (the driver's
// side); `why` says what stopped it when that is below `wanted`.
uint64_t fd_capped_members(uint64_t wanted, std::string* why) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_max == RLIM_INFINITY) return wanted;
  const uint64_t hard = rl.rlim_max;
  const uint64_t others = std::max(kDriverSpareFds, open_fds() + kBenchHeadroomFds);
  const uint64_t allowed = hard > others ? hard - others : 0;
  if (wanted <= allowed) return wanted;
  const uint64_t needed = wanted + others;
  std::ostringstream m;
  m << "live_bench: " << wanted << " connections need " << needed
    << " file descriptors in the driver (one per member + " << others
    << " it keeps for everything else) but the hard limit RLIMIT_NOFILE is " << hard
    << ", which this process cannot raise; running " << allowed - allowed % kMembersPerCell
    << " connections instead. To run " << wanted << ": raise the hard limit to at least "
    << needed << " (`ulimit -Hn " << needed << "` as root in the shell that starts the bench; "
    << "a container: `docker run --ulimit nofile=" << needed << ":" << needed
    << "`; a systemd unit: LimitNOFILE=" << needed << "; a login: nofile in "
    << "/etc/security/limits.conf)";
  *why = m.str();
  return allowed;
}

// Members join over the first `join_s` seconds, uniformly.
std::string scenario_text(uint64_t cells, double join_s) {
  return R"pb(
    name: "live-bench"
    question: "How many heartbeating connections does one live driver hold?"
    seed: 3
    duration_min: 10
    start_unix_s: 1796086800
    quorum_deadline_min: 1
    server { nodes: 1 cores_per_node: 1 nic_egress_mbps: 10000 }
    rules { quorum_fraction: 0.6666666666666666 heartbeat_interval_ms: )pb" +
         std::to_string(kHeartbeatIntervalMs) + R"pb( missed_heartbeats: 3 }
    chair { open_deadline_min: 0.5 wait_for_quorum_min: 0.1 }
    media { bitrate_kbps: 0 frame_ms: 20 }
    profiles {
      name: "urban-fibre"
      base_one_way_ms: 4
      jitter_ms { lognormal { median: 2 sigma: 0.6 } }
      bandwidth_down_kbps: 100000
      bandwidth_up_kbps: 50000
      rto_min_ms: 200
    }
    agendas { name: "long" items { title: "Thảo luận" duration_min: 60 } }
    cell_types {
      name: "bench"
      count: )pb" + std::to_string(cells) + R"pb(
      members { official: 12 }
      links { profile: "urban-fibre" share: 1 }
      attend_probability: 1
      join_offset_min { uniform { min: 0 max: )pb" + std::to_string(join_s / 60) + R"pb( } }
      join_earliest_min: 0
      agenda: "long"
      start_window_min: 0.01
      start_offset_min: 0
    }
  )pb";
}

// The driver's /metrics (blocking, kScrapeTimeoutMs per send and receive);
// no samples when the scrape fails.
cellsim::metrics::PrometheusText scrape(uint16_t port) {
  cellsim::metrics::PrometheusText text;
  std::string why;
  cellsim::metrics::scrape_local(port, &text, &why, kScrapeTimeoutMs);
  return text;
}

// The cumulative buckets of the driver's
// cellsim_live_latency_seconds{metric="heartbeat_rtt"} in a scrape.
std::vector<cellsim::metrics::PrometheusBucket> heartbeat_buckets(uint16_t port) {
  return cellsim::metrics::histogram_buckets(scrape(port), "cellsim_live_latency_seconds", "metric",
                                             "heartbeat_rtt");
}

// The upper bound (ms) of the bucket holding quantile q of the samples between
// two scrapes of heartbeat_buckets(); 0 when there are none.
double bucket_quantile_ms(const std::vector<cellsim::metrics::PrometheusBucket>& before,
                          const std::vector<cellsim::metrics::PrometheusBucket>& after, double q) {
  if (after.empty() || before.size() != after.size()) return 0;
  const double total = after.back().count - before.back().count;
  if (total <= 0) return 0;
  for (size_t i = 0; i < after.size(); ++i) {
    if (after[i].count - before[i].count >= q * total) return after[i].le * 1000;
  }
  return HUGE_VAL;
}

// build's cellmeetd as a child process on 127.0.0.1, ephemeral ports, in a
// temporary directory; stopped (SIGTERM, then SIGKILL) and cleaned up by the
// destructor. The child gets SIGTERM if this process dies first.
class ServerProcess {
 public:
  ~ServerProcess() { stop(); }

  bool start(const std::string& deployment_text, uint64_t max_connections, std::string* why) {
    char tmpl[] = "/tmp/cellsim-live-bench.XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      *why = "mkdtemp failed";
      return false;
    }
    dir_ = tmpl;
    const std::string bin = cellmeetd_path();
    if (::access(bin.c_str(), X_OK) != 0) {
      *why = "no cellmeetd at " + bin + " (build the cellmeetd target, or set CELLSIM_CELLMEETD)";
      return false;
    }
    log_ = dir_ + "/cellmeetd.log";
    if (cellsim::live::run_child({bin, "keygen", "--out", dir_ + "/key"}, log_options(0)) != 0) {
      *why = "cellmeetd keygen failed: " + cellsim::live::read_text_file(log_);
      return false;
    }
    {
      std::ofstream f(dir_ + "/deployment.textproto");
      f << deployment_text;
      if (!f) {
        *why = "cannot write the deployment in " + dir_;
        return false;
      }
    }
    if (!serve(bin, max_connections, why) || !live_key(why)) return false;
    listening_rss_ = proc_status_bytes(std::to_string(pid_), "VmRSS");
    return true;
  }

  // SIGTERM, up to kServerStopTimeoutMs, then SIGKILL; removes the directory.
  void stop() {
    if (pid_ > 0) {
      cellsim::live::stop_child(pid_, kServerStopTimeoutMs / 1000.0, kServerStopPollS);
      pid_ = -1;
    }
    if (!dir_.empty()) {
      for (const char* f : {"/key", "/deployment.textproto", "/ports", "/cellmeetd.log"}) {
        ::unlink((dir_ + f).c_str());
      }
      ::rmdir(dir_.c_str());
      dir_.clear();
    }
  }

  // cellmeet_connections_open from the server's /metrics; -1 if unreadable.
  int64_t connections_open() const {
    double open = 0;
    if (!cellsim::metrics::unlabelled_value(scrape(metrics_port_), "cellmeet_connections_open",
                                            &open)) {
      return -1;
    }
    return static_cast<int64_t>(open);
  }

  uint64_t rss() const { return proc_status_bytes(std::to_string(pid_), "VmRSS"); }
  double cpu_s() const { return proc_cpu_s(std::to_string(pid_)); }
  uint64_t hwm() const { return proc_status_bytes(std::to_string(pid_), "VmHWM"); }
  uint64_t listening_rss() const { return listening_rss_; }
  uint16_t port() const { return port_; }
  const std::string& key() const { return key_; }

 private:
  // The child's output, added to the log (keygen's first, then the server's).
  cellsim::live::SpawnOptions log_options(int death_signal) const {
    cellsim::live::SpawnOptions o;
    o.output_file = log_;
    o.append = true;
    o.output_mode = 0600;
    o.death_signal = death_signal;
    return o;
  }

  // Starts `bin serve` and waits for its port file.
  bool serve(const std::string& bin, uint64_t max_connections, std::string* why) {
    const std::vector<std::string> argv = {bin,
                                           "serve",
                                           "--key",
                                           dir_ + "/key",
                                           "--deployment",
                                           dir_ + "/deployment.textproto",
                                           "--listen",
                                           "127.0.0.1",
                                           "--port",
                                           "0",
                                           "--metrics-address",
                                           "127.0.0.1",
                                           "--metrics-port",
                                           "0",
                                           "--threads",
                                           "1",
                                           "--max-connections",
                                           std::to_string(max_connections),
                                           "--heartbeat-interval-ms",
                                           std::to_string(kHeartbeatIntervalMs),
                                           "--missed-heartbeats",
                                           "3",
                                           "--quorum",
                                           "2/3",
                                           "--port-file",
                                           dir_ + "/ports"};
    pid_ = cellsim::live::spawn_child(argv, log_options(SIGTERM), why);
    if (pid_ < 0) return false;
    switch (cellsim::live::wait_for_port_file(pid_, dir_ + "/ports", kServerStartTimeoutMs / 1000.0,
                                              kServerStartPollS, &port_, &metrics_port_)) {
      case cellsim::live::PortFileWait::kReady:
        return true;
      case cellsim::live::PortFileWait::kExited:
        pid_ = -1;
        *why = "cellmeetd exited before listening: " + cellsim::live::read_text_file(log_);
        return false;
      case cellsim::live::PortFileWait::kTimedOut:
        break;
    }
    *why =
        "cellmeetd did not listen within the start timeout: " + cellsim::live::read_text_file(log_);
    return false;
  }

  bool live_key(std::string* why) {
    std::string reason;
    if (!cellsim::live::read_key_file(dir_ + "/key", &key_, &reason)) {
      *why = "cannot read cellmeetd's key: " + reason;
      return false;
    }
    return true;
  }

  std::string dir_, log_, key_;
  pid_t pid_ = -1;
  uint16_t port_ = 0, metrics_port_ = 0;
  uint64_t listening_rss_ = 0;
};

// The quantiles (ms) of an overall latency metric, and its sample count.
std::vector<double> quantiles_ms(const cellsim::v1::Results& r, const std::string& name,
                                 const std::vector<double>& qs, uint64_t* count) {
  std::vector<double> out(qs.size(), 0.0);
  *count = 0;
  for (const auto& g : r.groups()) {
    if (g.kind() != "overall") continue;
    for (const auto& l : g.latencies()) {
      if (l.name() != name) continue;
      cellsim::metrics::Histogram h;
      std::string why;
      if (!cellsim::metrics::Histogram::from_proto(l.histogram(), &h, &why)) return out;
      *count = l.histogram().total_count();
      for (size_t i = 0; i < qs.size(); ++i) {
        out[i] = static_cast<double>(h.value_at_quantile(qs[i])) / 1000.0;  // µs → ms
      }
    }
  }
  return out;
}

// What one run of the case measured (Iterations(1): one run).
struct Figures {
  uint64_t held = 0, server_held = 0, frames = 0, heartbeats = 0;
  uint64_t held_at_end = 0, disconnects = 0;
  int64_t server_at_end = 0;
  double wall_s = 0;
  std::vector<double> rtt_ms = std::vector<double>(3, 0.0);  // p50, p99, max
  uint64_t driver_growth = 0, driver_peak = 0, server_growth = 0, server_peak = 0;
  double steady_fps = 0, driver_cpu = 0, server_cpu = 0;
  double steady_rtt_p50 = 0, steady_rtt_p99 = 0;  // bucket upper bounds, ms
};

// What the bench watches while the driver runs, from its progress calls:
// memory peaks, the server's connections once per kScrapeEveryS, and the
// steady state's frames and heartbeat buckets (from two heartbeat intervals
// after the last join to the end).
class RunWatch {
 public:
  RunWatch(ServerProcess* server, double steady_from_s, double run_s, double progress_every_s,
           Figures* figures)
      : server_(server),
        figures_(figures),
        steady_from_s_(steady_from_s),
        run_s_(run_s),
        progress_every_s_(progress_every_s),
        rss0_(self_rss_bytes()),
        rss_peak_(rss0_),
        server_rss_peak_(server->rss()),
        driver_cpu0_(proc_cpu_s("self")),
        server_cpu0_(server->cpu_s()),
        verbose_(env_u64("CELLSIM_LIVE_BENCH_VERBOSE", 0) != 0) {}

  bool on_progress(const cellsim::live::Progress& p) {
    rss_peak_ = std::max(rss_peak_, self_rss_bytes());
    figures_->held_at_end = p.connected;
    figures_->disconnects = p.disconnects;
    const uint64_t f = p.frames_sent + p.frames_received;
    watch_steady_state(p, f);
    server_rss_peak_ = std::max(server_rss_peak_, server_->rss());
    if (p.elapsed_s >= next_scrape_s_) {
      next_scrape_s_ = p.elapsed_s + kScrapeEveryS;
      figures_->server_at_end = server_->connections_open();
      server_conns_peak_ = std::max(server_conns_peak_, figures_->server_at_end);
    }
    if (verbose_ && p.elapsed_s >= next_line_s_) {
      next_line_s_ = p.elapsed_s + 1;
      print_line(p, f);
    }
    return true;
  }

  // Once the run is over (the server still up): the figures of the watch.
  void finish(const cellsim::live::LoadOutcome& out) {
    Figures& g = *figures_;
    g.server_peak = std::max(server_rss_peak_, server_->hwm());
    g.server_growth =
        g.server_peak > server_->listening_rss() ? g.server_peak - server_->listening_rss() : 0;
    g.server_cpu = server_->cpu_s() - server_cpu0_;
    g.driver_cpu = proc_cpu_s("self") - driver_cpu0_;
    g.steady_rtt_p50 = bucket_quantile_ms(hb0_, hb1_, 0.5);
    g.steady_rtt_p99 = bucket_quantile_ms(hb0_, hb1_, 0.99);
    g.steady_fps = steady_t1_ > steady_t0_ + 1
                       ? static_cast<double>(steady_f1_ - steady_f0_) / (steady_t1_ - steady_t0_)
                       : 0;
    server_->stop();
    g.held = out.peak_connected;
    g.server_held = static_cast<uint64_t>(std::max<int64_t>(server_conns_peak_, 0));
    g.frames = out.results.run().frames();
    g.wall_s = out.results.run().wall_s();
    g.driver_peak = rss_peak_;
    g.driver_growth = rss_peak_ - rss0_;
    g.rtt_ms = quantiles_ms(out.results, "heartbeat_rtt", {0.5, 0.99, 1.0}, &g.heartbeats);
  }

 private:
  void watch_steady_state(const cellsim::live::Progress& p, uint64_t frames) {
    if (p.elapsed_s >= steady_from_s_ && steady_t0_ < 0) {
      steady_t0_ = p.elapsed_s;
      steady_f0_ = frames;
      if (p.metrics_port != 0) hb0_ = heartbeat_buckets(p.metrics_port);
    }
    if (steady_t0_ >= 0) {
      steady_t1_ = p.elapsed_s;
      steady_f1_ = frames;
    }
    // The last progress call comes within progress_every_s of the end.
    if (p.metrics_port != 0 && steady_t0_ >= 0 && p.elapsed_s + 2 * progress_every_s_ >= run_s_ &&
        hb1_.empty()) {
      hb1_ = heartbeat_buckets(p.metrics_port);
    }
  }

  void print_line(const cellsim::live::Progress& p, uint64_t frames) const {
    std::fprintf(
        stderr,
        "  %5.1f s  connected %6llu  joined %6llu  server %6lld  frames %9llu"
        "  disconnects %6llu  cpu driver %5.1f s server %5.1f s\n",
        p.elapsed_s, static_cast<unsigned long long>(p.connected),
        static_cast<unsigned long long>(p.joined), static_cast<long long>(figures_->server_at_end),
        static_cast<unsigned long long>(frames), static_cast<unsigned long long>(p.disconnects),
        proc_cpu_s("self") - driver_cpu0_, server_->cpu_s() - server_cpu0_);
  }

  ServerProcess* server_;
  Figures* figures_;
  const double steady_from_s_, run_s_, progress_every_s_;
  const uint64_t rss0_;
  uint64_t rss_peak_, server_rss_peak_;
  const double driver_cpu0_, server_cpu0_;
  const bool verbose_;
  int64_t server_conns_peak_ = 0;
  double next_scrape_s_ = 0, next_line_s_ = 0;
  double steady_t0_ = -1, steady_t1_ = -1;
  uint64_t steady_f0_ = 0, steady_f1_ = 0;
  std::vector<cellsim::metrics::PrometheusBucket> hb0_, hb1_;
};

// One run of the case against a fresh server; false with *why.
bool run_case(const cellsim::v1::Scenario& s, uint64_t cells, double run_s, double join_s,
              Figures* figures, std::string* why) {
  ServerProcess server;
  if (!server.start(cellsim::live::deployment_text(s), cells * kMembersPerCell + kServerSlack,
                    why)) {
    return false;
  }
  // Steady state: from two heartbeat intervals after the last join to the end.
  const double steady_from_s = join_s + 2.0 * kHeartbeatIntervalMs / 1000.0;
  cellsim::live::LoadOptions o;
  RunWatch watch(&server, steady_from_s, run_s, o.progress_every_s, figures);
  o.target_host = "127.0.0.1";
  o.target_port = server.port();
  o.key = server.key();
  o.duration_s = run_s;
  o.scenario_file = "live-bench (in bench/live_bench.cc)";
  o.metrics_port = 0;  // the driver's /metrics: heartbeat RTTs of the steady state
  o.on_progress = [&](const cellsim::live::Progress& p) { return watch.on_progress(p); };
  const cellsim::live::LoadOutcome out = cellsim::live::run_load(s, o);
  if (!out.ok) {
    *why = out.error;
    return false;
  }
  watch.finish(out);
  return true;
}

void report(benchmark::State& state, const Figures& g, uint64_t wanted, uint64_t cells,
            const std::string& fd_note) {
  const auto per_conn = [&](uint64_t bytes) {
    return g.held > 0 ? static_cast<double>(bytes) / static_cast<double>(g.held) : 0.0;
  };
  const double wall = std::max(g.wall_s, 1e-9);
  state.counters["connections_wanted"] = static_cast<double>(wanted);
  state.counters["connections_planned"] = static_cast<double>(cells * kMembersPerCell);
  state.counters["connections_held"] = static_cast<double>(g.held);
  state.counters["server_connections"] = static_cast<double>(g.server_held);
  state.counters["connections_at_end"] = static_cast<double>(g.held_at_end);
  state.counters["server_connections_at_end"] =
      static_cast<double>(std::max<int64_t>(g.server_at_end, 0));
  state.counters["disconnects"] = static_cast<double>(g.disconnects);
  state.counters["frames_per_second"] = static_cast<double>(g.frames) / wall;
  state.counters["steady_frames_per_second"] = g.steady_fps;
  state.counters["driver_cpu_share"] = g.driver_cpu / wall;
  state.counters["server_cpu_share"] = g.server_cpu / wall;
  state.counters["heartbeats_per_second"] = static_cast<double>(g.heartbeats) / wall;
  state.counters["heartbeat_rtt_p50_ms"] = g.rtt_ms[0];
  state.counters["heartbeat_rtt_p99_ms"] = g.rtt_ms[1];
  state.counters["heartbeat_rtt_max_ms"] = g.rtt_ms[2];
  state.counters["steady_heartbeat_rtt_p50_le_ms"] = g.steady_rtt_p50;
  state.counters["steady_heartbeat_rtt_p99_le_ms"] = g.steady_rtt_p99;
  state.counters["driver_bytes_per_connection"] = per_conn(g.driver_growth);
  state.counters["server_bytes_per_connection"] = per_conn(g.server_growth);
  state.counters["driver_peak_rss_mib"] = static_cast<double>(g.driver_peak) / (1 << 20);
  state.counters["server_peak_rss_mib"] = static_cast<double>(g.server_peak) / (1 << 20);
  std::string label = fd_note.empty() ? "" : "fd-capped by the hard RLIMIT_NOFILE";
  if (g.disconnects > 0) {
    label += std::string(label.empty() ? "" : "; ") + std::to_string(g.disconnects) +
             " connections broke (liveness missed: CPU-starved?)";
  }
  if (!label.empty()) state.SetLabel(label);
}

void BM_LiveHeartbeat(benchmark::State& state, uint64_t wanted_default, double run_s_default,
                      double join_s, bool full) {
  const uint64_t wanted = std::clamp<uint64_t>(
      full ? env_u64("CELLSIM_LIVE_BENCH_CONNECTIONS", wanted_default) : wanted_default,
      kMembersPerCell, cellsim::live::kMaxMembers);
  const double run_s = full ? static_cast<double>(env_u64("CELLSIM_LIVE_BENCH_SECONDS",
                                                          static_cast<uint64_t>(run_s_default)))
                            : run_s_default;
  std::string fd_note;
  const uint64_t members = fd_capped_members(wanted, &fd_note);
  if (!fd_note.empty()) std::fprintf(stderr, "%s\n", fd_note.c_str());
  const uint64_t cells = members / kMembersPerCell;
  if (cells == 0) {
    state.SkipWithError("the descriptor limit leaves room for no cell (see the message above)");
    return;
  }
  cellsim::v1::Scenario s;
  std::vector<cellsim::scenario::LoadError> errors;
  if (!cellsim::scenario::parse_scenario(scenario_text(cells, join_s), "live-bench", &s, &errors)) {
    state.SkipWithError(errors.empty() ? "bad scenario" : errors[0].to_string().c_str());
    return;
  }
  Figures figures;
  for (auto _ : state) {
    std::string why;
    if (!run_case(s, cells, run_s, join_s, &figures, &why)) {
      state.SkipWithError(why.c_str());
      return;
    }
  }
  report(state, figures, wanted, cells, fd_note);
}
// A quick case for CI (--benchmark_filter=small), and the acceptance case.
BENCHMARK_CAPTURE(BM_LiveHeartbeat, small, kSmallConnections, kSmallRunS, kSmallJoinS, false)
    ->Iterations(1)
    ->Unit(benchmark::kSecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_LiveHeartbeat, full, kFullConnections, kFullRunS, kFullJoinS, true)
    ->Iterations(1)
    ->Unit(benchmark::kSecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
