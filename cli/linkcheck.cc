// `cellsim linkcheck`: the link model against the kernel's TCP through the
// packet emulator, one workload, per profile (live/linkcheck.h).
//
// Exit codes: 0 done, 1 the kernel side failed, 2 bad usage or scenario
// (also: packet mode unavailable), 130 interrupted.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/flags.h"
#include "cli/interrupt.h"
#include "live/linkcheck.h"
#include "netem/netns.h"

namespace cellsim::cli {
namespace {

constexpr uint32_t kMaxPeriodMs = 60'000;

constexpr char kLinkCheckAbout[] =
    "Checks the simulator's TCP link model against the kernel's TCP: for each network\n"
    "profile of the scenario (or those named with --profile), N connections through the\n"
    "packet emulator carry a member's traffic — media frames and announcements down,\n"
    "heartbeats up and echoed — for S seconds, and the same schedule runs through the\n"
    "model. Prints, per profile and side, the latency percentiles of announcements, media\n"
    "and heartbeats, frames not delivered, and the counters (packets, retransmissions).\n"
    "Needs packet mode (root, or CAP_NET_ADMIN and CAP_SYS_ADMIN, /dev/net/tun, iproute2).\n"
    "Writes DIR/linkcheck.txt.";

struct LinkCheckArgs {
  ScenarioFlags common;
  std::vector<std::string> profiles;
  live::LinkCheckOptions o;
  bool model_only = false;
};

void add_linkcheck_flags(Flags& f, LinkCheckArgs* a) {
  add_scenario_flags(f, &a->common, "out/linkcheck", /*with_calibration=*/false);
  f.texts("--profile", &a->profiles, "a profile to check (repeatable; default: all)");
  f.u32("--connections", &a->o.connections, 1, live::kMaxLinkCheckConnections,
        "connections per profile (default 8)");
  f.real("--duration", &a->o.duration_s, 0, live::kMaxLinkCheckDurationS,
         "seconds of traffic (default 60)", Lower::kOpen);
  f.real("--drain", &a->o.drain_s, 0, live::kMaxLinkCheckDurationS,
         "seconds to wait for frames in flight afterwards, at most (default 20)");
  f.u32("--media-ms", &a->o.media_ms, 0, kMaxPeriodMs,
        "a media frame down every M ms (default: the scenario's frame_ms; 0: none)");
  f.u32("--probe-ms", &a->o.probe_ms, 1, kMaxPeriodMs, "an announcement down every M ms (default 250)");
  f.u32("--heartbeat-ms", &a->o.heartbeat_ms, 1, kMaxPeriodMs,
        "a heartbeat up every M ms, echoed (default 1000)");
  f.flag("--media-up", &a->o.media_up,
         "the member speaks: media and announcements go up, member to server");
  f.flag("--outages", &a->o.outages,
         "apply the profiles' outage processes on both sides (the same windows)");
  f.flag("--model-only", &a->model_only, "run the model's side only (no privileges needed)");
  f.footer("exit: 0 done, 1 the kernel side failed, 2 bad input (or packet mode unavailable),\n"
           "      130 interrupted.");
}

// The scenario's media and profiles into the options; false on an unknown
// --profile name (printed).
bool fill_options(const Flags& f, const v1::Scenario& s, LinkCheckArgs* a) {
  if (!f.given("--media-ms") && s.media().frame_ms() > 0) a->o.media_ms = s.media().frame_ms();
  if (s.media().bitrate_kbps() > 0) {
    a->o.media_bytes = s.media().bitrate_kbps() * std::max<uint32_t>(a->o.media_ms, 1) / 8;
  }
  a->o.seed = s.seed();
  for (const v1::NetworkProfile& p : s.profiles()) {
    bool wanted = a->profiles.empty();
    for (const std::string& name : a->profiles) wanted = wanted || name == p.name();
    if (wanted) a->o.profiles.push_back(&p);
  }
  for (const std::string& name : a->profiles) {
    bool found = false;
    for (const v1::NetworkProfile& p : s.profiles()) found = found || p.name() == name;
    if (!found) {
      f.usage_error("no profile \"" + name + "\" in " + a->common.scenario_file);
      return false;
    }
  }
  return !a->o.profiles.empty();
}

}  // namespace

int linkcheck_main(int argc, char** argv) {
  LinkCheckArgs a;
  Flags f("cellsim linkcheck", kLinkCheckAbout);
  add_linkcheck_flags(f, &a);
  if (auto code = f.parse(argc, argv)) return *code;
  v1::Scenario s;
  if (!load_scenario_for(f, a.common, &s)) return kExitUsage;
  if (!fill_options(f, s, &a)) return kExitUsage;
  live::LinkCheckResult r;
  if (a.model_only) {
    live::run_linkcheck_model(a.o, &r);
  } else {
    std::string why;
    if (!netem::packet_mode_available(&why)) return f.usage_error("packet mode unavailable: " + why);
    watch_interrupts();
    std::string error;
    const bool tty = isatty(2) && !a.common.quiet;
    const bool ok = live::run_linkcheck(a.o, &r, &error, [&](const std::string& line) {
      if (tty) std::cerr << "\r" << line << "   " << std::flush;
      return !interrupt_requested();
    });
    if (tty) std::cerr << "\n";
    if (!ok) {
      std::cerr << "cellsim linkcheck: " << error << "\n";
      return interrupt_requested() ? kExitInterrupted : kExitError;
    }
  }
  const std::string table = live::format_linkcheck(r);
  std::cout << table;
  std::error_code ec;
  std::filesystem::create_directories(a.common.out_dir, ec);
  std::ofstream out(a.common.out_dir + "/linkcheck.txt");
  out << table;
  if (!out) {
    std::cerr << "cellsim linkcheck: cannot write " << a.common.out_dir << "/linkcheck.txt\n";
    return kExitError;
  }
  return 0;
}

}  // namespace cellsim::cli
