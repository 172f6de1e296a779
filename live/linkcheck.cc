#include "live/linkcheck.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <limits>
#include <memory>
#include <queue>
#include <sstream>

#include "agents/rng.h"
#include "host/host_core.h"
#include "host/link.h"
#include "netem/netns.h"
#include "netem/tun_bridge.h"
#include "proto/assert.h"

namespace cellsim::live {
namespace {

using host::TimeNs;
constexpr TimeNs kNsPerMs = 1'000'000;
constexpr uint16_t kPort = 47'301;
constexpr TimeNs kConnectTimeoutNs = 60'000'000'000;
constexpr TimeNs kStartDelayNs = 200'000'000;
constexpr TimeNs kPollMaxNs = 10'000'000;  // one wait, at most
constexpr size_t kReadChunkBytes = 64 * 1024;
// A frame: u32 length (all of it), u8 kind, 3 bytes padding, i64 send time.
constexpr uint32_t kHeaderBytes = 16;
constexpr uint32_t kMaxFrameBytes = 64 * 1024;
// Unsent bytes one socket may hold in user space; past it the run fails.
constexpr size_t kMaxPendingBytes = 16 * 1024 * 1024;

enum Kind : uint8_t { kMedia = 0, kProbe = 1, kHeartbeat = 2, kEcho = 3 };

void add_sample(LinkCheckSeries* s, double ms) {
  ++s->delivered;
  if (s->ms.size() < kMaxLinkCheckSamples) s->ms.push_back(ms);
}

// One scheduled send of the workload.
struct Send {
  TimeNs at_ns;
  uint32_t conn;
  Kind kind;
  bool operator>(const Send& o) const { return at_ns > o.at_ns; }
};

// The workload's sends of connection `conn`, in time order per kind.
// Offsets within a period come from (seed, conn) so both sides agree.
std::vector<Send> schedule(const LinkCheckOptions& o, uint32_t conn) {
  agents::Rng rng(o.seed, agents::StreamKind::kCell, conn);
  const TimeNs end = static_cast<TimeNs>(o.duration_s * 1e9);
  std::vector<Send> out;
  auto add = [&](uint32_t period_ms, Kind kind) {
    if (period_ms == 0) return;
    const TimeNs period = TimeNs{period_ms} * kNsPerMs;
    for (TimeNs t = static_cast<TimeNs>(rng.uniform(0, 1) * period); t < end; t += period) {
      out.push_back({t, conn, kind});
    }
  };
  add(o.media_ms, kMedia);
  add(o.probe_ms, kProbe);
  add(o.heartbeat_ms, kHeartbeat);
  std::sort(out.begin(), out.end(), [](const Send& a, const Send& b) { return a.at_ns < b.at_ns; });
  return out;
}

uint32_t frame_bytes(const LinkCheckOptions& o, Kind k) {
  const uint32_t b = k == kMedia ? o.media_bytes : k == kProbe ? o.probe_bytes : o.heartbeat_bytes;
  return std::clamp(b, kHeaderBytes, kMaxFrameBytes);
}

LinkCheckSeries* series_of(LinkCheckSide* s, Kind k) {
  return k == kMedia ? &s->media : k == kProbe ? &s->probe : &s->heartbeat;
}

// --- The model ---------------------------------------------------------------

void model_connection(const LinkCheckOptions& o, const v1::NetworkProfile& profile,
                      uint32_t conn, TimeNs outage_origin_ns, LinkCheckSide* side) {
  v1::NetworkProfile p = profile;
  if (!o.outages) p.clear_outages();
  // A host's member: both directions (each the other's reverse) and the
  // outage schedule, seeded as the emulator's member `conn`.
  host::HostMember mb(&p, o.seed, conn, outage_origin_ns);
  host::LinkDirection& up = mb.up;
  host::LinkDirection& down = mb.down;
  // As the simulator sends: the link's delivery, then the outages' stall.
  auto send = [&mb](host::LinkDirection& dir, TimeNs now, uint32_t bytes, TimeNs rtt) {
    TimeNs at = dir.transmit(now, bytes, rtt);
    at = mb.after_outages(now, at, &dir);
    dir.stall_until(at);
    return at;
  };
  const TimeNs rtt = static_cast<TimeNs>(2e6 * p.base_one_way_ms());
  const TimeNs last_ns = static_cast<TimeNs>((o.duration_s + o.drain_s) * 1e9);
  // Both directions in time order (each carries the other's ACKs); a
  // heartbeat's echo is sent down when the heartbeat arrives.
  struct Event {
    TimeNs at_ns, sent_ns;
    Kind kind;
    uint64_t order;  // ties: in the order made
    bool operator>(const Event& e) const {
      return at_ns != e.at_ns ? at_ns > e.at_ns : order > e.order;
    }
  };
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> events;
  uint64_t made = 0;
  for (const Send& s : schedule(o, conn)) events.push({s.at_ns, s.at_ns, s.kind, made++});
  while (!events.empty()) {
    const Event e = events.top();
    events.pop();
    LinkCheckSeries* s = series_of(side, e.kind == kEcho ? kHeartbeat : e.kind);
    if (e.at_ns >= last_ns) {
      ++s->lost;
      continue;
    }
    if (e.kind == kHeartbeat) {
      events.push({send(up, e.at_ns, frame_bytes(o, kHeartbeat), rtt), e.sent_ns, kEcho, made++});
      continue;
    }
    host::LinkDirection& dir = o.media_up && e.kind != kEcho ? up : down;
    const TimeNs arrival = send(dir, e.at_ns, frame_bytes(o, e.kind), rtt);
    if (arrival >= last_ns) {
      ++s->lost;
    } else {
      add_sample(s, static_cast<double>(arrival - e.sent_ns) / 1e6);
    }
  }
  side->down_data_packets += down.stats().packets;
  side->down_retransmissions += down.stats().retransmissions;
  side->up_data_packets += up.stats().packets;
  side->up_retransmissions += up.stats().retransmissions;
  side->rto_expiries += up.stats().rto_expiries + down.stats().rto_expiries;
  side->fast_repairs += up.stats().fast_repairs + down.stats().fast_repairs;
}

// --- The kernel ---------------------------------------------------------------

TimeNs steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

sockaddr_in address_of(const std::string& ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  return a;
}

void set_nonblocking_nodelay(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

std::string errno_text(const char* what) { return std::string(what) + ": " + strerror(errno); }

// One end of a connection: its fd, what it has read and not parsed, what
// it has to write.
struct End {
  int fd = -1;
  std::string in, out;
  ~End() {
    if (fd >= 0) close(fd);
  }
};

class KernelRun {
 public:
  KernelRun(const LinkCheckOptions& o, LinkCheckResult* out) : o_(o), out_(out) {}

  bool run(std::string* error, const std::function<bool(const std::string&)>& progress);
  // The bridge's time 0 on the schedule's clock (negative: before it).
  TimeNs outage_origin_ns() const { return origin_ns_ - t0_ns_; }

 private:
  uint32_t conns() const { return static_cast<uint32_t>(members_.size()); }
  LinkCheckSide& side(uint32_t conn) { return out_->profiles[members_[conn]].kernel; }
  bool setup(std::string* error);
  bool connect_all(std::string* error);
  void write_frame(End* e, Kind kind, TimeNs stamp_ns);
  bool flush(End* e, std::string* error);
  bool read_end(End* e, uint32_t conn, bool server_side, TimeNs now, std::string* error);
  bool loop(std::string* error, const std::function<bool(const std::string&)>& progress);
  bool send_due(TimeNs now, std::string* error);
  std::pair<uint64_t, uint64_t> delivered_and_sent() const;
  bool poll_once(TimeNs now, std::string* error);
  void collect_tcp_info();

  const LinkCheckOptions& o_;
  LinkCheckResult* out_;
  std::vector<size_t> members_;  // connection → profile index
  std::deque<v1::NetworkProfile> profiles_;  // the options' less outages (stable addresses)
  std::unique_ptr<netem::TunBridge> bridge_;
  End listener_;
  std::vector<End> agents_, servers_;  // [conn]
  TimeNs t0_ns_ = 0;
  TimeNs origin_ns_ = 0;  // the bridge's time 0 (its outage processes start)
  std::vector<std::array<uint64_t, 4>> sent_;  // [conn][kind]
  std::priority_queue<Send, std::vector<Send>, std::greater<Send>> due_;  // the schedule
  std::vector<pollfd> fds_;  // [2 conn]: the member's end, the server's
};

bool KernelRun::setup(std::string* error) {
  netem::BridgeConfig config;
  for (const v1::NetworkProfile* p : o_.profiles) {
    profiles_.push_back(*p);
    if (!o_.outages) profiles_.back().clear_outages();
  }
  for (size_t p = 0; p < o_.profiles.size(); ++p) {
    for (uint32_t c = 0; c < o_.connections; ++c) {
      config.profiles.push_back(&profiles_[p]);
      members_.push_back(p);
    }
  }
  config.seed = o_.seed;
  config.tag = "lc";
  config.origin = std::chrono::steady_clock::now();
  origin_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(
                   config.origin.time_since_epoch())
                   .count();
  bridge_ = netem::TunBridge::create(config, error);
  if (!bridge_) return false;
  agents_ = std::vector<End>(conns());
  servers_ = std::vector<End>(conns());
  sent_.assign(conns(), {0, 0, 0, 0});
  {
    netem::ScopedNamespaceEntry inside(bridge_->server_namespace());
    if (!inside.ok()) return *error = inside.error(), false;
    listener_.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    const int one = 1;
    setsockopt(listener_.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    const sockaddr_in a = address_of(netem::server_address(), kPort);
    if (bind(listener_.fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 ||
        listen(listener_.fd, SOMAXCONN) != 0) {
      return *error = errno_text("listen"), false;
    }
  }
  netem::ScopedNamespaceEntry inside(bridge_->agents_namespace());
  if (!inside.ok()) return *error = inside.error(), false;
  const sockaddr_in server = address_of(netem::server_address(), kPort);
  for (uint32_t c = 0; c < conns(); ++c) {
    End& e = agents_[c];
    e.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const sockaddr_in a = address_of(netem::member_address(c), 0);
    if (e.fd < 0 || bind(e.fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
      return *error = errno_text("bind a member's address"), false;
    }
    set_nonblocking_nodelay(e.fd);
    if (connect(e.fd, reinterpret_cast<const sockaddr*>(&server), sizeof server) != 0 &&
        errno != EINPROGRESS) {
      return *error = errno_text("connect"), false;
    }
  }
  return true;
}

// Waits until every member's connect completed and the server accepted it.
bool KernelRun::connect_all(std::string* error) {
  const TimeNs deadline = steady_ns() + kConnectTimeoutNs;
  uint32_t accepted = 0;
  while (accepted < conns()) {
    if (steady_ns() > deadline) {
      return *error = std::to_string(conns() - accepted) + " connections not accepted within 60 s",
             false;
    }
    pollfd p{listener_.fd, POLLIN, 0};
    poll(&p, 1, 100);
    for (;;) {
      sockaddr_in peer{};
      socklen_t len = sizeof peer;
      const int fd = accept4(listener_.fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
      if (fd < 0) break;
      const uint32_t host = ntohl(peer.sin_addr.s_addr);
      const uint32_t base = ntohl(address_of(netem::member_address(0), 0).sin_addr.s_addr);
      const uint32_t conn = host - base;
      if (host < base || conn >= conns() || servers_[conn].fd >= 0) {
        close(fd);
        return *error = "a connection from an unexpected address", false;
      }
      set_nonblocking_nodelay(fd);
      servers_[conn].fd = fd;
      ++accepted;
    }
  }
  // Accepted means the handshake completed on both ends.
  return true;
}

void KernelRun::write_frame(End* e, Kind kind, TimeNs stamp_ns) {
  const uint32_t n = frame_bytes(o_, kind);
  const size_t at = e->out.size();
  e->out.resize(at + n, '\0');
  std::memcpy(&e->out[at], &n, 4);
  e->out[at + 4] = static_cast<char>(kind);
  std::memcpy(&e->out[at + 8], &stamp_ns, 8);
}

bool KernelRun::flush(End* e, std::string* error) {
  while (!e->out.empty()) {
    const ssize_t w = send(e->fd, e->out.data(), e->out.size(), MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return *error = errno_text("send"), false;
    }
    e->out.erase(0, static_cast<size_t>(w));
  }
  if (e->out.size() > kMaxPendingBytes) {
    return *error = "a connection's send backlog passed 16 MiB", false;
  }
  return true;
}

bool KernelRun::read_end(End* e, uint32_t conn, bool server_side, TimeNs now,
                         std::string* error) {
  char buf[kReadChunkBytes];
  for (;;) {
    const ssize_t n = recv(e->fd, buf, sizeof buf, 0);
    if (n == 0) return *error = "a connection closed early", false;
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return *error = errno_text("recv"), false;
    }
    e->in.append(buf, static_cast<size_t>(n));
  }
  size_t at = 0;
  while (e->in.size() - at >= kHeaderBytes) {
    uint32_t len;
    TimeNs stamp;
    std::memcpy(&len, &e->in[at], 4);
    std::memcpy(&stamp, &e->in[at + 8], 8);
    if (len < kHeaderBytes || len > kMaxFrameBytes) {
      return *error = "a corrupt frame", false;
    }
    if (e->in.size() - at < len) break;
    const Kind kind = static_cast<Kind>(e->in[at + 4]);
    at += len;
    if (server_side && kind == kHeartbeat) {  // echo it at once
      write_frame(&servers_[conn], kEcho, stamp);
      if (!flush(&servers_[conn], error)) return false;
      continue;
    }
    LinkCheckSeries* s = series_of(&side(conn), kind == kEcho ? kHeartbeat : kind);
    add_sample(s, static_cast<double>(now - t0_ns_ - stamp) / 1e6);
  }
  e->in.erase(0, at);
  return true;
}

bool KernelRun::send_due(TimeNs now, std::string* error) {
  while (!due_.empty() && t0_ns_ + due_.top().at_ns <= now) {
    const Send s = due_.top();
    due_.pop();
    const bool up = s.kind == kHeartbeat || o_.media_up;
    End* e = up ? &agents_[s.conn] : &servers_[s.conn];
    write_frame(e, s.kind, s.at_ns);
    ++sent_[s.conn][s.kind];
    if (!flush(e, error)) return false;
  }
  return true;
}

std::pair<uint64_t, uint64_t> KernelRun::delivered_and_sent() const {
  uint64_t delivered = 0, sent = 0;
  for (const LinkCheckProfileResult& p : out_->profiles) {
    delivered += p.kernel.probe.delivered + p.kernel.media.delivered + p.kernel.heartbeat.delivered;
  }
  for (const auto& k : sent_) sent += k[kMedia] + k[kProbe] + k[kHeartbeat];
  return {delivered, sent};
}

// Waits for the sockets (at most until the next send, 10 ms at most), then
// flushes and reads whichever are ready.
bool KernelRun::poll_once(TimeNs now, std::string* error) {
  for (uint32_t c = 0; c < conns(); ++c) {
    for (int side = 0; side < 2; ++side) {
      const End& e = side == 0 ? agents_[c] : servers_[c];
      fds_[2 * c + side] = {e.fd, static_cast<short>(POLLIN | (e.out.empty() ? 0 : POLLOUT)), 0};
    }
  }
  const TimeNs wake = due_.empty() ? now + kPollMaxNs : t0_ns_ + due_.top().at_ns;
  const timespec ts{0, static_cast<long>(std::clamp<TimeNs>(wake - now, 0, kPollMaxNs))};
  if (ppoll(fds_.data(), fds_.size(), &ts, nullptr) < 0 && errno != EINTR) {
    return *error = errno_text("poll"), false;
  }
  now = steady_ns();
  for (uint32_t c = 0; c < conns(); ++c) {
    for (int side = 0; side < 2; ++side) {
      const short ready = fds_[2 * c + side].revents;
      End* e = side == 0 ? &agents_[c] : &servers_[c];
      if ((ready & POLLOUT) && !flush(e, error)) return false;
      if ((ready & (POLLIN | POLLERR | POLLHUP)) && !read_end(e, c, side == 1, now, error)) {
        return false;
      }
    }
  }
  return true;
}

bool KernelRun::loop(std::string* error, const std::function<bool(const std::string&)>& progress) {
  for (uint32_t c = 0; c < conns(); ++c) {
    for (const Send& s : schedule(o_, c)) due_.push(s);
  }
  fds_.resize(2 * conns());
  t0_ns_ = steady_ns() + kStartDelayNs;
  const TimeNs hard_end = t0_ns_ + static_cast<TimeNs>((o_.duration_s + o_.drain_s) * 1e9);
  TimeNs next_progress = t0_ns_ + 1'000'000'000;
  // Bounded by hard_end: each pass waits at most kPollMaxNs.
  for (TimeNs now = steady_ns(); now < hard_end; now = steady_ns()) {
    if (!send_due(now, error)) return false;
    const auto [delivered, sent] = delivered_and_sent();
    if (due_.empty() && delivered == sent) break;
    if (progress && now >= next_progress) {
      next_progress += 1'000'000'000;
      const bool go = progress("linkcheck: " + std::to_string((now - t0_ns_) / 1'000'000'000) +
                               "/" + std::to_string(static_cast<int>(o_.duration_s)) + " s, " +
                               std::to_string(delivered) + "/" + std::to_string(sent) +
                               " frames delivered");
      if (!go) return *error = "interrupted", false;
    }
    if (!poll_once(now, error)) return false;
  }
  // What was sent and not delivered by the end is lost.
  for (uint32_t c = 0; c < conns(); ++c) {
    for (Kind k : {kMedia, kProbe, kHeartbeat}) series_of(&side(c), k)->lost += sent_[c][k];
  }
  for (LinkCheckProfileResult& p : out_->profiles) {
    for (LinkCheckSeries* s : {&p.kernel.probe, &p.kernel.media, &p.kernel.heartbeat}) {
      s->lost -= std::min(s->lost, s->delivered);
    }
  }
  return true;
}

void KernelRun::collect_tcp_info() {
  std::vector<uint32_t> per_profile(out_->profiles.size(), 0);
  for (uint32_t c = 0; c < conns(); ++c) {
    LinkCheckSide& k = side(c);
    tcp_info ti{};
    socklen_t len = sizeof ti;
    if (getsockopt(servers_[c].fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0) {
      k.down_data_packets += ti.tcpi_data_segs_out;
      k.down_retransmissions += ti.tcpi_total_retrans;
      k.down_segments += ti.tcpi_segs_out;
      k.cwnd_mean += ti.tcpi_snd_cwnd;
      ++per_profile[members_[c]];
    }
    len = sizeof ti;
    if (getsockopt(agents_[c].fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0) {
      k.up_data_packets += ti.tcpi_data_segs_out;
      k.up_retransmissions += ti.tcpi_total_retrans;
      k.up_segments += ti.tcpi_segs_out;
    }
  }
  for (size_t p = 0; p < out_->profiles.size(); ++p) {
    if (per_profile[p] > 0) out_->profiles[p].kernel.cwnd_mean /= per_profile[p];
  }
}

bool KernelRun::run(std::string* error, const std::function<bool(const std::string&)>& progress) {
  if (!setup(error) || !connect_all(error) || !loop(error, progress)) return false;
  collect_tcp_info();
  return true;
}

std::string read_congestion_control() {
  std::ifstream f("/proc/sys/net/ipv4/tcp_congestion_control");
  std::string s;
  std::getline(f, s);
  return s.empty() ? "unknown" : s;
}

void init_result(const LinkCheckOptions& o, LinkCheckResult* out) {
  CELLSIM_ASSERT(!o.profiles.empty());
  if (out->profiles.size() == o.profiles.size()) return;
  out->profiles.clear();
  for (const v1::NetworkProfile* p : o.profiles) out->profiles.push_back({p->name(), {}, {}});
}

}  // namespace

double LinkCheckSeries::quantile_ms(double q) const {
  if (ms.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::vector<double> v = ms;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

void run_linkcheck_model(const LinkCheckOptions& o, LinkCheckResult* out,
                         int64_t outage_origin_ns) {
  init_result(o, out);
  for (size_t p = 0; p < o.profiles.size(); ++p) {
    out->profiles[p].model = LinkCheckSide{};
    for (uint32_t c = 0; c < o.connections; ++c) {
      const uint32_t conn = static_cast<uint32_t>(p * o.connections + c);
      model_connection(o, *o.profiles[p], conn, outage_origin_ns, &out->profiles[p].model);
    }
  }
}

bool run_linkcheck(const LinkCheckOptions& o, LinkCheckResult* out, std::string* error,
                   const std::function<bool(const std::string&)>& progress) {
  CELLSIM_ASSERT(out != nullptr && error != nullptr);
  if (!netem::packet_mode_available(error)) return false;
  netem::sweep_stale_namespaces();
  init_result(o, out);
  out->congestion_control = read_congestion_control();
  KernelRun k(o, out);
  if (!k.run(error, progress)) return false;
  run_linkcheck_model(o, out, k.outage_origin_ns());
  return true;
}

std::string format_linkcheck(const LinkCheckResult& r) {
  std::ostringstream s;
  char line[256];
  s << "kernel congestion control: " << r.congestion_control << "\n";
  std::snprintf(line, sizeof line, "%-20s %-9s %-6s %8s %6s %9s %9s %9s %9s %9s\n", "profile",
                "metric", "side", "n", "lost", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms");
  s << line;
  for (const LinkCheckProfileResult& p : r.profiles) {
    const std::pair<const char*, const LinkCheckSide*> sides[] = {{"model", &p.model},
                                                                  {"kernel", &p.kernel}};
    for (const char* metric : {"probe", "media", "heartbeat"}) {
      for (const auto& [name, side] : sides) {
        const LinkCheckSeries& x = std::string(metric) == "probe"   ? side->probe
                                   : std::string(metric) == "media" ? side->media
                                                                    : side->heartbeat;
        if (x.delivered + x.lost == 0) continue;
        std::snprintf(line, sizeof line, "%-20s %-9s %-6s %8llu %6llu %9.1f %9.1f %9.1f %9.1f %9.1f\n",
                      p.profile.c_str(), metric, name,
                      static_cast<unsigned long long>(x.delivered),
                      static_cast<unsigned long long>(x.lost), x.quantile_ms(0.5),
                      x.quantile_ms(0.9), x.quantile_ms(0.99), x.quantile_ms(0.999),
                      x.quantile_ms(1.0));
        s << line;
      }
    }
    for (const auto& [name, side] : sides) {
      std::snprintf(line, sizeof line,
                    "%-20s counters  %-6s down %llu packets (%llu segments) %llu retx; up %llu packets "
                    "(%llu segments) %llu retx; fast %llu rto %llu; cwnd %.1f\n",
                    p.profile.c_str(), name, static_cast<unsigned long long>(side->down_data_packets),
                    static_cast<unsigned long long>(side->down_segments),
                    static_cast<unsigned long long>(side->down_retransmissions),
                    static_cast<unsigned long long>(side->up_data_packets),
                    static_cast<unsigned long long>(side->up_segments),
                    static_cast<unsigned long long>(side->up_retransmissions),
                    static_cast<unsigned long long>(side->fast_repairs),
                    static_cast<unsigned long long>(side->rto_expiries), side->cwnd_mean);
      s << line;
    }
  }
  return s.str();
}

}  // namespace cellsim::live
