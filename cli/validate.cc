// `cellsim validate`: runs a scenario simulated and live over K seeds with
// the same calibration and compares the medians across the seeds of each
// figure (validate/validate.h, live/validate.h).
//
// Exit codes: 0 every row within tolerance, 1 I/O or internal error, 2 bad
// usage or scenario (also an explicit --link packet this process cannot
// use), 3 an invariant broke (either side), 4 some row outside tolerance,
// 130 interrupted (partial results written).
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
#include "live/validate.h"
#include "validate/validate.h"

namespace cellsim::cli {
namespace {

constexpr double kMaxLatencyTolerance = 10;
constexpr uint64_t kMaxMinSamples = 1'000'000'000;
constexpr double kMaxMosTolerance = 3.5;  // the whole MOS scale, 1 to 4.5

constexpr char kValidateAbout[] =
    "Runs the scenario in the simulator and live (the same agents against the embedded\n"
    "cellmeetd, in real time, links impaired per frame or per IP packet) over K seeds with\n"
    "the same calibration, and prints sim against live: the median across the seeds of the\n"
    "p50 and p99 of every latency metric, of quorum attainment and vote validity, and of\n"
    "voice (loss, mean mouth-to-ear delay, median MOS) where members spoke, with each\n"
    "side's spread (min..max across the seeds), overall, per cell type and per network\n"
    "profile. Writes DIR/sim/seed-N/, DIR/live/seed-N/ and DIR/results.pb, DIR/results.json\n"
    "(mode \"validate\", the rows in `validation`).";

struct ValidateArgs {
  ScenarioFlags common;
  double duration_s = 0;
  uint64_t seeds = 1;
  std::string link;  // "", "frame" or "packet"
  live::ValidateTolerances tol;
  std::string live_from, sim_from;
};

void add_validate_flags(Flags& f, ValidateArgs* a) {
  add_scenario_flags(f, &a->common, "out/validate");
  f.real("--duration", &a->duration_s, 0, live::kMaxDurationS,
         "run S seconds of the scenario (both sides; default: all)", Lower::kOpen);
  f.u64("--seeds", &a->seeds, 1, live::kMaxValidateSeeds,
        "run seeds SEED .. SEED+K-1 on each side and compare the medians (default 1)");
  f.choice("--link", &a->link, {"packet", "frame"},
           "the live side's link mode (default: packet when this process may use it, else "
           "frame)");
  f.text("--live-from", &a->live_from,
         "do not run the live side: compare with the live seeds an earlier validate stored "
         "in DIR (DIR/live/seed-N/)");
  f.text("--sim-from", &a->sim_from,
         "do not run the simulator: compare the simulator seeds stored in DIR "
         "(DIR/sim/seed-N/, e.g. from another version)");
  f.real("--latency-tolerance", &a->tol.latency, 0, kMaxLatencyTolerance,
         "relative tolerance of latency rows (default 0.2)");
  f.real("--share-tolerance", &a->tol.share, 0, 1,
         "absolute tolerance of share rows (default 0.05)");
  f.real("--voice-loss-tolerance", &a->tol.voice_loss, 0, 1,
         "absolute tolerance of voice-loss rows (lost or late frames over frames sent; default "
         "0.01)");
  f.real("--mouth-to-ear-tolerance", &a->tol.mouth_to_ear, 0, kMaxLatencyTolerance,
         "relative tolerance of mean mouth-to-ear delay rows (default 0.1)");
  f.real("--mos-tolerance", &a->tol.mos, 0, kMaxMosTolerance,
         "absolute tolerance of median MOS rows (default 0.2)");
  f.u64("--min-samples", &a->tol.min_samples, 0, kMaxMinSamples,
        "rows with fewer samples on a side, summed over its seeds, do not count (default " +
            std::to_string(live::kDefaultMinSamples) + ")");
  f.footer("exit: 0 within tolerance, 1 I/O error, 2 bad input (or --link packet unavailable),\n"
           "      3 invariant broken, 4 outside tolerance, 130 interrupted.");
}

// "seed 7 (2/3)": which seed a side is on.
std::string step_text(const validate::Step& st) {
  return "seed " + std::to_string(st.seed) + " (" + std::to_string(st.index + 1) + "/" +
         std::to_string(st.count) + ")";
}

// The simulator's callbacks: a progress line per seed, a line when it ends.
void add_sim_progress(const ValidateArgs& a, ProgressLine* line, const std::string* step,
                      validate::ValidateOptions* o) {
  o->on_sim_slice = [line, step](const sim::World& world, sim::TimeNs t) {
    if (line->due()) {
      std::fprintf(stderr,
                   "\r  sim %s: virtual %7.1f / %.0f s   wall %6.1f s   %llu frames   ",
                   step->c_str(), static_cast<double>(t - world.start_ns()) / 1e9,
                   static_cast<double>(world.end_ns() - world.start_ns()) / 1e9,
                   line->elapsed_s(), static_cast<unsigned long long>(world.frames()));
    }
    return !interrupt_requested();
  };
  o->on_sim_done = [&a, line, step](const sim::SimulateOutcome& so) {
    line->clear();
    if (a.common.quiet) return;
    std::cerr << "  sim " << *step << ": " << so.members << " members, "
              << so.results.run().frames() << " frames in " << so.results.run().wall_s()
              << " s\n";
  };
}

// The live side's callbacks: a progress line per seed, a line when it ends.
void add_live_progress(const ValidateArgs& a, ProgressLine* line, const std::string* step,
                       validate::ValidateOptions* o) {
  o->on_live_progress = [line, step](const live::Progress& p) {
    if (line->due()) {
      std::fprintf(stderr,
                   "\r  live %s: %6.1f / %.0f s   connected %llu   joined %llu   frames %llu "
                   "up %llu down   ",
                   step->c_str(), p.elapsed_s, p.duration_s,
                   static_cast<unsigned long long>(p.connected),
                   static_cast<unsigned long long>(p.joined),
                   static_cast<unsigned long long>(p.frames_sent),
                   static_cast<unsigned long long>(p.frames_received));
    }
    return !interrupt_requested();
  };
  o->on_live_done = [&a, line, step](const live::LoadOutcome& lo) {
    line->clear();
    if (a.common.quiet) return;
    std::cerr << "  live " << *step << ": " << lo.members << " members, "
              << lo.results.run().frames() << " frames in " << lo.results.run().wall_s()
              << " s, link mode " << live::link_mode_name(lo.link_mode) << "\n";
    const live::DatagramFigures& d = lo.datagrams;
    if (lo.results.run().media_transport() != "datagram") return;
    std::cerr << "    voice datagrams: " << d.sent << " sent, " << d.received
              << " received, the agents dropped " << d.agents.dropped() << "; "
              << lo.speech_intervals << " speech intervals heard\n";
    if (d.fallback_members > 0) {
      // Then live voice was in-band: its voice rows compare unlike with like.
      std::cerr << "    warning: the server offered no media port: " << d.fallback_members
                << " member(s) sent voice in-band\n";
    }
  };
}

// The progress callbacks of both sides (a line on a terminal, Ctrl-C);
// `step` holds which seed each side is on.
void add_progress(const ValidateArgs& a, ProgressLine* line, std::string* step,
                  validate::ValidateOptions* o) {
  o->on_start = [&a](const v1::Scenario& s, const std::string& label) {
    if (a.common.quiet) return;
    std::cerr << "cellsim validate: " << s.name() << ", seeds " << s.seed() << ".."
              << s.seed() + a.seeds - 1 << ", " << s.duration_min() * 60
              << " s each; calibration: " << label << "\n";
  };
  o->on_step = [step](const validate::Step& st) { *step = step_text(st); };
  add_sim_progress(a, line, step, o);
  add_live_progress(a, line, step, o);
}

void print_validation(const ValidateArgs& a, const v1::Scenario& s,
                      const validate::ValidateOutcome& out) {
  const v1::Validation& v = out.results.validation();
  const std::string& dir = a.common.out_dir;
  std::cout << "validate " << s.name() << ", seeds " << s.seed() << ".." << s.seed() + a.seeds - 1
            << " (" << a.seeds << "): " << out.members << " members, " << out.cells
            << " cells, " << out.duration_s << " s each; sim " << v.sim_wall_s()
            << " s wall, live " << v.live_wall_s() << " s wall; live link mode "
            << v.link_mode() << "\ncalibration: " << out.calibration_label << "\n";
  std::cout << live::validation_table(out.comparison, a.tol);
  std::cout << "results: " << dir << "/results.pb, " << dir << "/results.json, " << dir
            << "/sim/seed-N/, " << dir << "/live/seed-N/\n";
}

int validation_exit_code(const ValidateArgs& a, const validate::ValidateOutcome& out) {
  if (out.violation_count > 0) {
    std::cerr << "cellsim validate: invariant violations:\n";
    for (const auto& x : out.sim_violations) std::cerr << "  sim: " << x << "\n";
    for (const auto& x : out.live_violations) std::cerr << "  live: " << x << "\n";
    return kExitInvariant;
  }
  if (out.interrupted || interrupt_requested()) {
    std::cerr << "cellsim validate: interrupted; partial results written to " << a.common.out_dir
              << "\n";
    return kExitInterrupted;
  }
  if (!out.comparison.within_tolerance) {
    std::cerr << "cellsim validate: " << out.comparison.rows_outside
              << " rows outside tolerance (exit " << kExitSloBreached << ")\n";
    return kExitSloBreached;
  }
  return kExitOk;
}

// The live side's link mode from --link (none: the best available, with a
// line on stderr when that is frame mode). False: *error says why.
bool pick_link_mode(const ValidateArgs& a, live::LinkMode* mode, std::string* error) {
  std::optional<live::LinkMode> requested;
  live::LinkMode m = live::LinkMode::kFrame;
  if (!a.link.empty() && live::parse_link_mode(a.link, &m)) requested = m;
  live::LinkModeChoice choice;
  if (!live::choose_link_mode(requested, &choice, error)) return false;
  if (!choice.fallback_reason.empty()) {
    std::cerr << "cellsim validate: " << choice.fallback_reason << "\n";
  }
  *mode = choice.mode;
  return true;
}

}  // namespace

int validate_main(int argc, char** argv) {
  ValidateArgs a;
  Flags f("cellsim validate", kValidateAbout);
  add_validate_flags(f, &a);
  if (auto rc = f.parse(argc, argv)) return *rc;
  v1::Scenario s;
  if (!load_scenario_for(f, a.common, &s)) return kExitUsage;
  validate::ValidateOptions o;
  std::string error;
  if (a.live_from.empty() && !pick_link_mode(a, &o.link_mode, &error)) {
    return f.usage_error(error);
  }
  o.live_from_dir = a.live_from;
  o.sim_from_dir = a.sim_from;
  o.scenario_file = a.common.scenario_file;
  o.calibration_file = a.common.calibration_file;
  o.out_dir = a.common.out_dir;
  o.duration_s = a.duration_s;
  o.seeds = a.seeds;
  o.tolerances = a.tol;
  ProgressLine line(a.common.quiet);
  std::string step;
  add_progress(a, &line, &step, &o);
  watch_interrupts();
  std::signal(SIGPIPE, SIG_IGN);
  const validate::ValidateOutcome out = validate::run_validation(s, o);
  line.clear();
  switch (out.failure) {
    case validate::ValidateOutcome::Failure::kBadInput: return f.usage_error(out.error);
    case validate::ValidateOutcome::Failure::kCannotWrite:
      std::cerr << "cellsim validate: " << out.error << "\n";
      return kExitError;
    case validate::ValidateOutcome::Failure::kNone: break;
  }
  if (a.live_from.empty() && out.link_mode != o.link_mode) {
    std::cerr << "cellsim validate: asked for link mode " << live::link_mode_name(o.link_mode)
              << ", the live driver ran " << live::link_mode_name(out.link_mode) << "\n";
  }
  if (!a.common.quiet) print_validation(a, s, out);
  return validation_exit_code(a, out);
}

}  // namespace cellsim::cli
