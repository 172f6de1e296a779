// Stopping a prometheus-cpp Exposer without its 2 s wait: civetweb's
// mg_stop() waits until its listener thread leaves poll(), which has a 2 s
// timeout and wakes at once on a connection. reset_exposer_waking() destroys
// the exposer while a helper thread connects to its port every
// kExposerWakeIntervalMs (at most kMaxExposerWakes times). Used by cellmeetd's
// Server and the live driver's LiveMetrics (DESIGN.md, "Known snags").
//
// Thread-safety: call it from the exposer's owner; it blocks until the
// exposer is gone and the helper thread has ended.
#ifndef CELLSIM_SERVER_NET_EXPOSER_STOP_H_
#define CELLSIM_SERVER_NET_EXPOSER_STOP_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>

#include "server/net/asio.h"

namespace cellsim::net {

inline constexpr uint32_t kExposerWakeIntervalMs = 5;
inline constexpr int kMaxExposerWakes = 1000;

// Destroys *exposer (a std::unique_ptr<prometheus::Exposer>) while poking
// `endpoint`, its listening address, so the destruction does not wait.
// REQUIRES: exposer != nullptr.
template <typename Exposer>
void reset_exposer_waking(std::unique_ptr<Exposer>* exposer, const tcp::endpoint& endpoint) {
  std::atomic<bool> stopped{false};
  std::thread waker([&stopped, endpoint] {
    asio::io_context io(1);
    for (int i = 0; i < kMaxExposerWakes && !stopped.load(); ++i) {
      tcp::socket poke(io);
      error_code ignored;
      poke.connect(endpoint, ignored);
      poke.close(ignored);
      std::this_thread::sleep_for(std::chrono::milliseconds(kExposerWakeIntervalMs));
    }
  });
  exposer->reset();
  stopped = true;
  waker.join();
}

}  // namespace cellsim::net

#endif  // CELLSIM_SERVER_NET_EXPOSER_STOP_H_
