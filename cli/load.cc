// `cellsim load`: the live driver's command line (live/driver.h,
// live/target.h).
//
// Exit codes as `cellsim run` (cli/run.h): 0 ok, 1 I/O or internal error,
// 2 bad usage or scenario, 3 invariant broken, 4 SLO breached, 130
// interrupted (partial results written).
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/flags.h"
#include "cli/interrupt.h"
#include "live/driver.h"
#include "live/link_mode.h"
#include "live/target.h"
#include "metrics/slo.h"
#include "metrics/summary.h"
#include "proto/assert.h"

namespace cellsim::cli {
namespace {

constexpr unsigned kMaxServerThreads = 256;

constexpr char kLoadAbout[] =
    "Runs the scenario's members live, one TCP connection each through a user-space\n"
    "impairment layer (the members' link profiles in real time), against cellmeetd: started\n"
    "in this process on a loopback port unless --target is given. A target must be on\n"
    "loopback, hold the scenario's planned rosters (--write-deployment writes them as a\n"
    "cellmeetd --deployment file), use the key in FILE (cellmeetd's hex key file) and the\n"
    "scenario's rules (heartbeat interval, missed heartbeats, quorum). Stops by itself after\n"
    "--duration seconds (default: the scenario's duration). Writes DIR/results.pb and\n"
    "DIR/results.json (mode \"live\").\n"
    "TLS 1.3: --tls-ca FILE makes every connection TLS, verifying the server's certificate\n"
    "against the CA certificates in FILE (PEM) for the target's address or --tls-name; the\n"
    "embedded server then needs --tls-cert FILE --tls-key FILE (PEM). --tls alone: the\n"
    "embedded server gets a CA and certificate made at run time (in memory).\n"
    "--link packet (the default when this process may use network namespaces and TUN\n"
    "devices: root, or CAP_NET_ADMIN and CAP_SYS_ADMIN, /dev/net/tun, iproute2): the members\n"
    "in one network namespace, the embedded server in another, each member's profile applied\n"
    "per IP packet and direction by an emulator between them, the kernel's TCP on top (no\n"
    "--target). --link frame: the frames impaired in user space over loopback (no\n"
    "privileges); without --link, frame mode when packet mode is unavailable (the reason is\n"
    "printed).";

struct LoadArgs {
  ScenarioFlags common;
  live::TargetSpec target;
  double duration_s = 0;
  unsigned server_threads = 1;
  uint32_t metrics_port = 0;
  std::string pushgateway, write_deployment;
  std::string link;  // empty: choose_link_mode(nullopt)
};

void add_load_flags(Flags& f, LoadArgs* a) {
  add_scenario_flags(f, &a->common, "out/load", /*with_calibration=*/false);
  f.host_port("--target", &a->target.target, "a running cellmeetd (on loopback)");
  f.text("--key", &a->target.key_file, "the target's key file (hex; cellmeetd keygen)");
  f.real("--duration", &a->duration_s, 0, live::kMaxDurationS,
         "seconds to run (default: the scenario's duration)", Lower::kOpen);
  f.u32("--server-threads", &a->server_threads, 1, kMaxServerThreads,
        "the embedded server's shards (default 1)");
  f.u32("--metrics-port", &a->metrics_port, 0, 65535,
        "serve Prometheus /metrics on 127.0.0.1:P while running (0: any free port, printed)");
  f.text("--pushgateway", &a->pushgateway, "push the final figures to http://HOST[:PORT]");
  f.text("--write-deployment", &a->write_deployment,
         "write the planned rosters as a cellmeetd --deployment file and exit");
  f.text("--tls-ca", &a->target.tls_ca, "CA certificates (PEM): every connection is TLS 1.3");
  f.text("--tls-name", &a->target.tls_name, "the name the server's certificate must carry");
  f.text("--tls-cert", &a->target.tls_cert, "the embedded server's certificate chain (PEM)");
  f.text("--tls-key", &a->target.tls_key, "the embedded server's private key (PEM)");
  f.flag("--tls", &a->target.tls_generate,
         "TLS with a CA and certificate made at run time (embedded server)");
  f.choice("--link", &a->link, {"packet", "frame"},
           "packet: kernel TCP through the packet emulator (needs CAP_NET_ADMIN+CAP_SYS_ADMIN); "
           "frame: user-space frame impairment (default: packet when available)");
  f.footer("exit: 0 ok, 1 I/O error, 2 bad input, 3 invariant broken, 4 SLO breached,\n"
           "      130 interrupted (partial results written).");
}

// Announces the run once (the metrics port even with --quiet), redraws the
// progress line and stops the run on Ctrl-C.
std::function<bool(const live::Progress&)> progress_callback(const LoadArgs& a,
                                                             const v1::Scenario& s,
                                                             ProgressLine* line,
                                                             live::LinkMode mode) {
  auto announced = std::make_shared<std::pair<bool, bool>>(false, false);  // (run, metrics)
  const bool packet = mode == live::LinkMode::kPacket;
  const std::string server = packet ? netem::server_address() : "127.0.0.1";
  const std::string link = packet ? ", link mode packet" : ", link mode frame";
  return [&a, &s, line, announced, server, link](const live::Progress& p) {
    if (p.metrics_port != 0 && !announced->second) {
      announced->second = true;
      std::cerr << "cellsim load: metrics on http://127.0.0.1:" << p.metrics_port << "/metrics\n";
    }
    if (!a.common.quiet && !announced->first) {
      announced->first = true;
      std::cerr << "cellsim load: " << s.name() << ", seed " << s.seed() << ": " << p.members
                << " members against "
                << (a.target.target.empty()
                        ? "embedded cellmeetd on " + server + ":" + std::to_string(p.server_port)
                        : a.target.target)
                << " for " << p.duration_s << " s" << link << "\n";
    }
    if (line->enabled()) {
      std::fprintf(stderr,
                   "\r  %6.1f / %.0f s   connected %llu   joined %llu   frames %llu up %llu down"
                   "   disconnects %llu   ",
                   p.elapsed_s, p.duration_s, static_cast<unsigned long long>(p.connected),
                   static_cast<unsigned long long>(p.joined),
                   static_cast<unsigned long long>(p.frames_sent),
                   static_cast<unsigned long long>(p.frames_received),
                   static_cast<unsigned long long>(p.disconnects));
    }
    return !interrupt_requested();
  };
}

// The link mode asked for (or the best available); false with the error
// printed (a --link packet this process cannot use). The fallback's reason
// goes to stderr as one line.
bool pick_link_mode(const LoadArgs& a, live::LinkMode* mode) {
  std::optional<live::LinkMode> requested;
  if (!a.link.empty()) {
    live::LinkMode m;
    const bool known = live::parse_link_mode(a.link, &m);
    CELLSIM_ASSERT(known);  // the flag allows only these
    requested = m;
  } else if (!a.target.target.empty()) {
    requested = live::LinkMode::kFrame;  // a target is outside the emulator's namespaces
  }
  live::LinkModeChoice choice;
  std::string error;
  if (!live::choose_link_mode(requested, &choice, &error)) {
    std::cerr << "cellsim load: " << error << "\n";
    return false;
  }
  if (!choice.fallback_reason.empty()) {
    std::cerr << "cellsim load: " << choice.fallback_reason << "\n";
  }
  *mode = choice.mode;
  return true;
}

void print_bridge_stats(const live::LoadOutcome& out) {
  const netem::BridgeStats& b = out.bridge;
  auto n = [](uint64_t v) { return static_cast<unsigned long long>(v); };
  std::printf("packet emulator: %llu packets up, %llu down, %llu delivered; dropped: %llu outage, "
              "%llu queue, %llu loss, %llu overflow, %llu not IPv4; %llu of no member\n",
              n(b.up_packets), n(b.down_packets), n(b.delivered), n(b.dropped_outage),
              n(b.dropped_queue), n(b.dropped_loss), n(b.overflow), n(b.not_ipv4),
              n(b.unmatched));
  std::fflush(stdout);
}

// The datagram transport's counts (printed when voice went as datagrams, or
// was meant to).
void print_datagram_stats(const live::LoadOutcome& out) {
  const live::DatagramFigures& d = out.datagrams;
  auto n = [](uint64_t v) { return static_cast<unsigned long long>(v); };
  std::printf("voice datagrams: %llu sent (%llu binds), %llu received; the agents accepted %llu, "
              "dropped %llu (bad %llu, stale %llu, replayed %llu); the links lost %llu up, %llu "
              "down; queues dropped %llu up, %llu down; %llu send errors; %llu speech intervals "
              "heard\n",
              n(d.sent), n(d.agents.binds_sent), n(d.received), n(d.agents.accepted),
              n(d.agents.dropped()), n(d.agents.dropped_bad), n(d.agents.dropped_stale),
              n(d.agents.dropped_replayed), n(d.lost_up), n(d.lost_down), n(d.queue_drops_up),
              n(d.queue_drops_down), n(d.send_errors), n(out.speech_intervals));
  std::fflush(stdout);
}

void print_load_summary(const LoadArgs& a, const live::LoadOutcome& out) {
  const auto& run = out.results.run();
  metrics::print_summary(out.results, std::cout);
  print_results_paths(a.common.out_dir);
  std::cout << "live: " << out.members << " members, peak " << out.peak_connected
            << " connections, " << run.frames() << " frames in " << run.wall_s() << " s ("
            << static_cast<uint64_t>(static_cast<double>(run.frames()) /
                                     std::max(run.wall_s(), 1e-9))
            << " frames/s), peak memory " << run.peak_rss_bytes() / (1024 * 1024) << " MiB, "
            << "link mode " << live::link_mode_name(out.link_mode) << "\n";
  if (out.link_mode == live::LinkMode::kPacket) {
    std::cout.flush();
    print_bridge_stats(out);
  }
  if (run.media_transport() == "datagram") {
    std::cout.flush();
    print_datagram_stats(out);
  }
}

}  // namespace

int load_main(int argc, char** argv) {
  LoadArgs a;
  Flags f("cellsim load", kLoadAbout);
  add_load_flags(f, &a);
  if (auto rc = f.parse(argc, argv)) return *rc;
  v1::Scenario s;
  if (!load_scenario_for(f, a.common, &s)) return kExitUsage;
  std::string why;
  if (!a.write_deployment.empty()) {
    if (live::write_deployment_file(s, a.write_deployment, &why)) return kExitOk;
    std::cerr << "cellsim load: " << why << "\n";
    return kExitError;
  }
  live::LoadOptions o;
  split_host_port(a.target.target, &a.target.host, &a.target.port);
  if (!live::resolve_target(a.target, &o, &why)) return f.usage_error(why);
  o.scenario_file = a.common.scenario_file;
  o.duration_s = a.duration_s;
  o.server_threads = a.server_threads;
  o.metrics_port = f.given("--metrics-port") ? static_cast<int>(a.metrics_port) : -1;
  o.pushgateway_url = a.pushgateway;
  if (a.link == "packet" && !a.target.target.empty()) {
    return f.usage_error(
        "--link packet needs the embedded server: drop --target or use --link frame");
  }
  if (!pick_link_mode(a, &o.link_mode)) return kExitUsage;
  ProgressLine line(a.common.quiet);
  o.on_progress = progress_callback(a, s, &line, o.link_mode);
  watch_interrupts();
  std::signal(SIGPIPE, SIG_IGN);
  const live::LoadOutcome out = live::run_load(s, o);
  if (line.enabled()) std::fprintf(stderr, "\n");
  if (!out.ok) return f.usage_error(out.error);
  if (out.swept_namespaces > 0) {
    std::cerr << "cellsim load: removed " << out.swept_namespaces
              << " network namespace(s) a killed run left behind\n";
  }
  if (!out.push_error.empty()) std::cerr << "cellsim load: " << out.push_error << "\n";
  if (out.datagrams.fallback_members > 0) {
    std::cerr << "cellsim load: the server offered no media port (Welcome.media_port 0): "
              << out.datagrams.fallback_members << " member(s) sent voice in-band instead of "
              << "as datagrams\n";
  }
  if (out.tls_failures > 0) {
    std::cerr << "cellsim load: " << out.tls_failures << " TLS failure(s); the first: "
              << out.tls_error << "\n";
  }
  if (!write_results_for(f, a.common.out_dir, out.results)) return kExitError;
  if (!a.common.quiet) print_load_summary(a, out);
  return run_exit_code({"load", s.seed(), out.violation_count, &out.violations, out.partial,
                        metrics::all_met(out.results), a.common.out_dir});
}

}  // namespace cellsim::cli
