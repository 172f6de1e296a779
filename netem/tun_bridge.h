// The packet-level link emulator (issue 11): two network namespaces, the
// agents' ("<tag>a") and the server's ("<tag>s"), each with a TUN device,
// and a thread between them that reads every IPv4 packet from one TUN,
// passes it through the Impairment of its member and direction, and writes
// it to the other TUN at the verdict's delivery time. The kernels' own TCP
// on either side then does retransmission, head-of-line blocking and
// congestion control.
//
// Addresses (only inside the two namespaces):
//   server            10.212.0.1 on the server namespace's TUN
//   member m          10.213.0.0 + m + 1 (member_address(m)); the whole
//                     10.213.0.0/16 is local in the agents' namespace, so a
//                     socket there can bind any member's address; 10.213.0.1
//                     (member 0) is on its TUN as the default source.
//   routes            agents: 10.212.0.0/16 via its TUN; server: 10.213.0.0/16
//                     via its TUN.
// A packet is member m's by its source address going up (agents → server)
// and its destination address going down. Packets of no member are
// forwarded unimpaired (counted); non-IPv4 packets are dropped (counted).
//
// Each member has one Impairment per direction and one OutageSchedule
// shared by both, all seeded from BridgeConfig::seed (netem/impairment.h:
// packet k's draws depend on (seed, member, direction, k) only). Time is the
// steady clock, in ns since the bridge started.
//
// Invariants: every packet read is written once, dropped once or counted as
// an overflow; at most kMaxPacketsInFlight packets wait for delivery.
//
// Thread-safety: create() and the destructor on one thread; stats() from
// any thread. The forwarding thread owns the impairments.
#ifndef CELLSIM_NETEM_TUN_BRIDGE_H_
#define CELLSIM_NETEM_TUN_BRIDGE_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cellsim/v1/scenario.pb.h"
#include "netem/impairment.h"
#include "netem/netns.h"

namespace cellsim::netem {

// Members one bridge tells apart (the /16's host addresses, less the ends).
inline constexpr size_t kMaxBridgeMembers = 65'000;
// Packets delayed inside the bridge at once; more are dropped (overflow).
inline constexpr size_t kMaxPacketsInFlight = 100'000;
// Packets read from one TUN per wake-up, so neither side starves the other.
inline constexpr int kMaxReadsPerWake = 64;
// Largest packet a TUN read returns (its MTU is 1500; this is IPv4's max).
inline constexpr size_t kMaxPacketBytes = 65'535;
// Name of the TUN device in both namespaces.
inline constexpr const char* kBridgeTunName = "cstun0";

std::string server_address();                 // "10.212.0.1"
std::string member_address(uint64_t member);  // REQUIRES: member < kMaxBridgeMembers

struct BridgeConfig;
// The drop-tail bounds member `member` gets: its profile's, else the
// config's defaults. REQUIRES: member < config.profiles.size().
uint32_t queue_limit_packets(const BridgeConfig& config, size_t member);
uint64_t queue_limit_bytes(const BridgeConfig& config, size_t member);

struct BridgeConfig {
  // Member m's profile is profiles[m]. REQUIRES: each non-null and outlives
  // the bridge; 1 <= size <= kMaxBridgeMembers.
  std::vector<const v1::NetworkProfile*> profiles;
  uint64_t seed = 1;
  // Empty: member m's random streams (outages, per-packet draws) are keyed
  // by m. Else member_ids[m] (the scenario's member number, as the frame
  // link keys its streams). REQUIRES: empty or profiles.size() entries.
  std::vector<uint64_t> member_ids;
  // The steady-clock instant that is the bridge's time 0 (outage processes
  // start there); the default: when create() runs.
  std::chrono::steady_clock::time_point origin{};
  // Empty, or member m's scheduled outage windows [from, to) in ns of the
  // bridge's time (mass outages). REQUIRES: empty or profiles.size() lists.
  std::vector<std::vector<std::pair<TimeNs, TimeNs>>> scheduled_outages;
  // Each member's drop-tail bounds (both directions) are its profile's
  // queue_limit_packets / queue_limit_bytes; a 0 there means these.
  // REQUIRES: each profile's queue_limit_packets <= kMaxQueueLimitPackets.
  uint32_t queue_limit_packets = kDefaultQueueLimitPackets;
  uint64_t queue_limit_bytes = kDefaultQueueLimitBytes;
  // Namespace tags are tag + "a" and tag + "s". REQUIRES: [a-z0-9]{1,31}.
  std::string tag = "br";
};

struct BridgeStats {
  uint64_t up_packets = 0;  // read from the agents' side
  uint64_t down_packets = 0;
  uint64_t delivered = 0;  // written to the other side
  uint64_t dropped_outage = 0;
  uint64_t dropped_queue = 0;
  uint64_t dropped_loss = 0;
  uint64_t unmatched = 0;  // IPv4 of no member: forwarded unimpaired
  uint64_t not_ipv4 = 0;   // dropped
  uint64_t overflow = 0;   // dropped: kMaxPacketsInFlight reached, or the write failed
  // Packets of member m read from each side (whatever their fate), [m].
  std::vector<uint64_t> member_up_packets, member_down_packets;
};

class TunBridge {
 public:
  // Creates both namespaces, their TUN devices, addresses and routes, and
  // starts forwarding. Null with *error on failure (whatever was made is
  // removed). REQUIRES: error != nullptr.
  static std::unique_ptr<TunBridge> create(const BridgeConfig& config, std::string* error);
  // Stops the thread, closes the TUN devices and removes both namespaces.
  ~TunBridge();
  TunBridge(const TunBridge&) = delete;
  TunBridge& operator=(const TunBridge&) = delete;

  const NetworkNamespace& agents_namespace() const { return *agents_ns_; }
  const NetworkNamespace& server_namespace() const { return *server_ns_; }
  BridgeStats stats() const;

 private:
  struct Counters;
  struct Loop;
  TunBridge() = default;

  std::unique_ptr<NetworkNamespace> agents_ns_;
  std::unique_ptr<NetworkNamespace> server_ns_;
  std::unique_ptr<TunDevice> agents_tun_;
  std::unique_ptr<TunDevice> server_tun_;
  std::unique_ptr<Counters> counters_;
  std::unique_ptr<Loop> loop_;
  int stop_fd_ = -1;  // eventfd: written once to stop the thread
  std::thread thread_;
};

}  // namespace cellsim::netem

#endif  // CELLSIM_NETEM_TUN_BRIDGE_H_
