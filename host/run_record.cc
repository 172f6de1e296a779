#include "host/run_record.h"

#include <sys/resource.h>
#include <unistd.h>

#include "metrics/results_io.h"
#include "metrics/slo.h"

namespace cellsim::host {
namespace {

std::string host_name() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

}  // namespace

const char* cellsim_version() { return "cellsim " CELLSIM_VERSION; }

uint64_t peak_rss_bytes() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<uint64_t>(ru.ru_maxrss) * 1024;
}

v1::RunInfo run_info(const v1::Scenario& s, const RunFacts& f) {
  v1::RunInfo run;
  run.set_scenario(s.name());
  run.set_scenario_file(f.scenario_file);
  run.set_seed(s.seed());
  run.set_mode(f.mode);
  run.set_cellsim_version(cellsim_version());
  run.set_calibration(f.calibration);
  run.add_shards(std::to_string(f.shard_index) + "/" + std::to_string(f.shard_count));
  run.set_shard_count(f.shard_count);
  run.set_partial(f.partial);
  run.set_virtual_ns(f.virtual_ns);
  run.set_events(f.events);
  run.set_frames(f.frames);
  run.set_wall_s(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - f.wall_start).count());
  run.set_finished_unix_s(std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count());
  run.set_peak_rss_bytes(peak_rss_bytes());
  run.set_host(host_name());
  run.set_media_transport(s.media().transport() == v1::MEDIA_TRANSPORT_DATAGRAM
                              ? metrics::kTransportDatagram
                              : metrics::kTransportInBand);
  return run;
}

v1::Results make_results(const v1::Scenario& s, const metrics::Recorder& rec,
                         const v1::RunInfo& run) {
  v1::Results r = rec.to_results(run);
  metrics::evaluate_slos(s, &r);
  return r;
}

}  // namespace cellsim::host
