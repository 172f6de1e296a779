// What every host of the agents (the simulator's world, the live driver)
// needs the same way: the agents' measures as metric names, and the process
// figures a results file records.
//
// Thread-safety: stateless functions.
#ifndef CELLSIM_SIM_HOST_H_
#define CELLSIM_SIM_HOST_H_

#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "agents/agent.h"
#include "metrics/recorder.h"

namespace cellsim::sim {

// The metric an agent's measure is recorded under.
inline metrics::Latency to_latency(agents::Measure m) {
  switch (m) {
    case agents::Measure::kJoin: return metrics::Latency::kJoin;
    case agents::Measure::kHeartbeatRtt: return metrics::Latency::kHeartbeatRtt;
    case agents::Measure::kBroadcast: return metrics::Latency::kBroadcast;
    case agents::Measure::kBallot: return metrics::Latency::kBallot;
    case agents::Measure::kResult: return metrics::Latency::kResult;
    case agents::Measure::kTimeToQuorum: return metrics::Latency::kTimeToQuorum;
  }
  return metrics::Latency::kJoin;
}

// This process's peak resident memory, bytes.
inline uint64_t peak_rss_bytes() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<uint64_t>(ru.ru_maxrss) * 1024;
}

inline std::string host_name() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

}  // namespace cellsim::sim

#endif  // CELLSIM_SIM_HOST_H_
