#include "cli/common.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <vector>

#include "metrics/results_io.h"
#include "proto/datagram.h"
#include "scenario/loader.h"

namespace cellsim::cli {
namespace {

constexpr double kProgressEvery_s = 0.5;
constexpr int kProgressWidth_chars = 110;

}  // namespace

void add_scenario_flags(Flags& f, ScenarioFlags* a, const std::string& default_out,
                        bool with_calibration) {
  a->out_dir = default_out;
  f.positional("SCENARIO", &a->scenario_file, "the scenario, text format cellsim.v1.Scenario");
  f.u64("--seed", &a->seed, 0, UINT64_MAX, "the run's seed (default: the scenario's)");
  f.text("--out", &a->out_dir, "the results folder (default " + default_out + ")");
  if (with_calibration) {
    f.text("--calibration", &a->calibration_file,
           "server costs, text format cellsim.v1.Calibration (default: the scenario's)");
  }
  f.choice("--media-transport", &a->media_transport, {"in_band", "datagram"},
           "how voice travels: on the TCP session, or as UDP datagrams beside it (default: the "
           "scenario's media.transport)");
  f.flag("--quiet", &a->quiet, "no progress and no summary");
}

bool load_scenario_for(const Flags& f, const ScenarioFlags& a, v1::Scenario* s) {
  std::vector<scenario::LoadError> errors;
  if (!scenario::load_scenario(a.scenario_file, s, &errors)) {
    for (const auto& e : errors) std::cerr << e.to_string() << "\n";
    return false;
  }
  if (f.given("--seed")) s->set_seed(a.seed);
  if (f.given("--media-transport")) {
    const bool datagram = a.media_transport == "datagram";
    s->mutable_media()->set_transport(datagram ? v1::MEDIA_TRANSPORT_DATAGRAM
                                               : v1::MEDIA_TRANSPORT_IN_BAND);
    const uint64_t payload_bytes = uint64_t{s->media().bitrate_kbps()} * s->media().frame_ms() / 8;
    if (datagram && payload_bytes > wire::kMaxDatagramPayloadBytes) {
      std::cerr << f.program() << ": --media-transport datagram: a frame of " << payload_bytes
                << " bytes is more than a voice datagram carries ("
                << wire::kMaxDatagramPayloadBytes << ")\n";
      return false;
    }
  }
  return true;
}

bool write_results_for(const Flags& f, const std::string& out_dir, const v1::Results& r) {
  std::string why;
  if (metrics::write_results(out_dir, r, &why)) return true;
  std::cerr << f.program() << ": " << why << "\n";
  return false;
}

void print_results_paths(const std::string& out_dir) {
  std::cout << "results: " << out_dir << "/results.pb, " << out_dir << "/results.json\n";
}

ProgressLine::ProgressLine(bool quiet)
    : enabled_(!quiet && isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

bool ProgressLine::due() {
  if (!enabled_) return false;
  const auto now = std::chrono::steady_clock::now();
  if (std::chrono::duration<double>(now - last_).count() < kProgressEvery_s) return false;
  last_ = now;
  return true;
}

double ProgressLine::elapsed_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void ProgressLine::clear() const {
  if (enabled_) std::fprintf(stderr, "\r%-*s\r", kProgressWidth_chars, "");
}

}  // namespace cellsim::cli
