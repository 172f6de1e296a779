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
// the metrics endpoint and its clients, epoll and eventfds of each shard,
// the key, deployment and minutes files.
constexpr uint64_t kReservedFds = 64;

constexpr char kUsage[] = R"(usage: cellmeetd COMMAND [FLAGS]

cellmeetd serve --key FILE --deployment FILE [FLAGS]
  Runs the meeting server until SIGTERM or SIGINT, then stops gracefully
  (every client gets Error SHUTTING_DOWN) and exits 0.
    --key FILE               deployment key file (hex; see keygen)     required
    --deployment FILE        cell rosters, text format cellsim.v1.Deployment  required
    --listen ADDR            address to listen on (default 127.0.0.1)
    --port N                 TCP port, 0..65535 (default 0: ephemeral)
    --metrics-address ADDR   address of the Prometheus endpoint (default 127.0.0.1)
    --metrics-port N         port of GET /metrics, 0..65535 (default 0: ephemeral)
    --no-metrics             no Prometheus endpoint
    --threads N              shards, one thread each, 1..1024 (default: cores)
    --max-connections N      connection limit, 1..10000000 (default 100000)
    --minutes-dir DIR        write each closed meeting's minutes there as JSON
    --heartbeat-interval-ms N  heartbeat interval, 100..3600000 (default 10000)
    --missed-heartbeats N    heartbeats missed before a member is absent, 1..100 (default 3)
    --quorum NUM/DEN         quorum fraction of D, 0 < NUM <= DEN <= 1000 (default 2/3)
    --port-file FILE         once listening, write "PORT METRICS_PORT\n" there
    --tls-cert FILE          TLS 1.3 only: the server's certificate chain (PEM);
    --tls-key FILE             with its private key (PEM). Both or neither;
                               without them, plain TCP
  Prints "cellmeetd listening on ADDR:PORT, metrics on ADDR:MPORT, N shards,
  C cells" (and ", TLS" with TLS) to stderr once listening.

cellmeetd keygen --out FILE
  Writes a new random 32-byte key as hex to FILE (mode 0600; never overwrites).

cellmeetd mint-token --key FILE --deployment FILE --cell ID --member ID [--ttl-s N]
  Prints a member token as hex: the member's standing and role come from the
  deployment's roster; a member not on the roster is refused.
    --ttl-s N                lifetime in seconds, 1..315360000 (default 86400)

cellmeetd make-test-certs --out-dir DIR [--name NAME]...
  For tests and demos (not a production CA): makes a CA and a server
  certificate it signs for the names (IP addresses or DNS names; default
  127.0.0.1 and localhost), ECDSA P-256, valid 30 days, and writes DIR/ca.pem,
  DIR/server.pem and DIR/server.key (mode 0600) for serve --tls-cert/--tls-key
  and the clients' --tls-ca.

Exit codes: 0 success, 1 run-time failure, 2 bad command line.
)";

// One flag a command accepts.
struct FlagSpec {
  const char* name;
  bool takes_value;
};

// Parsed flags: name → value ("" for a switch).
using Flags = std::map<std::string, std::string>;

struct UsageError {
  std::string message;
};

int usage_error(const std::string& message) {
  std::cerr << "cellmeetd: " << message << "\n(cellmeetd --help for usage)\n";
  return kExitUsage;
}

int failure(const std::string& message) {
  std::cerr << "cellmeetd: " << message << "\n";
  return kExitFailed;
}

// Parses argv[first..] against `specs`; --flag VALUE and --flag=VALUE.
std::optional<Flags> parse_flags(int argc, char** argv, int first,
                                 const std::vector<FlagSpec>& specs, std::string* why) {
  Flags flags;
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    std::optional<std::string> inline_value;
    if (const auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = arg.substr(eq + 1);
      arg.resize(eq);
    }
    const FlagSpec* spec = nullptr;
    for (const auto& s : specs) {
      if (arg == s.name) spec = &s;
    }
    if (spec == nullptr) {
      *why = (arg.rfind("-", 0) == 0 ? "unknown flag " : "unexpected argument ") + arg;
      return std::nullopt;
    }
    if (flags.count(arg)) {
      *why = arg + " given twice";
      return std::nullopt;
    }
    if (!spec->takes_value) {
      if (inline_value) {
        *why = arg + " takes no value";
        return std::nullopt;
      }
      flags[arg] = "";
      continue;
    }
    if (!inline_value && i + 1 >= argc) {
      *why = arg + " needs a value";
      return std::nullopt;
    }
    flags[arg] = inline_value ? *inline_value : argv[++i];
  }
  return flags;
}

// The value of a required flag.
bool required(const Flags& flags, const std::string& name, std::string* out, std::string* why) {
  auto it = flags.find(name);
  if (it == flags.end() || it->second.empty()) {
    *why = name + " is required";
    return false;
  }
  *out = it->second;
  return true;
}

// An optional decimal flag in [min, max]; *out keeps its default if absent.
bool number_flag(const Flags& flags, const std::string& name, uint64_t min, uint64_t max,
                 uint64_t* out, std::string* why) {
  auto it = flags.find(name);
  if (it == flags.end()) return true;
  const std::string& v = it->second;
  uint64_t n = 0;
  bool ok = !v.empty() && v.size() <= 20;
  for (char c : v) {
    ok = ok && c >= '0' && c <= '9' && n <= (UINT64_MAX - (c - '0')) / 10;
    if (ok) n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  if (!ok || n < min || n > max) {
    *why = name + ": \"" + v + "\" is not a whole number in " + std::to_string(min) + ".." +
           std::to_string(max);
    return false;
  }
  *out = n;
  return true;
}

bool address_flag(const Flags& flags, const std::string& name, std::string* out, std::string* why) {
  auto it = flags.find(name);
  if (it == flags.end()) return true;
  error_code ec;
  asio::ip::make_address(it->second, ec);
  if (ec) {
    *why = name + ": \"" + it->second + "\" is not an IP address";
    return false;
  }
  *out = it->second;
  return true;
}

// Loads --key and --deployment; errors name the flag.
bool load_inputs(const Flags& flags, std::string* key, v1::Deployment* deployment,
                 std::string* why) {
  std::string key_file, deployment_file, reason;
  if (!required(flags, "--key", &key_file, why) ||
      !required(flags, "--deployment", &deployment_file, why)) {
    return false;
  }
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
bool tls_options(const Flags& flags, ServerTlsOptions* tls, std::string* why) {
  const bool cert = flags.count("--tls-cert") != 0, key = flags.count("--tls-key") != 0;
  if (!cert && !key) return true;
  if (!cert || !key) {
    *why = std::string(cert ? "--tls-key" : "--tls-cert") + " is required with " +
           (cert ? "--tls-cert" : "--tls-key");
    return false;
  }
  tls->cert_file = flags.at("--tls-cert");
  tls->key_file = flags.at("--tls-key");
  std::string reason;
  if (!TlsContext::server_from_files(tls->cert_file, tls->key_file, &reason)) {
    *why = "--tls-cert/--tls-key: " + reason;
    return false;
  }
  return true;
}

// Fills ServerOptions from serve's flags; false (usage error) on a bad one.
bool serve_options(const Flags& flags, ServerOptions* o, std::string* why) {
  if (!load_inputs(flags, &o->key, &o->deployment, why)) return false;
  uint64_t port = 0, metrics_port = 0, threads = 0, max_conns = o->max_connections;
  uint64_t heartbeat_ms = o->engine.rules.heartbeat_interval_ms;
  if (!address_flag(flags, "--listen", &o->listen_address, why) ||
      !address_flag(flags, "--metrics-address", &o->metrics_address, why) ||
      !number_flag(flags, "--port", 0, kMaxPort, &port, why) ||
      !number_flag(flags, "--metrics-port", 0, kMaxPort, &metrics_port, why) ||
      !number_flag(flags, "--threads", 1, kMaxThreads, &threads, why) ||
      !number_flag(flags, "--max-connections", 1, kMaxConnectionsFlag, &max_conns, why) ||
      !number_flag(flags, "--heartbeat-interval-ms", kMinHeartbeatIntervalMs,
                   kMaxHeartbeatIntervalMs, &heartbeat_ms, why)) {
    return false;
  }
  o->port = static_cast<uint16_t>(port);
  o->metrics_port = static_cast<uint16_t>(metrics_port);
  o->metrics_enabled = flags.count("--no-metrics") == 0;
  o->threads = threads != 0 ? static_cast<unsigned>(threads)
                            : std::max(1u, std::thread::hardware_concurrency());
  o->max_connections = max_conns;
  o->engine.rules.heartbeat_interval_ms = static_cast<uint32_t>(heartbeat_ms);
  uint64_t missed = o->engine.rules.missed_heartbeats;
  if (!number_flag(flags, "--missed-heartbeats", 1, 100, &missed, why)) return false;
  o->engine.rules.missed_heartbeats = static_cast<uint32_t>(missed);
  if (auto it = flags.find("--quorum"); it != flags.end()) {
    const std::string& v = it->second;
    const auto slash = v.find('/');
    char* end = nullptr;
    const unsigned long num = slash == std::string::npos ? 0 : std::strtoul(v.c_str(), &end, 10);
    const bool num_ok = slash != std::string::npos && end == v.c_str() + slash;
    const unsigned long den = num_ok ? std::strtoul(v.c_str() + slash + 1, &end, 10) : 0;
    if (!num_ok || *end != '\0' || num == 0 || den == 0 || num > den || den > 1000) {
      *why = "--quorum needs NUM/DEN with 0 < NUM <= DEN <= 1000, got \"" + v + "\"";
      return false;
    }
    o->engine.rules.quorum = {static_cast<uint32_t>(num), static_cast<uint32_t>(den)};
  }
  if (auto it = flags.find("--minutes-dir"); it != flags.end()) {
    struct stat st {};
    if (::stat(it->second.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      *why = "--minutes-dir: " + it->second + " is not a directory";
      return false;
    }
    o->minutes_dir = it->second;
  }
  if (o->deployment.cells_size() == 0) {
    *why = "--deployment: the deployment holds no cell";
    return false;
  }
  return tls_options(flags, &o->tls, why);
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
  std::string why;
  const auto flags = parse_flags(argc, argv, 2,
                                 {{"--key", true},
                                  {"--deployment", true},
                                  {"--listen", true},
                                  {"--port", true},
                                  {"--metrics-address", true},
                                  {"--metrics-port", true},
                                  {"--no-metrics", false},
                                  {"--threads", true},
                                  {"--max-connections", true},
                                  {"--minutes-dir", true},
                                  {"--heartbeat-interval-ms", true},
                                  {"--missed-heartbeats", true},
                                  {"--quorum", true},
                                  {"--port-file", true},
                                  {"--tls-cert", true},
                                  {"--tls-key", true}},
                                 &why);
  ServerOptions o;
  if (!flags || !serve_options(*flags, &o, &why)) return usage_error(why);
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
  if (auto it = flags->find("--port-file"); it != flags->end()) {
    if (!write_port_file(it->second, server.port(), server.metrics_port(), &why)) {
      server.stop();
      return failure(why);
    }
  }
  std::cerr << "cellmeetd listening on " << listen << ":" << server.port() << ", metrics "
            << (metrics ? "on " + metrics_address + ":" + std::to_string(server.metrics_port())
                        : std::string("off"))
            << ", " << shards << " shards, " << cells << " cells" << (tls ? ", TLS" : "")
            << std::endl;
  signals.async_wait([](const error_code&, int) {});
  signal_ctx.run();  // until SIGINT or SIGTERM
  std::cerr << "cellmeetd stopping" << std::endl;
  server.stop();
  return kExitOk;
}

int keygen(int argc, char** argv) {
  std::string why, out;
  const auto flags = parse_flags(argc, argv, 2, {{"--out", true}}, &why);
  if (!flags || !required(*flags, "--out", &out, &why)) return usage_error(why);
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
  std::string why, key;
  v1::Deployment deployment;
  const auto flags = parse_flags(argc, argv, 2,
                                 {{"--key", true},
                                  {"--deployment", true},
                                  {"--cell", true},
                                  {"--member", true},
                                  {"--ttl-s", true}},
                                 &why);
  uint64_t cell = 0, member = 0, ttl_s = kDefaultTokenTtlS;
  std::string ignored;
  if (!flags || !load_inputs(*flags, &key, &deployment, &why) ||
      !required(*flags, "--cell", &ignored, &why) ||
      !required(*flags, "--member", &ignored, &why) ||
      !number_flag(*flags, "--cell", 1, UINT64_MAX, &cell, &why) ||
      !number_flag(*flags, "--member", 1, UINT64_MAX, &member, &why) ||
      !number_flag(*flags, "--ttl-s", 1, kMaxTokenTtlS, &ttl_s, &why)) {
    return usage_error(why);
  }
  const v1::RosterMember* m = find_member(deployment, cell, member, &why);
  if (m == nullptr) return usage_error(why);
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
  std::string why, dir;
  std::vector<std::string> names;
  for (int i = 2; i + 1 < argc; ++i) {  // --name may repeat: taken before parse_flags
    if (std::string(argv[i]) == "--name") names.push_back(argv[i + 1]);
  }
  std::vector<char*> rest(argv, argv + 2);
  for (int i = 2; i < argc; ++i) {
    if (std::string(argv[i]) == "--name" && i + 1 < argc) {
      ++i;
      continue;
    }
    rest.push_back(argv[i]);
  }
  const auto flags =
      parse_flags(static_cast<int>(rest.size()), rest.data(), 2, {{"--out-dir", true}}, &why);
  if (!flags || !required(*flags, "--out-dir", &dir, &why)) return usage_error(why);
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

int run(int argc, char** argv) {
  if (argc < 2) {
    return usage_error("a command is required: serve, keygen, mint-token or make-test-certs");
  }
  const std::string command = argv[1];
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h" || a == "help") {
      std::cout << kUsage;
      return kExitOk;
    }
  }
  if (command == "serve") return serve(argc, argv);
  if (command == "keygen") return keygen(argc, argv);
  if (command == "mint-token") return mint_token(argc, argv);
  if (command == "make-test-certs") return make_test_certs(argc, argv);
  return usage_error("unknown command " + command +
                     " (serve, keygen, mint-token or make-test-certs)");
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
