// The server's capacity model (DESIGN.md, "Simulator"): what a frame costs a
// node's CPU and how its NIC serialises egress. The costs come from a
// calibration file (`cellsim calibrate` measures them on cellmeetd): a base
// cost per frame type plus a cost per frame it causes to be sent, a cost per
// engine timer run, and the TLS handshake's. The frame type is the one the
// engine itself reports (engine::EngineObserver::on_frame_in): the model
// never parses a frame.
//
// Invariants: costs are non-negative (the calibration is checked when
// loaded); a NIC's busy-until time never decreases.
//
// Thread-safety: none; one per simulation thread.
#ifndef CELLSIM_SIM_CAPACITY_H_
#define CELLSIM_SIM_CAPACITY_H_

#include <cstddef>
#include <string>
#include <vector>

#include "cellsim/v1/calibration.pb.h"
#include "cellsim/v1/wire.pb.h"
#include "server/engine/engine.h"
#include "sim/kernel.h"

namespace cellsim::sim {

// CPU microseconds by frame type, from a calibration.
class CostTable {
 public:
  // Frame types (Envelope body field numbers) the table holds.
  static constexpr size_t kMaxBodyCases = 64;

  // False with *why if the calibration names an unknown frame type.
  bool load(const v1::Calibration& calibration, std::string* why);

  // A frame of type `body` that made the engine send `outputs` frames.
  double cost_us(v1::Envelope::BodyCase body, size_t outputs) const;
  double timer_us() const { return timer_us_; }
  double tls_handshake_us() const { return tls_handshake_us_; }

 private:
  std::vector<double> base_us_;        // by body case
  std::vector<double> per_output_us_;  // by body case
  double default_base_us_ = 0;
  double default_per_output_us_ = 0;
  double timer_us_ = 0;
  double tls_handshake_us_ = 0;
};

// A node's NIC: egress serialised at its capacity, first come first served.
class Nic {
 public:
  explicit Nic(uint32_t egress_mbps) : ns_per_byte_(8e3 / std::max<uint32_t>(1, egress_mbps)) {}
  // A frame of `bytes` ready to leave at `at_ns`: when its last byte leaves.
  TimeNs send(TimeNs at_ns, size_t bytes) {
    const TimeNs start = std::max(at_ns, busy_until_ns_);
    busy_until_ns_ = start + static_cast<TimeNs>(static_cast<double>(bytes) * ns_per_byte_);
    return busy_until_ns_;
  }

 private:
  double ns_per_byte_;
  TimeNs busy_until_ns_ = 0;
};

// The engine's report of the frame types it handled: the type of the last
// frame handed to handle_bytes(), for pricing it.
class FrameTypeTap : public engine::EngineObserver {
 public:
  // Before each handle_bytes(): forget the last type.
  void reset() { last_in_ = v1::Envelope::BODY_NOT_SET; }
  v1::Envelope::BodyCase last_in() const { return last_in_; }

  void on_frame_in(v1::Envelope::BodyCase body) override { last_in_ = body; }
  void on_frame_out(v1::Envelope::BodyCase, uint32_t) override {}
  void on_error(v1::ErrorCode) override {}

 private:
  v1::Envelope::BodyCase last_in_ = v1::Envelope::BODY_NOT_SET;
};

}  // namespace cellsim::sim

#endif  // CELLSIM_SIM_CAPACITY_H_
