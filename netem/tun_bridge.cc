#include "netem/tun_bridge.h"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <queue>

#include "proto/assert.h"

namespace cellsim::netem {
namespace {

constexpr uint32_t kServerAddress = 0x0AD40001;  // 10.212.0.1
constexpr uint32_t kAgentsBase = 0x0AD50000;     // 10.213.0.0/16

std::string dotted(uint32_t host_order) {
  in_addr a{htonl(host_order)};
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

TimeNs steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

uint32_t read_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

}  // namespace

std::string server_address() { return dotted(kServerAddress); }

std::string member_address(uint64_t member) {
  CELLSIM_ASSERT(member < kMaxBridgeMembers);
  return dotted(kAgentsBase + static_cast<uint32_t>(member) + 1);
}

uint32_t queue_limit_packets(const BridgeConfig& config, size_t member) {
  CELLSIM_ASSERT(member < config.profiles.size());
  const uint32_t own = config.profiles[member]->queue_limit_packets();
  return own != 0 ? own : config.queue_limit_packets;
}

uint64_t queue_limit_bytes(const BridgeConfig& config, size_t member) {
  CELLSIM_ASSERT(member < config.profiles.size());
  const uint64_t own = config.profiles[member]->queue_limit_bytes();
  return own != 0 ? own : config.queue_limit_bytes;
}

struct TunBridge::Counters {
  explicit Counters(size_t members)
      : member_up(new std::atomic<uint64_t>[members]()),
        member_down(new std::atomic<uint64_t>[members]()),
        member_count(members) {}
  std::atomic<uint64_t> up_packets{0}, down_packets{0}, delivered{0}, dropped_outage{0},
      dropped_queue{0}, dropped_loss{0}, unmatched{0}, not_ipv4{0}, overflow{0};
  std::unique_ptr<std::atomic<uint64_t>[]> member_up, member_down;  // member_count each
  size_t member_count;
};

// The forwarding thread's state: one member's two directions, and the
// packets waiting for their delivery time.
struct TunBridge::Loop {
  struct Member {
    std::unique_ptr<OutageSchedule> outages;
    std::unique_ptr<Impairment> up, down;
  };
  struct Pending {
    TimeNs deliver_at_ns;
    uint64_t seq;  // ties in arrival order
    bool to_server;
    std::vector<uint8_t> bytes;
  };
  struct Later {
    bool operator()(const Pending& a, const Pending& b) const {
      return a.deliver_at_ns != b.deliver_at_ns ? a.deliver_at_ns > b.deliver_at_ns : a.seq > b.seq;
    }
  };

  std::vector<Member> members;
  std::priority_queue<Pending, std::vector<Pending>, Later> pending;  // <= kMaxPacketsInFlight
  uint64_t next_seq = 0;
  TimeNs start_ns = 0;
  int agents_fd = -1, server_fd = -1, stop_fd = -1;
  Counters* counters = nullptr;

  // Member m's outage schedule and two impairments, as config says.
  void add_members(const BridgeConfig& config) {
    CELLSIM_ASSERT(config.member_ids.empty() || config.member_ids.size() == config.profiles.size());
    CELLSIM_ASSERT(config.scheduled_outages.empty() ||
                   config.scheduled_outages.size() == config.profiles.size());
    for (size_t m = 0; m < config.profiles.size(); ++m) {
      const v1::NetworkProfile* p = config.profiles[m];
      CELLSIM_ASSERT(p != nullptr);
      const uint64_t id = config.member_ids.empty() ? m : config.member_ids[m];
      Loop::Member member;
      member.outages = std::make_unique<OutageSchedule>(p->has_outages() ? &p->outages() : nullptr,
                                                        config.seed, id, 0);
      if (!config.scheduled_outages.empty()) {
        for (const auto& [from, to] : config.scheduled_outages[m]) {
          if (from < to) member.outages->add_window(from, to);
        }
      }
      ImpairmentConfig ic;
      ic.profile = p;
      ic.seed = config.seed;
      ic.member = id;
      ic.queue_limit_packets = queue_limit_packets(config, m);
      ic.queue_limit_bytes = queue_limit_bytes(config, m);
      ic.outages = member.outages.get();
      ic.direction = Direction::kUp;
      member.up = std::make_unique<Impairment>(ic);
      ic.direction = Direction::kDown;
      member.down = std::make_unique<Impairment>(ic);
      members.push_back(std::move(member));
    }
  }

  TimeNs now_ns() const { return steady_ns() - start_ns; }

  // Member index of a packet, or -1.
  int64_t member_of(const uint8_t* packet, bool up) const {
    const uint32_t addr = read_be32(packet + (up ? 12 : 16));
    if ((addr & 0xFFFF0000u) != kAgentsBase) return -1;
    const uint32_t host = addr & 0xFFFFu;
    if (host == 0 || host - 1 >= members.size()) return -1;
    return host - 1;
  }

  void enqueue(TimeNs deliver_at_ns, bool to_server, const uint8_t* data, size_t size) {
    if (pending.size() >= kMaxPacketsInFlight) {
      counters->overflow.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    pending.push({deliver_at_ns, next_seq++, to_server, std::vector<uint8_t>(data, data + size)});
  }

  void handle(const uint8_t* data, size_t size, bool up) {
    (up ? counters->up_packets : counters->down_packets).fetch_add(1, std::memory_order_relaxed);
    if (size < 20 || (data[0] >> 4) != 4) {
      counters->not_ipv4.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    const TimeNs now = now_ns();
    const int64_t m = member_of(data, up);
    if (m < 0) {
      counters->unmatched.fetch_add(1, std::memory_order_relaxed);
      enqueue(now, up, data, size);
      return;
    }
    (up ? counters->member_up : counters->member_down)[m].fetch_add(1, std::memory_order_relaxed);
    Impairment& imp = up ? *members[m].up : *members[m].down;
    const Verdict v = imp.handle_packet(now, static_cast<uint32_t>(size));
    switch (v.fate) {
      case Fate::kDeliver:
        enqueue(v.deliver_at_ns, up, data, size);
        break;
      case Fate::kDropOutage:
        counters->dropped_outage.fetch_add(1, std::memory_order_relaxed);
        break;
      case Fate::kDropQueue:
        counters->dropped_queue.fetch_add(1, std::memory_order_relaxed);
        break;
      case Fate::kDropLoss:
        counters->dropped_loss.fetch_add(1, std::memory_order_relaxed);
        break;
    }
  }

  // Reads what is waiting on one side, up to kMaxReadsPerWake packets.
  void drain(int fd, bool up, std::vector<uint8_t>& buf) {
    for (int i = 0; i < kMaxReadsPerWake; ++i) {
      const ssize_t n = read(fd, buf.data(), buf.size());
      if (n <= 0) return;  // EAGAIN (drained) or an error: poll tells again
      handle(buf.data(), static_cast<size_t>(n), up);
    }
  }

  void deliver_due() {
    const TimeNs now = now_ns();
    while (!pending.empty() && pending.top().deliver_at_ns <= now) {
      const Pending& p = pending.top();
      const ssize_t n = write(p.to_server ? server_fd : agents_fd, p.bytes.data(), p.bytes.size());
      if (n == static_cast<ssize_t>(p.bytes.size())) {
        counters->delivered.fetch_add(1, std::memory_order_relaxed);
      } else {
        counters->overflow.fetch_add(1, std::memory_order_relaxed);
      }
      pending.pop();
    }
  }

  void run() {
    std::vector<uint8_t> buf(kMaxPacketBytes);
    for (;;) {  // until the stop eventfd is written
      pollfd fds[3] = {{agents_fd, POLLIN, 0}, {server_fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
      timespec timeout{1, 0};  // wake at least once a second
      timespec* tp = &timeout;
      if (!pending.empty()) {
        const TimeNs wait_ns = std::max<TimeNs>(0, pending.top().deliver_at_ns - now_ns());
        if (wait_ns < 1'000'000'000) timeout = {0, static_cast<long>(wait_ns)};
      }
      const int rc = ppoll(fds, 3, tp, nullptr);
      if (rc < 0 && errno != EINTR) return;
      if (fds[2].revents & POLLIN) return;
      if (fds[0].revents & POLLIN) drain(agents_fd, /*up=*/true, buf);
      if (fds[1].revents & POLLIN) drain(server_fd, /*up=*/false, buf);
      deliver_due();
    }
  }
};

std::unique_ptr<TunBridge> TunBridge::create(const BridgeConfig& config, std::string* error) {
  CELLSIM_ASSERT(error != nullptr);
  CELLSIM_ASSERT(!config.profiles.empty() && config.profiles.size() <= kMaxBridgeMembers);
  std::unique_ptr<TunBridge> b(new TunBridge());
  b->counters_ = std::make_unique<Counters>(config.profiles.size());
  // On any failure below, `b`'s destructor removes what was made.
  if (!(b->agents_ns_ = NetworkNamespace::create(config.tag + "a", error))) return nullptr;
  if (!(b->server_ns_ = NetworkNamespace::create(config.tag + "s", error))) return nullptr;
  if (!(b->agents_tun_ = TunDevice::create(*b->agents_ns_, kBridgeTunName, error))) return nullptr;
  if (!(b->server_tun_ = TunDevice::create(*b->server_ns_, kBridgeTunName, error))) return nullptr;
  const std::string tun = kBridgeTunName;
  const std::vector<std::vector<std::string>> agents_cmds = {
      {"addr", "add", member_address(0) + "/32", "dev", tun},
      {"link", "set", tun, "up"},
      {"route", "add", "local", dotted(kAgentsBase) + "/16", "dev", "lo"},
      {"route", "add", dotted(kServerAddress & 0xFFFF0000u) + "/16", "dev", tun},
  };
  const std::vector<std::vector<std::string>> server_cmds = {
      {"addr", "add", server_address() + "/32", "dev", tun},
      {"link", "set", tun, "up"},
      {"route", "add", dotted(kAgentsBase) + "/16", "dev", tun},
  };
  for (const auto& c : agents_cmds) {
    if (!b->agents_ns_->ip(c, error)) return nullptr;
  }
  for (const auto& c : server_cmds) {
    if (!b->server_ns_->ip(c, error)) return nullptr;
  }

  b->loop_ = std::make_unique<Loop>();
  Loop& loop = *b->loop_;
  loop.add_members(config);
  b->stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (b->stop_fd_ < 0) {
    *error = std::string("eventfd: ") + std::strerror(errno);
    return nullptr;
  }
  loop.agents_fd = b->agents_tun_->fd();
  loop.server_fd = b->server_tun_->fd();
  loop.stop_fd = b->stop_fd_;
  loop.counters = b->counters_.get();
  loop.start_ns = config.origin == std::chrono::steady_clock::time_point{}
                      ? steady_ns()
                      : std::chrono::duration_cast<std::chrono::nanoseconds>(
                            config.origin.time_since_epoch())
                            .count();
  b->thread_ = std::thread([&loop] { loop.run(); });
  return b;
}

TunBridge::~TunBridge() {
  if (thread_.joinable()) {
    const uint64_t one = 1;
    const ssize_t n = write(stop_fd_, &one, sizeof one);
    CELLSIM_ASSERT(n == sizeof one);
    thread_.join();
  }
  if (stop_fd_ >= 0) close(stop_fd_);
  // The devices first, then the namespaces they live in.
  agents_tun_.reset();
  server_tun_.reset();
  agents_ns_.reset();
  server_ns_.reset();
}

BridgeStats TunBridge::stats() const {
  const Counters& c = *counters_;
  auto get = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  BridgeStats s{get(c.up_packets),     get(c.down_packets),  get(c.delivered),
                get(c.dropped_outage), get(c.dropped_queue), get(c.dropped_loss),
                get(c.unmatched),      get(c.not_ipv4),      get(c.overflow),
                {},                    {}};
  for (size_t m = 0; m < c.member_count; ++m) {
    s.member_up_packets.push_back(get(c.member_up[m]));
    s.member_down_packets.push_back(get(c.member_down[m]));
  }
  return s;
}

}  // namespace cellsim::netem
