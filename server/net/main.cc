// cellmeetd: the reference meeting server (server/net/server.h), and its
// key and token tools.
//
//   cellmeetd serve --key FILE --deployment FILE [options]
//   cellmeetd keygen --out FILE
//   cellmeetd mint-token --key FILE --deployment FILE --cell ID --member ID [--ttl-s N]
//   cellmeetd make-test-certs --out-dir DIR [--name NAME]...
//
// Exit codes: 0 success, 1 failure at run time (e.g. the port is in use),
// 2 a bad command line (the message names the flag).
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli/flags.h"
#include "server/engine/token.h"
#include "server/net/asio.h"
#include "server/net/config.h"
#include "server/net/server.h"
#include "server/net/tls.h"
#include "server/net/tls_certgen.h"

namespace cellsim::net {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

// Bounds of the numeric flags.
constexpr uint64_t kMaxPort = 65535;
constexpr uint64_t kMaxConnectionsFlag = 10'000'000;
constexpr uint64_t kMinHeartbeatIntervalMs = 100;
constexpr uint64_t kMaxHeartbeatIntervalMs = 3'600'000;
constexpr uint64_t kDefaultTokenTtlS = 24 * 3600;
constexpr uint64_t kMaxTokenTtlS = 10ull * 365 * 24 * 3600;
// Descriptors the server needs besides its connections: stdio, the listener,
// the metrics endpoint and its clients, the media socket (and each shard's
// descriptor of it), epoll and eventfds of each shard, the key, deployment
// and minutes files.
constexpr uint64_t kReservedFds = 64;

constexpr uint64_t kMaxMissedHeartbeats = 100;
constexpr uint32_t kMaxQuorumDen = 1000;

constexpr char kServeAbout[] =
    "Runs the meeting server until SIGTERM or SIGINT, then stops gracefully (every client\n"
    "gets Error SHUTTING_DOWN) and exits 0. Prints \"cellmeetd listening on ADDR:PORT,\n"
    "metrics on ADDR:MPORT, N shards, C cells\" (and \", TLS\" with TLS, then \", voice on\n"
    "udp UPORT\" unless --no-media) to stderr once listening. Voice datagrams: one UDP\n"
    "socket beside the TCP listener (--media-port), its port told to members in Welcome.";
constexpr char kKeygenAbout[] =
    "Writes a new random 32-byte key as hex to FILE (mode 0600; never overwrites).";
constexpr char kMintAbout[] =
    "Prints a member token as hex: the member's standing and role come from the\n"
    "deployment's roster; a member not on the roster is refused.";
constexpr char kCertsAbout[] =
    "For tests and demos (not a production CA): makes a CA and a server certificate it signs\n"
    "for the names (IP addresses or DNS names; default 127.0.0.1 and localhost), ECDSA\n"
    "P-256, valid 30 days, and writes DIR/ca.pem, DIR/server.pem and DIR/server.key (mode\n"
    "0600) for serve --tls-cert/--tls-key and the clients' --tls-ca.";
constexpr char kExits[] = "exit: 0 success, 1 run-time failure, 2 bad command line.";

int failure(const std::string& message) {
  std::cerr << "cellmeetd: " << message << "\n";
  return kExitFailed;
}

// Validators of serve's flags with a shape of their own ("" when allowed).
std::string check_address(const std::string& v) {
  error_code ec;
  asio::ip::make_address(v, ec);
  return ec ? "\"" + v + "\" is not an IP address" : "";
}

std::string check_directory(const std::string& v) {
  struct stat st {};
  if (::stat(v.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return "";
  return v + " is not a directory";
}

// NUM/DEN with 0 < NUM <= DEN <= kMaxQuorumDen into *q (when q is not null).
std::string parse_quorum(const std::string& v, engine::Fraction* q) {
  const std::string allowed =
      "needs NUM/DEN with 0 < NUM <= DEN <= " + std::to_string(kMaxQuorumDen) + ", got \"" + v +
      "\"";
  const auto slash = v.find('/');
  if (slash == std::string::npos ||
      !cli::check_unsigned(v.substr(0, slash), 1, kMaxQuorumDen).empty() ||
      !cli::check_unsigned(v.substr(slash + 1), 1, kMaxQuorumDen).empty()) {
    return allowed;
  }
  const auto num = static_cast<uint32_t>(std::stoul(v.substr(0, slash)));
  const auto den = static_cast<uint32_t>(std::stoul(v.substr(slash + 1)));
  if (num > den) return allowed;
  if (q != nullptr) *q = {num, den};
  return "";
}

CLI::Validator validator(std::string (*check)(const std::string&)) {
  return CLI::Validator([check](std::string& v) { return check(v); }, "");
}

// Loads --key and --deployment; errors name the flag.
bool load_inputs(const std::string& key_file, const std::string& deployment_file, std::string* key,
                 v1::Deployment* deployment, std::string* why) {
  std::string reason;
  if (!load_key_file(key_file, key, &reason)) {
    *why = "--key: " + reason;
    return false;
  }
  if (!load_deployment(deployment_file, deployment, &reason)) {
    *why = "--deployment: " + reason;
    return false;
  }
  return true;
}

bool write_port_file(const std::string& path, uint16_t port, uint16_t metrics_port,
                     std::string* why) {
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) {
    *why = "--port-file: cannot write " + tmp;
    return false;
  }
  const bool ok = std::fprintf(f, "%u %u\n", unsigned{port}, unsigned{metrics_port}) > 0;
  if (std::fclose(f) != 0 || !ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    *why = "--port-file: cannot write " + path;
    return false;
  }
  return true;
}

// --tls-cert and --tls-key: both or neither, each a readable PEM file that
// belong together (checked here, so a bad file is a usage error naming it).
bool check_tls(const cli::Flags& f, const ServerTlsOptions& tls, std::string* why) {
  const bool cert = f.given("--tls-cert"), key = f.given("--tls-key");
  if (!cert && !key) return true;
  if (!cert || !key) {
    *why = std::string(cert ? "--tls-key" : "--tls-cert") + " is required with " +
           (cert ? "--tls-cert" : "--tls-key");
    return false;
  }
  std::string reason;
  if (!TlsContext::server_from_files(tls.cert_file, tls.key_file, &reason)) {
    *why = "--tls-cert/--tls-key: " + reason;
    return false;
  }
  return true;
}

// serve's flags that are not a ServerOptions field as they stand.
struct ServeArgs {
  std::string key_file, deployment_file, port_file, quorum;
  uint32_t port = 0, metrics_port = 0, media_port = 0, threads = 0;
  bool no_metrics = false, no_media = false;
};

void add_serve_flags(cli::Flags& f, ServeArgs* a, ServerOptions* o) {
  f.text("--key", &a->key_file, "deployment key file (hex; see keygen)")->required();
  f.text("--deployment", &a->deployment_file, "cell rosters, text format cellsim.v1.Deployment")
      ->required();
  f.text("--listen", &o->listen_address, "address to listen on (default 127.0.0.1)")
      ->check(validator(check_address));
  f.u32("--port", &a->port, 0, kMaxPort, "TCP port (default 0: ephemeral)");
  f.text("--metrics-address", &o->metrics_address,
         "address of the Prometheus endpoint (default 127.0.0.1)")
      ->check(validator(check_address));
  f.u32("--metrics-port", &a->metrics_port, 0, kMaxPort,
        "port of GET /metrics (default 0: ephemeral)");
  f.flag("--no-metrics", &a->no_metrics, "no Prometheus endpoint");
  CLI::Option* media_port =
      f.u32("--media-port", &a->media_port, 0, kMaxPort,
            "UDP port for voice datagrams, on the --listen address (default 0: ephemeral; "
            "members learn it from Welcome)");
  f.flag("--no-media", &a->no_media,
         "no voice datagrams: no UDP socket, members carry voice in band")
      ->excludes(media_port);
  f.u32("--threads", &a->threads, 1, kMaxThreads, "shards, one thread each (default: cores)");
  f.u64("--max-connections", &o->max_connections, 1, kMaxConnectionsFlag,
        "connection limit (default 100000)");
  f.text("--minutes-dir", &o->minutes_dir,
         "write each closed meeting's minutes there as JSON (and the journal)")
      ->check(validator(check_directory));
  f.u32("--heartbeat-interval-ms", &o->engine.rules.heartbeat_interval_ms, kMinHeartbeatIntervalMs,
        kMaxHeartbeatIntervalMs, "heartbeat interval (default 10000)");
  f.u32("--missed-heartbeats", &o->engine.rules.missed_heartbeats, 1, kMaxMissedHeartbeats,
        "heartbeats missed before a member is absent (default 3)");
  f.text("--quorum", &a->quorum, "quorum fraction of D, NUM/DEN (default 2/3)")
      ->check(CLI::Validator([](std::string& v) { return parse_quorum(v, nullptr); }, ""));
  f.text("--port-file", &a->port_file, "once listening, write \"PORT METRICS_PORT\\n\" there");
  f.text("--tls-cert", &o->tls.cert_file,
         "TLS 1.3 only: the server's certificate chain (PEM); with --tls-key");
  f.text("--tls-key", &o->tls.key_file, "its private key (PEM); without both, plain TCP");
  f.footer(kExits);
}

// The rest of ServerOptions from the parsed flags; false (a usage error
// naming the flag) when a file is bad.
bool serve_options(const cli::Flags& f, const ServeArgs& a, ServerOptions* o, std::string* why) {
  if (!load_inputs(a.key_file, a.deployment_file, &o->key, &o->deployment, why)) return false;
  if (o->deployment.cells_size() == 0) {
    *why = "--deployment: the deployment holds no cell";
    return false;
  }
  o->port = static_cast<uint16_t>(a.port);
  o->metrics_port = static_cast<uint16_t>(a.metrics_port);
  o->metrics_enabled = !a.no_metrics;
  o->media_port = static_cast<uint16_t>(a.media_port);
  o->media_enabled = !a.no_media;
  o->threads = a.threads != 0 ? a.threads : std::max(1u, std::thread::hardware_concurrency());
  if (!a.quorum.empty()) parse_quorum(a.quorum, &o->engine.rules.quorum);
  return check_tls(f, o->tls, why);
}

// The kernel's ceiling for RLIMIT_NOFILE when the hard limit is unlimited.
uint64_t kernel_nr_open() {
  std::ifstream f("/proc/sys/fs/nr_open");
  uint64_t n = 0;
  return (f >> n) && n > 0 ? n : 1024 * 1024;
}

// A server holds one descriptor per connection: raises RLIMIT_NOFILE's soft
// limit to the hard limit at startup, and warns on stderr (it still serves)
// when --max-connections does not fit under it, saying what to do.
void raise_fd_limit(uint64_t max_connections) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  const uint64_t hard = rl.rlim_max == RLIM_INFINITY ? kernel_nr_open() : rl.rlim_max;
  if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur < hard) {
    rlimit want = rl;
    want.rlim_cur = static_cast<rlim_t>(hard);
    if (::setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
  }
  const uint64_t soft = rl.rlim_cur == RLIM_INFINITY ? hard : rl.rlim_cur;
  const uint64_t needed = max_connections + kReservedFds;
  if (needed <= soft) return;
  const uint64_t fit = soft > kReservedFds ? soft - kReservedFds : 0;
  std::cerr << "cellmeetd: warning: --max-connections " << max_connections << " needs about "
            << needed << " file descriptors but RLIMIT_NOFILE is " << soft << " (hard limit "
            << hard << "): connections past about " << fit
            << " will be refused. Raise the hard limit (`ulimit -Hn " << needed
            << "` as root before starting cellmeetd, LimitNOFILE=" << needed
            << " in its systemd unit, `--ulimit nofile=" << needed << ":" << needed
            << "` for a container) or pass --max-connections " << fit << "." << std::endl;
}

int serve(int argc, char** argv) {
  cli::Flags f("cellmeetd serve", kServeAbout);
  ServeArgs a;
  ServerOptions o;
  add_serve_flags(f, &a, &o);
  if (auto rc = f.parse(argc, argv)) return *rc;
  std::string why;
  if (!serve_options(f, a, &o, &why)) return f.usage_error(why);
  raise_fd_limit(o.max_connections);
  // Installed before the server starts, so an early SIGTERM stops it cleanly.
  asio::io_context signal_ctx(1);
  asio::signal_set signals(signal_ctx, SIGINT, SIGTERM);
  const size_t cells = static_cast<size_t>(o.deployment.cells_size());
  const unsigned shards = o.threads;
  const bool metrics = o.metrics_enabled;
  const bool tls = o.tls.enabled();
  const std::string listen = o.listen_address, metrics_address = o.metrics_address;
  Server server(std::move(o));
  if (!server.start(&why)) return failure(why);
  if (!a.port_file.empty()) {
    if (!write_port_file(a.port_file, server.port(), server.metrics_port(), &why)) {
      server.stop();
      return failure(why);
    }
  }
  std::cerr << "cellmeetd listening on " << listen << ":" << server.port() << ", metrics "
            << (metrics ? "on " + metrics_address + ":" + std::to_string(server.metrics_port())
                        : std::string("off"))
            << ", " << shards << " shards, " << cells << " cells" << (tls ? ", TLS" : "")
            << (server.media_port() != 0 ? ", voice on udp " + std::to_string(server.media_port())
                                         : std::string())
            << std::endl;
  signals.async_wait([](const error_code&, int) {});
  signal_ctx.run();  // until SIGINT or SIGTERM
  std::cerr << "cellmeetd stopping" << std::endl;
  server.stop();
  return kExitOk;
}

int keygen(int argc, char** argv) {
  cli::Flags f("cellmeetd keygen", kKeygenAbout);
  std::string out, why;
  f.text("--out", &out, "the key file to write")->required();
  f.footer(kExits);
  if (auto rc = f.parse(argc, argv)) return *rc;
  if (!write_new_key_file(out, &why)) return failure(why);
  return kExitOk;
}

// The roster entry of --member in --cell; errors name the flag.
const v1::RosterMember* find_member(const v1::Deployment& d, uint64_t cell, uint64_t member,
                                    std::string* why) {
  for (const auto& c : d.cells()) {
    if (c.cell_id() != cell) continue;
    for (const auto& m : c.members()) {
      if (m.member_id() == member) return &m;
    }
    *why = "--member: " + std::to_string(member) + " is not on cell " + std::to_string(cell) +
           "'s roster";
    return nullptr;
  }
  *why = "--cell: " + std::to_string(cell) + " is not in the deployment";
  return nullptr;
}

int mint_token(int argc, char** argv) {
  cli::Flags f("cellmeetd mint-token", kMintAbout);
  std::string key_file, deployment_file, why, key;
  uint64_t cell = 0, member = 0, ttl_s = kDefaultTokenTtlS;
  f.text("--key", &key_file, "deployment key file (hex)")->required();
  f.text("--deployment", &deployment_file, "cell rosters, text format cellsim.v1.Deployment")
      ->required();
  f.u64("--cell", &cell, 1, UINT64_MAX, "the member's cell")->required();
  f.u64("--member", &member, 1, UINT64_MAX, "the member")->required();
  f.u64("--ttl-s", &ttl_s, 1, kMaxTokenTtlS, "lifetime in seconds (default 86400)");
  f.footer(kExits);
  if (auto rc = f.parse(argc, argv)) return *rc;
  v1::Deployment deployment;
  if (!load_inputs(key_file, deployment_file, &key, &deployment, &why)) {
    return f.usage_error(why);
  }
  const v1::RosterMember* m = find_member(deployment, cell, member, &why);
  if (m == nullptr) return f.usage_error(why);
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  v1::TokenClaims claims;
  claims.set_cell_id(cell);
  claims.set_member_id(member);
  claims.set_standing(m->standing());
  claims.set_role(m->role());
  claims.set_expires_at_ms(now_ms + static_cast<int64_t>(ttl_s) * 1000);
  std::cout << to_hex(engine::mint_token(key, claims)) << std::endl;
  return kExitOk;
}

int make_test_certs(int argc, char** argv) {
  cli::Flags f("cellmeetd make-test-certs", kCertsAbout);
  std::string why, dir;
  std::vector<std::string> names;
  f.text("--out-dir", &dir, "where ca.pem, server.pem and server.key are written")->required();
  f.texts("--name", &names, "a name the certificate carries (repeatable)");
  f.footer(kExits);
  if (auto rc = f.parse(argc, argv)) return *rc;
  if (names.empty()) names = {"127.0.0.1", "localhost"};
  PemCertKey ca, server;
  if (!make_tls_ca("cellmeetd test CA", &ca, &why) ||
      !make_tls_server_cert(ca, names, &server, &why) ||
      !write_pem_file(dir + "/ca.pem", ca.cert_pem, 0644, &why) ||
      !write_pem_file(dir + "/server.pem", server.cert_pem, 0644, &why) ||
      !write_pem_file(dir + "/server.key", server.key_pem, 0600, &why)) {
    return failure(why);
  }
  return kExitOk;
}

struct Command {
  const char* name;
  int (*main)(int argc, char** argv);  // argv[0] is the command's name
};
constexpr Command kCommands[] = {{"serve", serve},
                                 {"keygen", keygen},
                                 {"mint-token", mint_token},
                                 {"make-test-certs", make_test_certs}};

// cellmeetd --help: every command's help.
int usage() {
  std::cout << "usage: cellmeetd COMMAND [FLAGS]   (COMMAND --help for one)\n\n";
  for (const Command& c : kCommands) {
    char help[] = "--help";
    char* args[] = {const_cast<char*>(c.name), help, nullptr};
    c.main(2, args);
    std::cout << "\n";
  }
  return kExitOk;
}

int run(int argc, char** argv) {
  const std::string command = argc > 1 ? argv[1] : "";
  for (const Command& c : kCommands) {
    if (command == c.name) return c.main(argc - 1, argv + 1);
  }
  if (command == "--help" || command == "-h" || command == "help") return usage();
  if (command == "--version") {
    std::cout << "cellmeetd " << cli::version() << "\n";
    return kExitOk;
  }
  std::cerr << "cellmeetd: "
            << (command.empty() ? std::string("a command is required")
                                : "unknown command " + command)
            << " (serve, keygen, mint-token or make-test-certs)\n";
  return kExitUsage;
}

}  // namespace
}  // namespace cellsim::net

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);  // a peer gone mid-write is an error code, not a signal
  try {
    return cellsim::net::run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "cellmeetd: " << e.what() << "\n";
    return cellsim::net::kExitFailed;
  }
}
