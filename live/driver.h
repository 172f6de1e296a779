// The live load driver (DESIGN.md, "Live mode"): the simulator's agents over
// real TCP against cellmeetd, one connection per member, each member's link
// profile applied in real time in one of two link modes (live/link_mode.h):
//
//   frame   over loopback, a user-space impairment layer per member and
//           direction (host/link.h's LinkDirection and OutageSchedule, on the
//           steady clock) holds each frame as the simulator's link would.
//   packet  the agents' sockets in one network namespace, the embedded
//           cellmeetd in another, netem::TunBridge between them impairing
//           every IP packet per member and direction; the kernels' TCP does
//           retransmission and head-of-line blocking; the driver adds no delay.
//
// Time. Agents see nanoseconds on the host's steady clock, offset so that the
// scenario's start is the driver's start, and that start is the wall clock's
// Unix time then (so tokens and the server's clock agree with the agents').
//
// Frame mode's impairment, per member and direction: each whole frame
// (upstream as the agent sends it; downstream cut from the bytes read, at
// the time its last byte was read) goes once through
// LinkDirection::transmit() and is released at the time it gives (delay +
// jitter, serialisation at the bandwidth, in-order delivery, Gilbert–Elliott
// loss as retransmission delay); what is left of an unfinished frame when
// the stream ends goes with the end of the stream. An outage holds the bytes
// until it ends plus one retransmission timeout; an outage longer than the
// liveness window (heartbeat interval × missed heartbeats) closes the socket
// when the window has passed, as the simulator breaks it; a connect attempt
// during an outage fails after kConnectFailNs. The connection waits one
// handshake round trip (two with TLS) after TCP connects before the agent
// hears it is connected.
//
// Packet mode (REQUIRES: no target): every run first sweeps the namespaces
// killed runs left (netem::sweep_stale_namespaces), then creates the bridge
// (namespaces "cellsim-<pid>-ld<n>a"/"...s", a TUN device in each; member m
// is member m of plan order, on netem::member_address(m), with its profile,
// the scenario seed, its member number's random streams, the scenario's mass
// outages, and its profile's queue bounds). The embedded cellmeetd is started
// by this thread inside the server's namespace (its listener on
// netem::server_address(); its threads start there too); each member's socket
// is opened by this thread inside the agents' namespace and bound to the
// member's address. Frames go straight to the socket and the agent; the agent
// hears it is connected when TCP connects. The bridge is destroyed after the
// server and the sockets (namespaces, devices and addresses removed), also
// when the run is stopped (on_progress returning false). The bridge's counts
// are in LoadOutcome::bridge.
//
// Server. With no target, cellmeetd is started inside the process on an
// ephemeral port (loopback, or the server's namespace in packet mode),
// holding exactly the planned rosters (plan_deployment()) and a key
// generated in-process. With a target, the
// caller passes the key, and the server must hold the same rosters.
//
// TLS (server/net/tls.h). With a CA file every agent's connection is TLS
// 1.3 and verifies the server's certificate against it (for the target's
// address, or tls_server_name); the embedded server then serves the given
// certificate and key. With tls_generate (embedded server only) the driver
// makes a CA and a certificate for 127.0.0.1 (and, in packet mode, the
// server's 10.212.0.1) at run time, in memory, and trusts that CA. The TLS
// handshake runs on the real socket beside the frame-mode impairment layer
// (which carries the frames' plaintext; a profile's `tls` still adds its
// second handshake round trip there; in packet mode the real handshake
// crosses the emulator and nothing is added). A connection whose
// handshake fails is a failed connect (the agent backs off and retries);
// the first failure's reason is reported (LoadOutcome::tls_error).
//
// Media transports (MediaPlan::transport). in_band: MediaFrames on the
// member's connection, impaired as every frame. datagram: when the server's
// Welcome offers a media port, each member's agent seals its voice (and its
// binds) as datagrams (proto/datagram.h), which the driver sends from the
// member's own UDP socket (opened at its first datagram; connected to the
// target's address and the media port; in packet mode opened in the agents'
// namespace and bound to the member's address, so the emulator impairs
// every datagram as it does the member's TCP packets), and hands what that
// socket receives to the agent. In frame mode each datagram goes once
// through the member's link model in its direction
// (LinkDirection::transmit_datagram: lost for good or delayed, sharing the
// bandwidth with the connection; lost while the member is not connected or
// its link is in an outage) and is sent, or handed to the agent, at the
// time that gives. A server that offers no media port (Welcome.media_port
// 0) gets in-band voice instead (LoadOutcome::datagrams.fallback_members).
// Listeners meter every speaker's interval they were present for
// (agents/voice.h) and report it (HostCore::on_speech: the results' voice
// figures, and /metrics).
//
// Observability: live/live_metrics.h's figures on a loopback /metrics
// endpoint while the driver runs, pushed to a Pushgateway at the end.
//
// Results: the same metric names and results message as `cellsim run`, with
// run.mode "live"; `cellsim merge` takes either.
//
// Bounds: at most kMaxMembers connections (netem::kMaxBridgeMembers in
// packet mode), at most kMaxDurationS seconds;
// every per-member queue is bounded (live/driver.cc names the constants;
// datagrams: kMaxDatagramQueue each way).
//
// Thread-safety: run_load() runs the whole driver on the calling thread (one
// io_context); on_progress is called on that thread. Distinct calls may run
// in parallel on distinct threads.
#ifndef CELLSIM_LIVE_DRIVER_H_
#define CELLSIM_LIVE_DRIVER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cellsim/v1/results.pb.h"
#include "cellsim/v1/scenario.pb.h"
#include "cellsim/v1/wire.pb.h"
#include "host/host_core.h"
#include "live/link_mode.h"
#include "netem/tun_bridge.h"

namespace cellsim::live {

namespace v1 = ::cellsim::v1;

inline constexpr uint64_t kMaxMembers = 200'000;
// File descriptors the driver keeps for itself (standard streams, epoll,
// timers, the /metrics endpoint and its clients, the Pushgateway push)
// besides one socket per member (two with the embedded server).
inline constexpr uint64_t kSpareFds = 64;
inline constexpr double kMaxDurationS = 24 * 3600;

// What the driver reports while it runs.
struct Progress {
  double elapsed_s = 0;
  double duration_s = 0;
  uint64_t members = 0;
  uint64_t connected = 0;     // transports up now
  uint64_t joined = 0;        // members in their meeting now
  uint64_t frames_sent = 0;   // so far
  uint64_t frames_received = 0;
  uint64_t disconnects = 0;
  uint64_t datagrams_sent = 0;      // to the server's media port, so far
  uint64_t datagrams_received = 0;  // from it
  uint64_t speech_intervals = 0;    // reported by listeners so far
  uint16_t server_port = 0;
  uint16_t metrics_port = 0;  // 0: not serving
};

struct LoadOptions {
  // Empty host: start cellmeetd in this process on 127.0.0.1, port 0.
  std::string target_host;
  uint16_t target_port = 0;
  std::string key;            // the server's HMAC key; required with a target
  double duration_s = 0;      // 0: the scenario's duration
  std::string scenario_file;  // recorded in the results
  unsigned server_threads = 1;  // the embedded server's
  // How often on_progress is called.
  double progress_every_s = 0.5;
  // Prometheus /metrics on 127.0.0.1 while the driver runs: -1 off, 0
  // ephemeral (the bound port is in Progress and LoadOutcome).
  int metrics_port = -1;
  // Non-empty: the final figures are pushed there (http://HOST[:PORT]).
  std::string pushgateway_url;
  // Called on the driver's thread; return false to stop (results partial).
  std::function<bool(const Progress&)> on_progress;
  // TLS: the CA certificates (PEM file) the server's certificate must chain
  // to; empty: plain TCP unless tls_generate.
  std::string tls_ca_file;
  // The name or IP address the certificate must carry; empty: the target's
  // address (127.0.0.1 for the embedded server).
  std::string tls_server_name;
  // The embedded server's certificate chain and key (PEM files); required
  // with tls_ca_file when there is no target.
  std::string tls_cert_file, tls_key_file;
  // Embedded server only, instead of the three files: TLS with a CA and a
  // server certificate made at run time.
  bool tls_generate = false;
  // kPacket: the agents in one network namespace, the embedded server in
  // another, every IP packet through netem/tun_bridge.h (REQUIRES: no
  // target; choose_link_mode() said it is available). kFrame: the frames
  // impaired in user space by host/link.h over loopback.
  LinkMode link_mode = LinkMode::kFrame;
  host::PlantedFaults planted;  // tests only
  // Frame mode, tests only: every frame's link decision is kept
  // (LoadOutcome::link_decisions); memory grows with the run.
  bool record_link_decisions = false;
};

// The datagram transport in one run (all zero with in_band).
// Invariants at the end of a run: polled = sent + lost_up + queue_drops_up +
// send_errors + pending_up; received = delivered + lost_down +
// queue_drops_down + pending_down; delivered = agents.received.
struct DatagramFigures {
  uint64_t polled = 0;       // sealed by the agents and taken by the driver
  uint64_t sent = 0;         // written to the members' UDP sockets
  uint64_t received = 0;     // read from them
  uint64_t delivered = 0;    // handed to the agents (frame mode: after the link)
  uint64_t lost_up = 0;      // frame mode: lost on the link model, in an outage or unconnected
  uint64_t lost_down = 0;
  uint64_t queue_drops_up = 0;    // a member's datagram queue full, or its socket would block
  uint64_t queue_drops_down = 0;  // a member's datagram queue full (frame mode)
  uint64_t send_errors = 0;  // the socket refused it (or could not be opened)
  // Frame mode: still on their way through the links when the run ended.
  uint64_t pending_up = 0;
  uint64_t pending_down = 0;
  agents::DatagramCounts agents;  // the agents' own counts, summed over the members
  // Members of which at least one session fell back to in-band (the server
  // offered no media port).
  uint64_t fallback_members = 0;
};

struct LoadOutcome {
  bool ok = false;
  std::string error;                    // when !ok: nothing ran
  v1::Results results;                  // with SLOs evaluated
  uint64_t violation_count = 0;
  std::vector<std::string> violations;  // each names the seed
  bool partial = false;
  uint64_t members = 0;
  uint64_t cells = 0;
  uint64_t peak_connected = 0;
  uint16_t server_port = 0;             // the embedded server's, or the target's
  uint16_t metrics_port = 0;            // the driver's /metrics, 0 if off
  std::string push_error;               // the Pushgateway push failed: why
  uint64_t tls_failures = 0;            // TLS handshakes or records that failed
  std::string tls_error;                // the first one's reason
  LinkMode link_mode = LinkMode::kFrame;  // as run (also in results.run)
  // With LoadOptions::record_link_decisions: member m's up link's decisions
  // at 2m, its down link's at 2m + 1, in frame order.
  std::vector<std::vector<host::FrameDecision>> link_decisions;
  // Packet mode: the emulator's counts at the end of the run (all zero in
  // frame mode), and the stale namespaces the run's start swept away.
  netem::BridgeStats bridge;
  uint64_t swept_namespaces = 0;
  DatagramFigures datagrams;
  uint64_t speech_intervals = 0;  // speech intervals the listeners reported (on_speech)
};

// The rosters of the planned cells: what a server must hold for the run.
v1::Deployment plan_deployment(const v1::Scenario& s);

// The same, in Protobuf text format: a cellmeetd --deployment file.
std::string deployment_text(const v1::Scenario& s);

// Reads a cellmeetd key file (hex) into the key's bytes. False with why.
bool read_key_file(const std::string& path, std::string* key, std::string* why);

// The engine settings a server needs for the scenario's rules are those of
// the simulator: quorum fraction, heartbeat interval, missed heartbeats.

// Raises RLIMIT_NOFILE's soft limit to hold `fds` descriptors. False with
// what to do in *why when the hard limit is too low.
bool raise_fd_limit(uint64_t fds, std::string* why);

// REQUIRES: scenario validated with defaults applied.
LoadOutcome run_load(const v1::Scenario& scenario, const LoadOptions& options);

}  // namespace cellsim::live

#endif  // CELLSIM_LIVE_DRIVER_H_
