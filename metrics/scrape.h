// Scraping a /metrics endpoint on this machine: an HTTP/1.0 GET to
// 127.0.0.1 over a plain blocking socket, and the body read back as
// Prometheus text (metrics/prometheus_text.h). For the tools that watch a
// cellmeetd or a live driver they run (`cellsim calibrate`,
// bench/live_bench.cc) and the tests; not for the simulator (it blocks on
// the network, with a timeout per send and per receive).
//
// Thread-safety: the functions share no state; each call opens and closes
// its own socket.
#ifndef CELLSIM_METRICS_SCRAPE_H_
#define CELLSIM_METRICS_SCRAPE_H_

#include <cstdint>
#include <string>

#include "metrics/prometheus_text.h"

namespace cellsim::metrics {

// The timeout of each send and each receive, by default.
inline constexpr int kHttpGetTimeoutMs = 5000;
// A response longer than this is cut here (and then has no 200 it can lose).
inline constexpr size_t kMaxHttpResponseBytes = size_t{64} << 20;

// GET http://127.0.0.1:PORT/PATH: the body of a 200 response. False with
// *why (cannot connect, no answer within the timeout, not a 200).
// REQUIRES: path starts with '/'; timeout_ms > 0.
bool http_get_local(uint16_t port, const std::string& path, std::string* body, std::string* why,
                    int timeout_ms = kHttpGetTimeoutMs);

// GET /metrics from 127.0.0.1:PORT, parsed. False with *why when the GET
// fails (a parsed body's refused lines are in out->errors, not a failure).
bool scrape_local(uint16_t port, PrometheusText* out, std::string* why,
                  int timeout_ms = kHttpGetTimeoutMs);

}  // namespace cellsim::metrics

#endif  // CELLSIM_METRICS_SCRAPE_H_
