#include "live/driver.h"



#include <google/protobuf/text_format.h>
#include <openssl/rand.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>

#include "agents/agent.h"
#include "host/host.h"
#include "host/host_core.h"
#include "host/run_record.h"
#include "live/live_metrics.h"
#include "metrics/recorder.h"
#include "netem/netns.h"
#include "netem/tun_bridge.h"
#include "proto/assert.h"
#include "proto/datagram.h"
#include "scenario/loader.h"
#include "scenario/plan.h"
#include "server/net/asio.h"
#include "server/net/config.h"
#include "server/net/server.h"
#include "server/net/tls.h"
#include "server/net/tls_certgen.h"

namespace cellsim::live {
namespace {

using agents::kNever;
using agents::kNsPerMs;
using agents::kNsPerS;
using agents::TimeNs;
using host::OutageSchedule;
namespace asio = net::asio;
using net::error_code;
using net::tcp;
using udp = net::asio::ip::udp;

// A connect attempt while the link is down fails after this long (SYN
// retries), as in the simulator.
constexpr TimeNs kConnectFailNs = 3 * kNsPerS;
// Bytes read from a socket at once (one buffer per connection).
constexpr size_t kReadChunkBytes = 4096;
// Frames waiting in a member's upstream link; more means the link cannot
// carry what the agent sends: the connection is closed.
constexpr size_t kMaxUpQueueFrames = 4096;
// Chunks waiting in a member's downstream link; at this many the socket is
// not read until the link drains (TCP's flow control pushes back).
constexpr size_t kMaxDownQueueChunks = 256;
// A downstream frame larger than this (the engine's limit) is not cut out.
constexpr size_t kMaxDownFrameBytes = wire::kFrameHeaderBytes + wire::kDefaultMaxFrameBytes;
// Rounds of a member's step loop at one instant (inputs then outputs).
constexpr int kMaxStepRounds = 64;
// Outputs taken from an agent per pump (an agent emits a few per input).
constexpr int kMaxOutputsPerPump = 10'000;
// Datagrams of one member on their way through its frame-mode link, each
// way; beyond it they are dropped (5 s of voice at 50 frames/s).
constexpr size_t kMaxDatagramQueue = 256;
constexpr size_t kKeyBytes = 32;
// Packet mode: the bridge's namespace tags are "ld<n>" + a/s, n counting the
// packet-mode runs of this process (the pid is in the name already).
std::atomic<uint64_t> packet_runs{0};

// One TCP connection: I/O only. The member decides what goes on it and when.
// With TLS, frames are encrypted as they are handed to the socket and what
// is read is decrypted before the link cuts it into frames.
struct Conn {
  explicit Conn(asio::io_context& io, uint32_t epoch_in) : socket(io), epoch(epoch_in) {}
  tcp::socket socket;
  std::unique_ptr<net::TlsSession> tls;  // null: plain TCP
  std::string cipher_out;                // TLS: ciphertext being written
  std::string plain_in;                  // TLS: plaintext of the last read
  uint32_t epoch;
  bool open = true;
  bool reading = false;
  bool writing = false;
  std::deque<wire::SharedFrame> write_queue;  // released by the link, in order
  bool close_after_writes = false;
  std::array<char, kReadChunkBytes> buf;
  std::string partial;  // downstream bytes of a frame not yet whole
};

// A member's UDP socket for the datagram transport: I/O only. Connected to
// the server's media port (`port`) on the target's address.
struct Udp {
  explicit Udp(asio::io_context& io) : socket(io) {}
  udp::socket socket;
  uint32_t port = 0;
  bool reading = false;
  // One more than the largest datagram: a longer one arrives truncated and
  // fails to open.
  std::array<char, wire::kMaxDatagramBytes + 1> buf;
};

// Bytes (or the end of the stream) on their way through a link.
struct Chunk {
  TimeNs at_ns = 0;
  uint32_t epoch = 0;
  bool close = false;
  wire::SharedFrame frame;  // upstream: a frame
  std::string bytes;        // downstream: what one read gave
};

}  // namespace

v1::Deployment plan_deployment(const v1::Scenario& s) {
  v1::Deployment d;
  for (const scenario::CellSlot& slot : scenario::cell_slots(s)) {
    *d.add_cells() = scenario::plan_cell(s, slot, 0).roster;
  }
  return d;
}

std::string deployment_text(const v1::Scenario& s) {
  std::string text;
  google::protobuf::TextFormat::PrintToString(plan_deployment(s), &text);
  return "# The planned rosters of scenario \"" + s.name() + "\", seed " +
         std::to_string(s.seed()) + " (cellsim load --write-deployment).\n" + text;
}

bool read_key_file(const std::string& path, std::string* key, std::string* why) {
  return net::load_key_file(path, key, why);
}

bool raise_fd_limit(uint64_t fds, std::string* why) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    *why = "getrlimit(RLIMIT_NOFILE) failed";
    return false;
  }
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur >= fds) return true;
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < fds) {
    *why = "this run needs " + std::to_string(fds) +
           " file descriptors but the hard limit (RLIMIT_NOFILE) is " +
           std::to_string(rl.rlim_max) + ": raise it (`ulimit -Hn " + std::to_string(fds) +
           "` as root; in a container, `docker run --ulimit nofile=" + std::to_string(fds) + ":" +
           std::to_string(fds) + "`; in a systemd unit, LimitNOFILE=; for a login, nofile in "
           "/etc/security/limits.conf), run cellmeetd as its own process (--target) so the "
           "driver needs one descriptor per member instead of two, or run fewer members";
    return false;
  }
  rl.rlim_cur = fds;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
    *why = "setrlimit(RLIMIT_NOFILE, " + std::to_string(fds) + ") failed: run `ulimit -n " +
           std::to_string(fds) + "` first or run fewer members";
    return false;
  }
  return true;
}

// The driver: every member's agent, link and connection, on one io_context.
class Driver : public host::HostCore {
 public:
  Driver(const v1::Scenario& s, const LoadOptions& o)
      : HostCore(s, &rec_, o.planted), s_(s), o_(o), packet_(o.link_mode == LinkMode::kPacket) {}
  // The members' timers and sockets belong to io_, which is destroyed
  // before the base class's members: they go first.
  ~Driver() override {
    shutdown();
    destroy_members();
  }

  bool build(std::string* why);
  LoadOutcome run();

 protected:
  // HostCore.
  TimeNs host_now() const override { return now(); }
  void latency_hook(metrics::Latency l, TimeNs value_ns) override;
  void traffic_hook(uint32_t m, bool sent, size_t bytes) override;
  void event_hook(uint32_t m, Event e, int64_t detail) override;
  void speech_hook(uint32_t m, const agents::SpeechResult& result) override;

 private:
  // A member as the live driver holds it: the host layer's member (agent,
  // link model, recorder indices) plus its socket and impairment queues.
  struct Member : host::HostMember {
    Member(asio::io_context& io, const v1::NetworkProfile* p, uint64_t seed, uint64_t id,
           TimeNs start_ns)
        : HostMember(p, seed, id, start_ns), timer(io) {}
    asio::steady_timer timer;
    TimeNs timer_at = kNever;
    std::shared_ptr<Conn> conn;  // the current connection, if any
    uint32_t epoch = 0;          // bumped whenever the transport is dropped
    bool transport_up = false;   // TCP connected (the agent may not know yet)
    bool connected = false;      // the agent was told
    TimeNs connect_done_at = kNever;  // handshake done (or, if failing, the failure)
    bool connect_failing = false;
    TimeNs outage_check_at = kNever;
    TimeNs break_at = kNever;
    TimeNs up_last_ns = 0, down_last_ns = 0;
    std::deque<Chunk> up_queue, down_queue;
    bool in_meeting = false;
    // The datagram transport: the socket (null until the first datagram),
    // frame mode's datagrams on their way by release time (each at most
    // kMaxDatagramQueue), and the agent's counts when last looked at.
    std::shared_ptr<Udp> udp;
    std::multimap<TimeNs, std::string> dgram_up, dgram_down;
    agents::DatagramCounts agent_counts;
  };

  Member& mem(uint32_t m) { return member_as<Member>(m); }
  TimeNs now() const {
    return start_ns_ + std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::steady_clock::now() - steady0_)
                           .count();
  }
  void step(uint32_t m);
  bool handshake_due(uint32_t m, TimeNs now);
  bool outage_due(uint32_t m, TimeNs now);
  bool deliver_down(uint32_t m, TimeNs now);
  bool release_up(uint32_t m, TimeNs now);
  void pump(uint32_t m, TimeNs now);
  void start_connect(uint32_t m, TimeNs now);
  void drop_transport(uint32_t m);
  void send_up(uint32_t m, TimeNs now, wire::SharedFrame frame, bool close);
  void start_write(uint32_t m, const std::shared_ptr<Conn>& c);
  void start_write_tls(uint32_t m, const std::shared_ptr<Conn>& c);
  void close_conn_after_writes(const std::shared_ptr<Conn>& c);
  void start_read(uint32_t m, const std::shared_ptr<Conn>& c);
  bool decrypt(const std::shared_ptr<Conn>& c, size_t n, std::string_view* plain);
  void tls_failed(const std::string& why);
  bool setup_tls(net::ServerOptions* embedded, std::string* why);
  std::string target_host_name(const net::ServerOptions* embedded) const;
  void on_read(uint32_t m, const std::shared_ptr<Conn>& c, std::string_view bytes, bool eof);
  void plan_outage_check(Member& mb, TimeNs now);
  void arm_timer(uint32_t m, TimeNs now);
  void on_tick();
  void finish(bool complete);
  bool build_embedded_server(const std::vector<scenario::CellSetup>& setups, uint64_t members,
                             std::string* key, std::string* why);
  bool build_target(std::string* key, std::string* why);
  bool build_bridge(const std::vector<scenario::CellSetup>& setups, std::string* why);
  bool open_in_agents_namespace(uint32_t m, tcp::socket* socket);
  TimeNs down_release_at(Member& mb, TimeNs t, size_t bytes);
  void cut_frames(uint32_t m, Conn& c, std::string_view bytes, TimeNs t);
  void read_ended(uint32_t m, Conn& c, TimeNs t);
  void enqueue_down(Member& mb, Chunk chunk);
  void send_datagram(uint32_t m, TimeNs now, std::string bytes);
  bool open_udp(uint32_t m);
  void write_udp(uint32_t m, const std::string& bytes);
  void start_udp_read(uint32_t m, const std::shared_ptr<Udp>& u);
  void on_udp_read(uint32_t m, std::string_view bytes);
  bool release_datagrams(uint32_t m, TimeNs now);
  void datagram_to_agent(uint32_t m, TimeNs now, std::string_view bytes);
  bool build_metrics(std::string* why);
  void shutdown();
  void record_server_figures(TimeNs t_end);
  Progress progress() const;

  // Packet mode's namespaces and emulator: declared first, so destroyed
  // last (after the server's and the members' sockets are closed).
  std::unique_ptr<netem::TunBridge> bridge_;
  const v1::Scenario& s_;
  const LoadOptions& o_;
  const bool packet_;  // o_.link_mode == kPacket
  uint64_t swept_namespaces_ = 0;
  // Frame mode with LoadOptions::record_link_decisions: member m's up link
  // at 2m, its down link at 2m + 1.
  std::vector<std::vector<host::FrameDecision>> link_decisions_;
  std::vector<const v1::NetworkProfile*> bridge_profiles_;  // member m's is [m]
  bool socket_error_seen_ = false;  // packet mode: one violation for the first
  asio::io_context io_;
  std::unique_ptr<net::Server> server_;
  std::unique_ptr<LiveMetrics> prom_;  // null when neither served nor pushed
  tcp::endpoint target_;
  std::shared_ptr<const net::TlsContext> tls_;  // null: plain TCP
  std::string tls_host_;                         // what the certificate must name
  uint64_t tls_failures_ = 0;
  std::string tls_error_;
  metrics::Recorder rec_;  // HostCore's (constructed after it: HostCore keeps only its address)
  std::chrono::steady_clock::time_point steady0_;
  TimeNs start_ns_ = 0;  // = start_ns(), kept for now()
  std::unique_ptr<asio::steady_timer> tick_;
  bool stopping_ = false;
  bool interrupted_ = false;
  uint64_t connected_now_ = 0, peak_connected_ = 0, joined_now_ = 0, disconnects_ = 0;
  uint64_t frames_sent_ = 0, frames_received_ = 0;
  uint64_t bytes_up_ = 0, bytes_down_ = 0;
  DatagramFigures dgrams_;
  uint64_t dgram_bytes_up_ = 0, dgram_bytes_down_ = 0;  // sealed, written and read
  uint64_t speech_intervals_ = 0;
  bool udp_error_seen_ = false;  // one violation for the first socket that cannot open
  uint64_t server_cpu_ns_ = 0;
  uint32_t server_threads_ = 0;  // the embedded server's threads; 0 for a target
};

bool Driver::build(std::string* why) {
  const double duration_s =
      o_.duration_s > 0 ? o_.duration_s : static_cast<double>(s_.duration_min()) * 60.0;
  if (duration_s > kMaxDurationS) {
    *why = "duration " + std::to_string(duration_s) + " s is more than the driver's bound of " +
           std::to_string(kMaxDurationS) + " s";
    return false;
  }
  steady0_ = std::chrono::steady_clock::now();
  start_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  const TimeNs end_ns = start_ns_ + static_cast<TimeNs>(duration_s * 1e9);
  std::vector<scenario::CellSetup> setups;
  uint64_t members = 0;
  for (const auto& slot : scenario::cell_slots(s_)) {
    setups.push_back(scenario::plan_cell(s_, slot, start_ns_));
    members += setups.back().members.size();
    if (members > kMaxMembers) {
      *why = "the scenario has more than " + std::to_string(kMaxMembers) +
             " members: more connections than one live driver holds (shard the cells)";
      return false;
    }
  }
  // Two descriptors per member with the embedded server (one with a
  // target), and its UDP socket with the datagram transport.
  const uint64_t per_member = (o_.target_host.empty() ? 2 : 1) +
                              (s_.media().transport() == v1::MEDIA_TRANSPORT_DATAGRAM ? 1 : 0);
  if (!raise_fd_limit(members * per_member + kSpareFds, why)) return false;
  if (packet_ && !build_bridge(setups, why)) return false;
  std::string key;
  if (o_.target_host.empty() ? !build_embedded_server(setups, members, &key, why)
                             : !build_target(&key, why)) {
    return false;
  }
  set_run(start_ns_, end_ns, key);
  register_profiles();
  const auto make = [this](const v1::NetworkProfile* p, uint64_t seed, uint64_t member_no,
                           TimeNs start_ns) {
    return std::make_unique<Member>(io_, p, seed, member_no, start_ns);
  };
  for (scenario::CellSetup& setup : setups) {
    add_cell(std::move(setup), make, /*send_media_frames=*/true);  // live: real MediaFrames
  }
  if (o_.record_link_decisions && !packet_) {
    link_decisions_.resize(2 * size_t{member_count()});
    for (uint32_t m = 0; m < member_count(); ++m) {
      mem(m).up.set_decision_log(&link_decisions_[2 * m]);
      mem(m).down.set_decision_log(&link_decisions_[2 * m + 1]);
    }
  }
  // The bridge knows member m by member_address(m): its profile must be m's.
  CELLSIM_ASSERT(!bridge_ || bridge_profiles_.size() == member_count());
  for (size_t m = 0; bridge_ && m < bridge_profiles_.size(); ++m) {
    CELLSIM_ASSERT(bridge_profiles_[m] == mem(static_cast<uint32_t>(m)).profile_spec);
  }
  return build_metrics(why);
}

// Packet mode: sweeps what killed runs left, then makes the two namespaces
// and the emulator, member m (in add_cell's order) on member_address(m)
// with its own profile.
bool Driver::build_bridge(const std::vector<scenario::CellSetup>& setups, std::string* why) {
  if (!o_.target_host.empty()) {
    *why = "--link packet needs the embedded server (a --target's sockets are outside the "
           "emulator's namespaces): drop --target or use --link frame";
    return false;
  }
  std::vector<std::string> errors;
  swept_namespaces_ = netem::sweep_stale_namespaces(&errors).size();
  netem::BridgeConfig config;
  config.seed = s_.seed();
  config.tag = "ld" + std::to_string(packet_runs.fetch_add(1));
  for (const scenario::CellSetup& setup : setups) {
    for (const scenario::MemberSetup& ms : setup.members) {
      if (config.profiles.size() >= netem::kMaxBridgeMembers) {
        *why = "--link packet holds at most " + std::to_string(netem::kMaxBridgeMembers) +
               " members (one address each); shard the cells or use --link frame";
        return false;
      }
      const v1::NetworkProfile& p = s_.profiles(ms.profile_pos);
      if (p.queue_limit_packets() > netem::kMaxQueueLimitPackets) {
        *why = "profile \"" + p.name() + "\": queue_limit_packets over " +
               std::to_string(netem::kMaxQueueLimitPackets);
        return false;
      }
      config.profiles.push_back(&p);
      // The same streams and windows as frame mode's link (host/host_core.cc).
      config.member_ids.push_back(ms.member_no);
      auto& windows = config.scheduled_outages.emplace_back();
      for (const auto& [from, to] : ms.outage_windows) {
        windows.emplace_back(from - start_ns_, to - start_ns_);
      }
    }
  }
  config.origin = steady0_;
  if (config.profiles.empty()) {
    *why = "--link packet: the scenario has no members";
    return false;
  }
  bridge_profiles_ = config.profiles;
  std::string error;
  bridge_ = netem::TunBridge::create(config, &error);
  if (!bridge_) {
    *why = "--link packet: " + error;
    return false;
  }
  return true;
}

// cellmeetd in this process on an ephemeral loopback port, holding the
// planned rosters, with a key made now.
bool Driver::build_embedded_server(const std::vector<scenario::CellSetup>& setups,
                                   uint64_t members, std::string* key, std::string* why) {
  key->assign(kKeyBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key->data()), kKeyBytes) != 1) {
    *why = "cannot generate a key (OpenSSL RAND_bytes failed)";
    return false;
  }
  net::ServerOptions so;
  so.listen_address = bridge_ ? netem::server_address() : "127.0.0.1";
  so.port = 0;
  so.metrics_enabled = false;
  so.threads = std::max(1u, o_.server_threads);
  server_threads_ = so.threads;
  so.max_connections = members + kSpareFds;
  so.key = *key;
  host::apply_scenario_settings(s_, &so.engine);
  for (const auto& c : setups) *so.deployment.add_cells() = c.roster;
  if (!setup_tls(&so, why)) return false;
  server_ = std::make_unique<net::Server>(std::move(so));
  bool started = false;
  if (bridge_) {
    // Its listening socket (and the threads it starts) in the server's
    // namespace; this thread returns to its own when `inside` ends.
    netem::ScopedNamespaceEntry inside(bridge_->server_namespace());
    if (!inside.ok()) {
      *why = "--link packet: " + inside.error();
      return false;
    }
    started = server_->start(why);
  } else {
    started = server_->start(why);
  }
  if (!started) {
    *why = "the embedded cellmeetd did not start: " + *why;
    return false;
  }
  target_ = bridge_ ? tcp::endpoint(asio::ip::make_address_v4(netem::server_address()),
                                    server_->port())
                    : tcp::endpoint(asio::ip::address_v4::loopback(), server_->port());
  return true;
}

// A cellmeetd the caller started: on loopback, with the caller's key.
bool Driver::build_target(std::string* key, std::string* why) {
  if (o_.key.empty()) {
    *why = "a target needs the server's key (--key FILE)";
    return false;
  }
  *key = o_.key;
  error_code ec;
  const auto addr = asio::ip::make_address(o_.target_host, ec);
  if (ec || !addr.is_loopback()) {
    *why = "the target must be a loopback address (127.0.0.0/8 or ::1), got \"" +
           o_.target_host + "\"";
    return false;
  }
  target_ = tcp::endpoint(addr, o_.target_port);
  return setup_tls(nullptr, why);
}

// The /metrics endpoint and the Pushgateway figures, when asked for.
bool Driver::build_metrics(std::string* why) {
  if (o_.metrics_port < 0 && o_.pushgateway_url.empty()) return true;
  prom_ = std::make_unique<LiveMetrics>();
  prom_->set_members(member_count());
  if (o_.metrics_port < 0) return true;
  if (o_.metrics_port > 65535) {
    *why = "the metrics port must be in 0..65535";
    return false;
  }
  return prom_->serve(static_cast<uint16_t>(o_.metrics_port), why);
}

// The agents' TLS context and, for the embedded server (`embedded`), its
// certificate: the given files, or made now (tls_generate).
bool Driver::setup_tls(net::ServerOptions* embedded, std::string* why) {
  const bool files = !o_.tls_cert_file.empty() || !o_.tls_key_file.empty();
  if (o_.tls_ca_file.empty() && !o_.tls_generate) {
    if (files) *why = "a TLS certificate and key need the CA file the agents trust (--tls-ca)";
    return !files;
  }
  if (o_.tls_generate && (!embedded || !o_.tls_ca_file.empty() || files)) {
    *why = embedded ? "a generated TLS certificate excludes --tls-ca, --tls-cert and --tls-key"
                    : "a generated TLS certificate is for the embedded server only (not --target)";
    return false;
  }
  tls_host_ = o_.tls_server_name.empty() ? target_host_name(embedded) : o_.tls_server_name;
  if (o_.tls_generate) {
    net::PemCertKey ca, cert;
    std::vector<std::string> names = {"127.0.0.1", "localhost"};
    if (packet_) names.push_back(netem::server_address());
    if (!net::make_tls_ca("cellsim load CA", &ca, why) ||
        !net::make_tls_server_cert(ca, names, &cert, why)) {
      return false;
    }
    embedded->tls.cert_pem = cert.cert_pem;
    embedded->tls.key_pem = cert.key_pem;
    tls_ = net::TlsContext::client_from_pem(ca.cert_pem, why);
    return tls_ != nullptr;
  }
  if (embedded) {
    if (o_.tls_cert_file.empty() || o_.tls_key_file.empty()) {
      *why = "TLS with the embedded server needs its certificate and key (--tls-cert, --tls-key) "
             "or a generated one (--tls)";
      return false;
    }
    embedded->tls.cert_file = o_.tls_cert_file;
    embedded->tls.key_file = o_.tls_key_file;
  } else if (files) {
    *why = "--tls-cert and --tls-key are for the embedded server (the target has its own)";
    return false;
  }
  tls_ = net::TlsContext::client_from_file(o_.tls_ca_file, why);
  return tls_ != nullptr;
}

std::string Driver::target_host_name(const net::ServerOptions* embedded) const {
  if (!embedded) return o_.target_host;
  return packet_ ? netem::server_address() : std::string("127.0.0.1");
}

void Driver::tls_failed(const std::string& why) {
  if (tls_failures_++ == 0) tls_error_ = why;
}

// --- One member's step: inputs due now, then the agent's outputs ----------------

void Driver::step(uint32_t m) {
  if (stopping_) return;
  Member& mb = mem(m);
  for (int round = 0; round < kMaxStepRounds; ++round) {
    const TimeNs t = now();
    bool any = handshake_due(m, t);
    any |= outage_due(m, t);
    any |= deliver_down(m, t);
    if (mb.conn && !mb.conn->reading && mb.down_queue.size() < kMaxDownQueueChunks) {
      start_read(m, mb.conn);
    }
    any |= release_up(m, t);
    any |= release_datagrams(m, t);
    const auto due = mb.agent->poll_timeout();
    if (due && *due <= t) {
      any = true;
      mb.agent->handle_timeout(t);
    }
    pump(m, t);
    if (!any) break;
  }
  arm_timer(m, now());
}

// The handshake done (the agent is told it is connected) or a connect
// attempt failed, if due at `t`. True if anything happened.
bool Driver::handshake_due(uint32_t m, TimeNs t) {
  Member& mb = mem(m);
  if (mb.connect_done_at > t) return false;
  mb.connect_done_at = kNever;
  if (mb.connect_failing) {
    mb.connect_failing = false;
    drop_transport(m);
    mb.agent->handle_disconnected(t);
    return true;
  }
  mb.connected = true;
  mb.up_last_ns = mb.down_last_ns = t;
  if (!packet_) {  // packet mode: the emulator drops packets in outages
    mb.up.reset(t);
    mb.down.reset(t);
    plan_outage_check(mb, t);
  }
  mb.agent->handle_connected(t);
  return true;
}

// An outage beginning (one longer than the liveness window breaks the
// connection when the window has passed), or the planned break, if due.
bool Driver::outage_due(uint32_t m, TimeNs t) {
  Member& mb = mem(m);
  bool any = false;
  if (mb.outage_check_at <= t) {
    any = true;
    mb.outage_check_at = kNever;
    if (mb.connected) {
      const auto w = mb.outages.next_window(t);
      if (w.start <= t && mb.outage_recovery_ns(t, w.end) - t >= liveness_ns()) {
        mb.break_at = t + liveness_ns();
      } else {
        const auto next = mb.outages.window_after(std::max(w.end, t));
        if (next.start != OutageSchedule::kNoOutage && next.start < end_ns()) {
          mb.outage_check_at = std::max(next.start, t + 1);
        }
      }
    }
  }
  if (mb.break_at <= t) {
    any = true;
    mb.break_at = kNever;
    if (mb.connected) {
      drop_transport(m);
      mb.agent->handle_disconnected(t);
    }
  }
  return any;
}

// What the downstream link delivers by `t`, handed to the agent.
bool Driver::deliver_down(uint32_t m, TimeNs t) {
  Member& mb = mem(m);
  bool any = false;
  while (!mb.down_queue.empty() && mb.down_queue.front().at_ns <= t) {
    any = true;
    Chunk c = std::move(mb.down_queue.front());
    mb.down_queue.pop_front();
    if (c.epoch != mb.epoch) continue;
    if (c.close) {
      // Before the handshake is done this is a failed connect attempt.
      drop_transport(m);
      mb.agent->handle_disconnected(t);
    } else if (mb.connected) {
      mb.agent->handle_bytes(t, c.bytes);
    }  // bytes before the handshake is done: the server refusing; dropped
  }
  return any;
}

// What the upstream link releases by `t`, handed to the socket.
bool Driver::release_up(uint32_t m, TimeNs t) {
  Member& mb = mem(m);
  bool any = false;
  while (!mb.up_queue.empty() && mb.up_queue.front().at_ns <= t) {
    any = true;
    Chunk c = std::move(mb.up_queue.front());
    mb.up_queue.pop_front();
    if (!mb.conn || c.epoch != mb.conn->epoch) continue;
    if (c.close) {
      mb.conn->close_after_writes = true;
    } else {
      mb.conn->write_queue.push_back(std::move(c.frame));
    }
    start_write(m, mb.conn);
  }
  return any;
}

void Driver::pump(uint32_t m, TimeNs t) {
  Member& mb = mem(m);
  agents::AgentOutput out;
  for (int i = 0; i < kMaxOutputsPerPump && mb.agent->poll_output(&out); ++i) {
    switch (out.kind) {
      case agents::AgentOutput::Kind::kConnect: start_connect(m, t); break;
      case agents::AgentOutput::Kind::kTransmit: send_up(m, t, std::move(out.frame), false); break;
      case agents::AgentOutput::Kind::kClose:
        // A connect or handshake in progress is abandoned at once (as the
        // simulator does); an established connection closes after its writes.
        if (mb.connected) {
          send_up(m, t, nullptr, true);
        } else {
          drop_transport(m);
        }
        break;
    }
  }
  std::string bytes;
  for (int i = 0; i < kMaxOutputsPerPump && mb.agent->poll_datagram(&bytes); ++i) {
    send_datagram(m, t, std::move(bytes));
  }
}

void Driver::arm_timer(uint32_t m, TimeNs t) {
  Member& mb = mem(m);
  TimeNs at = std::min({mb.connect_done_at, mb.outage_check_at, mb.break_at});
  if (!mb.down_queue.empty()) at = std::min(at, mb.down_queue.front().at_ns);
  if (!mb.up_queue.empty()) at = std::min(at, mb.up_queue.front().at_ns);
  if (!mb.dgram_up.empty()) at = std::min(at, mb.dgram_up.begin()->first);
  if (!mb.dgram_down.empty()) at = std::min(at, mb.dgram_down.begin()->first);
  if (const auto due = mb.agent->poll_timeout()) at = std::min(at, *due);
  if (at == kNever || at >= end_ns()) {
    if (mb.timer_at != kNever) mb.timer.cancel();
    mb.timer_at = kNever;
    return;
  }
  at = std::max(at, t);
  if (at == mb.timer_at) return;
  mb.timer_at = at;
  mb.timer.expires_after(std::chrono::nanoseconds(at - t));
  mb.timer.async_wait([this, m](const error_code& ec) {
    if (ec || stopping_) return;
    mem(m).timer_at = kNever;
    step(m);
  });
}

// --- Transport ----------------------------------------------------------------

void Driver::drop_transport(uint32_t m) {
  Member& mb = mem(m);
  ++mb.epoch;
  if (mb.connected || mb.transport_up) {
    if (connected_now_ > 0) --connected_now_;
  }
  mb.connected = false;
  mb.transport_up = false;
  mb.connect_done_at = kNever;
  mb.connect_failing = false;
  mb.outage_check_at = kNever;
  mb.break_at = kNever;
  mb.down_queue.clear();
  mb.up_queue.clear();
  if (mb.conn) {
    mb.conn->open = false;
    error_code ec;
    mb.conn->socket.close(ec);
    mb.conn.reset();
  }
  if (mb.in_meeting) {
    mb.in_meeting = false;
    if (joined_now_ > 0) --joined_now_;
  }
}

void Driver::start_connect(uint32_t m, TimeNs t) {
  Member& mb = mem(m);
  drop_transport(m);
  TimeNs until;
  if (!packet_ && mb.outages.down_at(t, &until)) {
    mb.connect_failing = true;
    mb.connect_done_at = t + kConnectFailNs;
    return;
  }
  auto c = std::make_shared<Conn>(io_, mb.epoch);
  mb.conn = c;
  if (packet_ && !open_in_agents_namespace(m, &c->socket)) {
    mb.connect_failing = true;
    mb.connect_done_at = t;  // fails now (the agent backs off)
    return;
  }
  c->socket.async_connect(target_, [this, m, c, started_ns = t](const error_code& ec) {
    if (stopping_ || !c->open) return;
    Member& mb = mem(m);
    const TimeNs t = now();
    if (ec) {
      mb.connect_failing = true;
      mb.connect_done_at = t;  // refused: fails now (the agent backs off)
      step(m);
      return;
    }
    error_code ignored;
    c->socket.set_option(tcp::no_delay(true), ignored);
    if (tls_) {
      c->tls = net::TlsSession::client(*tls_, tls_host_);
      start_write(m, c);  // the ClientHello
    }
    mb.transport_up = true;
    ++connected_now_;
    peak_connected_ = std::max(peak_connected_, connected_now_);
    if (packet_) {
      // The real handshake crossed the emulator; a profile's `tls` without
      // real TLS adds one more round trip, as long as TCP's took.
      const bool emulate_tls = mb.profile_spec->tls() && !tls_;
      mb.connect_done_at = emulate_tls ? t + (t - started_ns) : t;
    } else {
      mb.connect_done_at = t + host::handshake_ns(mb);
    }
    start_read(m, c);
    step(m);
  });
}

// Packet mode: opens member m's socket in the agents' namespace, bound to
// its own address (so the emulator knows its packets). False if that
// failed (counted as a failed connect; the first reason is a violation).
bool Driver::open_in_agents_namespace(uint32_t m, tcp::socket* socket) {
  CELLSIM_ASSERT(bridge_ != nullptr);
  error_code ec;
  std::string failure;
  {
    netem::ScopedNamespaceEntry inside(bridge_->agents_namespace());
    if (inside.ok()) {
      socket->open(tcp::v4(), ec);
    } else {
      failure = inside.error();
    }
  }
  if (failure.empty() && !ec) {
    socket->bind(tcp::endpoint(asio::ip::make_address_v4(netem::member_address(m)), 0), ec);
  }
  if (failure.empty() && !ec) {
    // The kernel aborts a connection whose data stays unacknowledged for the
    // liveness window, as the simulator breaks one (host/link.h).
    using UserTimeout = asio::detail::socket_option::integer<IPPROTO_TCP, TCP_USER_TIMEOUT>;
    socket->set_option(UserTimeout(static_cast<int>(liveness_ns() / agents::kNsPerMs)), ec);
  }
  if (failure.empty() && ec) failure = "socket in the agents' namespace: " + ec.message();
  if (failure.empty()) return true;
  if (!socket_error_seen_) {
    socket_error_seen_ = true;
    violation("member " + std::to_string(m) + ": " + failure);
  }
  error_code ignored;
  socket->close(ignored);
  return false;
}

void Driver::plan_outage_check(Member& mb, TimeNs t) {
  const auto w = mb.outages.next_window(t);
  if (w.start == OutageSchedule::kNoOutage || w.start >= end_ns()) return;
  mb.outage_check_at = std::max(w.start, t);
}

void Driver::send_up(uint32_t m, TimeNs t, wire::SharedFrame frame, bool close) {
  Member& mb = mem(m);
  if (!mb.connected || !mb.conn) return;
  if (packet_) {  // straight to the socket: the emulator impairs the packets
    std::shared_ptr<Conn> c = mb.conn;
    if (close) {
      c->close_after_writes = true;
      mb.conn.reset();
      drop_transport(m);
    } else if (c->write_queue.size() >= kMaxUpQueueFrames) {
      violation("cell " + std::to_string(mb.agent->plan().cell_id) + " member " +
                std::to_string(mb.agent->plan().member_id) + ": socket write queue over " +
                std::to_string(kMaxUpQueueFrames) + " frames; connection closed");
      drop_transport(m);
      mb.agent->handle_disconnected(t);
      return;
    } else {
      c->write_queue.push_back(std::move(frame));
    }
    start_write(m, c);
    return;
  }
  if (mb.up_queue.size() >= kMaxUpQueueFrames) {
    violation("cell " + std::to_string(mb.agent->plan().cell_id) + " member " +
              std::to_string(mb.agent->plan().member_id) + ": upstream link queue over " +
              std::to_string(kMaxUpQueueFrames) + " frames; connection closed");
    drop_transport(m);
    mb.agent->handle_disconnected(t);
    return;
  }
  TimeNs at = close ? std::max(t + mb.up.draw_delay_ns(), mb.up_last_ns)
                    : mb.up.transmit(t, frame->size(), mb.rtt_ns);
  at = mb.after_outages(t, at, &mb.up);
  mb.up.stall_until(at);
  mb.up_last_ns = at;
  Chunk c;
  c.at_ns = at;
  c.epoch = mb.conn->epoch;
  c.close = close;
  c.frame = std::move(frame);
  mb.up_queue.push_back(std::move(c));
  if (close) {
    // The member's side is gone; the FIN travels on with the old connection.
    std::shared_ptr<Conn> old = mb.conn;
    std::deque<Chunk> pending = std::move(mb.up_queue);
    mb.conn.reset();
    drop_transport(m);
    // Keep the old connection's pending frames: hand them to the socket now,
    // in order (their link delay has mostly passed; close follows them).
    for (Chunk& p : pending) {
      if (!p.close) old->write_queue.push_back(std::move(p.frame));
    }
    old->close_after_writes = true;
    start_write(m, old);
  }
}

void Driver::close_conn_after_writes(const std::shared_ptr<Conn>& c) {
  if (c->close_after_writes && c->socket.is_open()) {
    error_code ec;
    c->socket.shutdown(tcp::socket::shutdown_both, ec);
    c->socket.close(ec);
    c->open = false;
  }
}

void Driver::start_write(uint32_t m, const std::shared_ptr<Conn>& c) {
  if (c->writing || stopping_) return;
  if (c->tls) {
    start_write_tls(m, c);
    return;
  }
  if (c->write_queue.empty()) {
    close_conn_after_writes(c);
    return;
  }
  if (!c->socket.is_open()) {
    c->write_queue.clear();
    return;
  }
  c->writing = true;
  wire::SharedFrame f = c->write_queue.front();
  asio::async_write(c->socket, asio::buffer(*f), [this, m, c, f](const error_code& ec, size_t) {
    c->writing = false;
    if (stopping_) return;
    if (ec) {
      c->write_queue.clear();
      return;  // the read side sees the broken connection
    }
    c->write_queue.pop_front();
    start_write(m, c);
  });
}

// TLS: encrypts every frame the link released (with the handshake's own
// output) and writes the ciphertext.
void Driver::start_write_tls(uint32_t m, const std::shared_ptr<Conn>& c) {
  for (; !c->write_queue.empty(); c->write_queue.pop_front()) {
    if (c->tls->write(*c->write_queue.front()) == net::TlsSession::Status::kFailed) break;
  }
  c->write_queue.clear();
  c->cipher_out.clear();
  c->tls->take_output(&c->cipher_out);
  if (c->cipher_out.empty()) {
    close_conn_after_writes(c);
    return;
  }
  if (!c->socket.is_open()) return;
  c->writing = true;
  asio::async_write(c->socket, asio::buffer(c->cipher_out),
                    [this, m, c](const error_code& ec, size_t) {
                      c->writing = false;
                      if (stopping_ || ec) return;  // the read side sees a broken connection
                      start_write(m, c);
                    });
}

void Driver::start_read(uint32_t m, const std::shared_ptr<Conn>& c) {
  if (c->reading || !c->open || stopping_) return;
  c->reading = true;
  c->socket.async_read_some(asio::buffer(c->buf), [this, m, c](const error_code& ec, size_t n) {
    c->reading = false;
    if (stopping_ || !c->open) return;
    std::string_view bytes(c->buf.data(), ec ? 0 : n);
    bool eof = static_cast<bool>(ec);
    if (!eof && c->tls) {
      eof = !decrypt(c, n, &bytes);
      start_write(m, c);  // what the records called for, if anything
    }
    on_read(m, c, bytes, eof);
  });
}

// TLS: the plaintext of what was read into c->buf. False when the stream
// ends (close_notify, or a failure: then counted and its reason kept).
bool Driver::decrypt(const std::shared_ptr<Conn>& c, size_t n, std::string_view* plain) {
  c->plain_in.clear();
  const auto status = c->tls->feed(std::string_view(c->buf.data(), n), &c->plain_in);
  *plain = c->plain_in;
  if (status == net::TlsSession::Status::kFailed) tls_failed(c->tls->error());
  return status == net::TlsSession::Status::kOk;
}

void Driver::on_read(uint32_t m, const std::shared_ptr<Conn>& c, std::string_view bytes,
                     bool eof) {
  Member& mb = mem(m);
  if (mb.conn != c) return;
  const TimeNs t = now();
  if (!bytes.empty()) cut_frames(m, *c, bytes, t);
  if (eof) read_ended(m, *c, t);
  if (!eof && mb.down_queue.size() < kMaxDownQueueChunks) start_read(m, c);
  step(m);
}

// When the downstream link hands over a frame of `bytes` whose last byte
// was read at `t`: frame mode draws it from the link model (each whole
// frame exactly once); packet mode now (the emulator delayed the packets).
TimeNs Driver::down_release_at(Member& mb, TimeNs t, size_t bytes) {
  if (packet_) return t;
  const TimeNs at = mb.after_outages(t, mb.down.transmit(t, bytes, mb.rtt_ns), &mb.down);
  mb.down.stall_until(at);
  return at;
}

void Driver::enqueue_down(Member& mb, Chunk chunk) {
  chunk.epoch = mb.epoch;
  mb.down_last_ns = chunk.at_ns;
  mb.down_queue.push_back(std::move(chunk));
}

// The link carries frames, as in the simulator: cuts what was read at frame
// boundaries and sends each whole frame through the link; the bytes of a
// frame not yet whole wait in c.partial for the reads that complete it.
void Driver::cut_frames(uint32_t m, Conn& c, std::string_view bytes, TimeNs t) {
  Member& mb = mem(m);
  c.partial.append(bytes);
  size_t pos = 0;
  // Every frame has a header: this bounds the loop by what was read (with
  // TLS one read may complete a record of more than kReadChunkBytes).
  const size_t max_frames = c.partial.size() / wire::kFrameHeaderBytes + 1;
  for (size_t i = 0; i < max_frames; ++i) {
    if (c.partial.size() - pos < wire::kFrameHeaderBytes) break;
    const auto* h = reinterpret_cast<const unsigned char*>(c.partial.data() + pos);
    const size_t len = wire::kFrameHeaderBytes +
                       ((size_t{h[0]} << 24) | (size_t{h[1]} << 16) | (size_t{h[2]} << 8) | h[3]);
    // A frame over the limit is passed on as is: the agent's decoder refuses it.
    const size_t take = len > kMaxDownFrameBytes ? c.partial.size() - pos : len;
    if (c.partial.size() - pos < take) break;
    Chunk chunk;
    chunk.at_ns = down_release_at(mb, t, take);
    chunk.bytes.assign(c.partial, pos, take);
    pos += take;
    enqueue_down(mb, std::move(chunk));
  }
  c.partial.erase(0, pos);
}

// The stream ended: what is left of a frame that never became whole goes
// with the end of the stream (not through the link model: it is no frame),
// then the end itself.
void Driver::read_ended(uint32_t m, Conn& c, TimeNs t) {
  Member& mb = mem(m);
  Chunk fin;
  fin.close = true;
  fin.at_ns =
      packet_ ? t
              : mb.after_outages(t, std::max(t + mb.down.draw_delay_ns(), mb.down_last_ns),
                                 &mb.down);
  if (!c.partial.empty()) {
    Chunk rest;
    rest.at_ns = fin.at_ns;
    rest.bytes = std::move(c.partial);
    c.partial.clear();
    enqueue_down(mb, std::move(rest));
  }
  enqueue_down(mb, std::move(fin));
  c.open = false;
  error_code ignored;
  c.socket.close(ignored);
}

// --- Datagrams -----------------------------------------------------------------

// A datagram member m's agent sealed at `t`: to its socket, in frame mode
// after its uplink (lost there, or released later by release_datagrams()).
void Driver::send_datagram(uint32_t m, TimeNs t, std::string bytes) {
  Member& mb = mem(m);
  ++dgrams_.polled;
  // On the member's link as the simulator counts a voice datagram: its
  // sealed bytes (without the UDP/IP headers).
  recorder().traffic(mb.cell_type, mb.profile).bytes_up += bytes.size();
  if (prom_) prom_->count_datagram(true);
  if (packet_) {  // the emulator impairs the packets
    write_udp(m, bytes);
    return;
  }
  TimeNs until;
  if (!mb.connected || mb.outages.down_at(t, &until)) {
    ++dgrams_.lost_up;
    if (prom_) prom_->count_datagram_dropped("link", 1);
    return;
  }
  const TimeNs at = mb.up.transmit_datagram(t, bytes.size());
  if (at == host::kDatagramLost) {
    ++dgrams_.lost_up;
    if (prom_) prom_->count_datagram_dropped("link", 1);
    return;
  }
  if (mb.dgram_up.size() >= kMaxDatagramQueue) {
    ++dgrams_.queue_drops_up;
    if (prom_) prom_->count_datagram_dropped("queue", 1);
    return;
  }
  mb.dgram_up.emplace(at, std::move(bytes));
}

// Member m's UDP socket, connected to the media port its agent was given
// (opened again when that changed). False when it cannot be had.
bool Driver::open_udp(uint32_t m) {
  Member& mb = mem(m);
  const uint32_t port = mb.agent->media_port();
  if (port == 0 || port > 65535) return false;
  if (mb.udp && mb.udp->port == port && mb.udp->socket.is_open()) return true;
  if (mb.udp) {
    error_code ignored;
    mb.udp->socket.close(ignored);
    mb.udp.reset();
  }
  auto u = std::make_shared<Udp>(io_);
  u->port = port;
  error_code ec;
  std::string failure;
  if (packet_) {
    netem::ScopedNamespaceEntry inside(bridge_->agents_namespace());
    if (inside.ok()) {
      u->socket.open(udp::v4(), ec);
    } else {
      failure = inside.error();
    }
    if (failure.empty() && !ec) {
      u->socket.bind(udp::endpoint(asio::ip::make_address_v4(netem::member_address(m)), 0), ec);
    }
  } else {
    u->socket.open(udp::v4(), ec);
    if (!ec) u->socket.bind(udp::endpoint(target_.address(), 0), ec);
  }
  if (failure.empty() && !ec) {
    u->socket.connect(udp::endpoint(target_.address(), static_cast<uint16_t>(port)), ec);
  }
  if (failure.empty() && !ec) u->socket.non_blocking(true, ec);
  if (failure.empty() && ec) failure = "UDP socket: " + ec.message();
  if (!failure.empty()) {
    if (!udp_error_seen_) {
      udp_error_seen_ = true;
      violation("member " + std::to_string(m) + ": " + failure);
    }
    error_code ignored;
    u->socket.close(ignored);
    return false;
  }
  mb.udp = u;
  start_udp_read(m, u);
  return true;
}

void Driver::write_udp(uint32_t m, const std::string& bytes) {
  if (!open_udp(m)) {
    ++dgrams_.send_errors;
    return;
  }
  error_code ec;
  mem(m).udp->socket.send(asio::buffer(bytes), 0, ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again ||
      ec == asio::error::no_buffer_space) {
    ++dgrams_.queue_drops_up;
    if (prom_) prom_->count_datagram_dropped("queue", 1);
  } else if (ec) {
    ++dgrams_.send_errors;  // e.g. the port refused an earlier one (ICMP)
  } else {
    ++dgrams_.sent;
    dgram_bytes_up_ += bytes.size();
  }
}

void Driver::start_udp_read(uint32_t m, const std::shared_ptr<Udp>& u) {
  if (u->reading || stopping_ || !u->socket.is_open()) return;
  u->reading = true;
  u->socket.async_receive(asio::buffer(u->buf), [this, m, u](const error_code& ec, size_t n) {
    u->reading = false;
    if (stopping_ || !u->socket.is_open() || mem(m).udp != u) return;
    if (ec == asio::error::operation_aborted) return;
    // The datagram is handled before the next read is started: Asio may
    // receive speculatively, at once, into the same buffer (the next
    // datagram overwriting this one, which then came twice: a replay).
    if (!ec) on_udp_read(m, std::string_view(u->buf.data(), n));
    // Another error (an ICMP port unreachable for an earlier send): read on.
    if (mem(m).udp == u) start_udp_read(m, u);
  });
}

// A datagram read from member m's socket: to the agent, in frame mode after
// its downlink.
void Driver::on_udp_read(uint32_t m, std::string_view bytes) {
  Member& mb = mem(m);
  const TimeNs t = now();
  ++dgrams_.received;
  dgram_bytes_down_ += bytes.size();
  if (prom_) prom_->count_datagram(false);
  if (packet_) {
    datagram_to_agent(m, t, bytes);
  } else {
    TimeNs until;
    const TimeNs at = !mb.connected || mb.outages.down_at(t, &until)
                          ? host::kDatagramLost
                          : mb.down.transmit_datagram(t, bytes.size());
    if (at == host::kDatagramLost) {
      ++dgrams_.lost_down;
      if (prom_) prom_->count_datagram_dropped("link", 1);
    } else if (mb.dgram_down.size() >= kMaxDatagramQueue) {
      ++dgrams_.queue_drops_down;
      if (prom_) prom_->count_datagram_dropped("queue", 1);
    } else {
      mb.dgram_down.emplace(at, std::string(bytes));
    }
  }
  step(m);
}

// Frame mode: the datagrams member m's links release by `t`.
bool Driver::release_datagrams(uint32_t m, TimeNs t) {
  Member& mb = mem(m);
  bool any = false;
  while (!mb.dgram_up.empty() && mb.dgram_up.begin()->first <= t) {
    any = true;
    write_udp(m, mb.dgram_up.begin()->second);
    mb.dgram_up.erase(mb.dgram_up.begin());
  }
  while (!mb.dgram_down.empty() && mb.dgram_down.begin()->first <= t) {
    any = true;
    const std::string bytes = std::move(mb.dgram_down.begin()->second);
    mb.dgram_down.erase(mb.dgram_down.begin());
    datagram_to_agent(m, t, bytes);
  }
  return any;
}

// Hands a datagram to member m's agent and counts what the agent dropped.
void Driver::datagram_to_agent(uint32_t m, TimeNs t, std::string_view bytes) {
  Member& mb = mem(m);
  ++dgrams_.delivered;
  recorder().traffic(mb.cell_type, mb.profile).bytes_down += bytes.size();
  mb.agent->handle_datagram(t, bytes);
  const agents::DatagramCounts& now_counts = mb.agent->datagram_counts();
  if (prom_) {
    prom_->count_datagram_dropped("bad", now_counts.dropped_bad - mb.agent_counts.dropped_bad);
    prom_->count_datagram_dropped("stale",
                                  now_counts.dropped_stale - mb.agent_counts.dropped_stale);
    prom_->count_datagram_dropped("replayed",
                                  now_counts.dropped_replayed - mb.agent_counts.dropped_replayed);
  }
  mb.agent_counts = now_counts;
}

// --- Observer -------------------------------------------------------------------

void Driver::latency_hook(metrics::Latency l, TimeNs value_ns) {
  if (prom_) prom_->observe(l, value_ns);
}

void Driver::traffic_hook(uint32_t m, bool sent, size_t bytes) {
  (void)m;
  if (sent) {
    ++frames_sent_;
    bytes_up_ += bytes;
  } else {
    ++frames_received_;
    bytes_down_ += bytes;
  }
  if (prom_) prom_->count_frame(sent);
}

void Driver::event_hook(uint32_t m, Event e, int64_t detail) {
  (void)detail;
  Member& mb = mem(m);
  switch (e) {
    case Event::kConnected:
      if (prom_) prom_->count_connect();
      break;
    case Event::kDisconnected:
      ++disconnects_;
      if (prom_) prom_->count_disconnect();
      break;
    case Event::kJoined:
      if (!mb.in_meeting) {
        mb.in_meeting = true;
        ++joined_now_;
      }
      break;
    default: break;
  }
}

void Driver::speech_hook(uint32_t m, const agents::SpeechResult& result) {
  ++speech_intervals_;
  if (prom_) prom_->observe_speech(profile_spec(mem(m).profile).name(), result);
}

// --- Run ------------------------------------------------------------------------

Progress Driver::progress() const {
  Progress p;
  p.elapsed_s = static_cast<double>(now() - start_ns_) / 1e9;
  p.duration_s = static_cast<double>(end_ns() - start_ns_) / 1e9;
  p.members = member_count();
  p.connected = connected_now_;
  p.joined = joined_now_;
  p.frames_sent = frames_sent_;
  p.frames_received = frames_received_;
  p.disconnects = disconnects_;
  p.datagrams_sent = dgrams_.polled;
  p.datagrams_received = dgrams_.received;
  p.speech_intervals = speech_intervals_;
  p.server_port = target_.port();
  p.metrics_port = prom_ ? prom_->port() : 0;
  return p;
}

void Driver::on_tick() {
  if (stopping_) return;
  const TimeNs t = now();
  if (prom_) {
    prom_->set_connections(connected_now_);
    prom_->set_joined(joined_now_);
  }
  if (o_.on_progress && !o_.on_progress(progress())) {
    interrupted_ = true;
    io_.stop();
    return;
  }
  if (t >= end_ns()) {
    io_.stop();
    return;
  }
  const TimeNs every = std::max<TimeNs>(1, static_cast<TimeNs>(o_.progress_every_s * 1e9));
  tick_->expires_after(std::chrono::nanoseconds(std::min(every, end_ns() - t)));
  tick_->async_wait([this](const error_code& ec) {
    if (!ec) on_tick();
  });
}

void Driver::finish(bool complete) { finish_run(std::min(now(), end_ns()), complete); }

void Driver::shutdown() {
  if (!stopping_) {
    stopping_ = true;
    for (uint32_t m = 0; m < member_count(); ++m) {
      Member& mb = mem(m);
      error_code ec;
      mb.timer.cancel();
      if (mb.conn) {
        mb.conn->open = false;
        mb.conn->socket.close(ec);
      }
      if (mb.udp) mb.udp->socket.close(ec);
    }
    if (tick_) tick_->cancel();
    io_.restart();
    io_.poll();  // the aborted handlers run and return
  }
  if (server_) {
    server_cpu_ns_ = server_->cpu_ns();
    server_->stop();
    server_.reset();
  }
}

// The live server as node 0, seen from the members' side (frames and bytes
// they exchanged, voice datagrams' bytes included) and, when embedded, its threads' CPU time. The embedded
// server shares this process, so its memory is not told apart (peak_rss 0);
// bench/live_bench.cc measures it out of process.
void Driver::record_server_figures(TimeNs t_end) {
  metrics::ServerFigures& f = rec_.server(0);
  f.cores = server_threads_;
  f.elapsed_ns = static_cast<uint64_t>(std::max<TimeNs>(0, t_end - start_ns_));
  f.frames_in = frames_sent_;
  f.frames_out = frames_received_;
  // The server's traffic with the voice datagrams' (sealed bytes, as the
  // simulator counts them).
  f.egress_bytes = bytes_down_ + dgram_bytes_down_;
  f.ingress_bytes = bytes_up_ + dgram_bytes_up_;
  f.peak_connections = peak_connected_;
  f.cells = cell_count();
  f.process_cpu_ns = server_cpu_ns_;
  f.busy_ns = server_cpu_ns_;
}

LoadOutcome Driver::run() {
  LoadOutcome out;
  out.members = member_count();
  out.cells = cell_count();
  out.server_port = target_.port();
  const auto wall0 = std::chrono::steady_clock::now();
  const TimeNs t0 = now();
  for (uint32_t m = 0; m < member_count(); ++m) {
    mem(m).agent->start(t0);
    step(static_cast<uint32_t>(m));
  }
  tick_ = std::make_unique<asio::steady_timer>(io_);
  on_tick();
  io_.run();
  out.partial = interrupted_ || now() < end_ns();
  const TimeNs t_end = std::min(now(), end_ns());
  // Stop the traffic before the meetings are reported.
  stopping_ = true;
  finish(!out.partial);
  stopping_ = false;
  shutdown();

  host::RunFacts facts;
  facts.mode = "live";
  facts.scenario_file = o_.scenario_file;
  facts.calibration = o_.target_host.empty() ? "live (embedded cellmeetd)"
                                             : "live (target " + o_.target_host + ")";
  facts.partial = out.partial;
  facts.virtual_ns = static_cast<uint64_t>(t_end - start_ns_);
  facts.events = frames_sent_ + frames_received_;
  facts.frames = frames_sent_ + frames_received_;
  facts.wall_start = wall0;
  v1::RunInfo run = host::run_info(s_, facts);
  run.set_link_mode(link_mode_name(o_.link_mode));
  record_server_figures(t_end);
  out.results = host::make_results(s_, rec_, run);
  out.link_mode = o_.link_mode;
  out.swept_namespaces = swept_namespaces_;
  if (bridge_) out.bridge = bridge_->stats();
  out.link_decisions = std::move(link_decisions_);
  out.violation_count = violation_count();
  out.violations = violations();
  out.peak_connected = peak_connected_;
  out.datagrams = dgrams_;
  for (uint32_t m = 0; m < member_count(); ++m) {
    out.datagrams.pending_up += mem(m).dgram_up.size();
    out.datagrams.pending_down += mem(m).dgram_down.size();
    const agents::DatagramCounts& c = mem(m).agent->datagram_counts();
    agents::DatagramCounts& sum = out.datagrams.agents;
    sum.sent += c.sent;
    sum.binds_sent += c.binds_sent;
    sum.received += c.received;
    sum.accepted += c.accepted;
    sum.dropped_bad += c.dropped_bad;
    sum.dropped_stale += c.dropped_stale;
    sum.dropped_replayed += c.dropped_replayed;
    sum.dropped_queue += c.dropped_queue;
    sum.fallbacks += c.fallbacks;
    out.datagrams.fallback_members += c.fallbacks > 0;
  }
  out.speech_intervals = speech_intervals_;
  out.tls_failures = tls_failures_;
  out.tls_error = tls_error_;
  if (prom_) {
    out.metrics_port = prom_->port();
    prom_->set_connections(0);
    prom_->set_joined(0);
    // A failed push is reported by the caller; the run's results stand.
    if (!o_.pushgateway_url.empty()) prom_->push(o_.pushgateway_url, &out.push_error);
  }
  out.ok = true;
  return out;
}

LoadOutcome run_load(const v1::Scenario& scenario, const LoadOptions& options) {
  Driver d(scenario, options);
  std::string why;
  if (!d.build(&why)) {
    LoadOutcome out;
    out.error = why;
    return out;
  }
  return d.run();
}

}  // namespace cellsim::live
