// Network namespaces and TUN devices for the packet-level live mode
// (issue 11): the agents' sockets live in one namespace, the server's in
// another, and the emulator reads and writes IP packets on a TUN device in
// each. Everything cellsim creates is named `cellsim-<pid>-<tag>` so that a
// later run can sweep what a crashed one left (sweep_stale_namespaces: the
// namespaces whose pid no longer exists). Addresses and routes are only ever
// configured inside such namespaces.
//
// NetworkNamespace is RAII: its destructor removes the namespace (and with
// it every device and address inside) — on normal exit and on the unwinding
// a Ctrl-C handler triggers; after `kill -9` the next run's sweep does it.
// The namespaces are made and removed with iproute2 (`ip netns add/del`,
// run with posix_spawn, no shell); a thread enters one with setns(2)
// (ScopedNamespaceEntry), so sockets and TUN devices opened by that thread
// belong to it.
//
// Requires root or CAP_NET_ADMIN + CAP_SYS_ADMIN, iproute2 and
// /dev/net/tun: packet_mode_available() says whether, and if not why.
//
// Thread-safety: the free functions are safe from any thread; a
// NetworkNamespace or TunDevice object is used by one thread at a time
// (its fd may be read by another thread while the owner keeps it alive).
#ifndef CELLSIM_NETEM_NETNS_H_
#define CELLSIM_NETEM_NETNS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace cellsim::netem {

inline constexpr std::string_view kNamespacePrefix = "cellsim-";
// Where iproute2 binds named namespaces.
inline constexpr std::string_view kNetnsDir = "/run/netns";
// Namespaces one sweep looks at, at most.
inline constexpr size_t kMaxSweptNamespaces = 4096;
// Output of one `ip` command kept for the error message, at most.
inline constexpr size_t kMaxCommandOutputBytes = 16 * 1024;
// Longest tag a namespace name may carry (names stay short for `ip`).
inline constexpr size_t kMaxTagLength = 32;

// The iproute2 binary (the first of /usr/sbin/ip, /sbin/ip, /usr/bin/ip,
// /bin/ip that is executable); empty when none.
const std::string& ip_binary();

// Runs `ip args...`; true when it exits 0, else false with *error holding
// the command and its output. REQUIRES: error != nullptr.
bool run_ip(const std::vector<std::string>& args, std::string* error);

// Whether this process can create namespaces and TUN devices; if not,
// *why says what is missing. REQUIRES: why != nullptr.
bool packet_mode_available(std::string* why);

// "cellsim-<pid>-<tag>". REQUIRES: tag is 1..kMaxTagLength of [a-z0-9].
std::string namespace_name(pid_t pid, std::string_view tag);
// The pid in a name namespace_name() made; false for any other name.
bool parse_namespace_pid(std::string_view name, pid_t* pid);
// Whether the named namespace exists (is bound under kNetnsDir).
bool namespace_exists(const std::string& name);
// Names under kNetnsDir that carry kNamespacePrefix.
std::vector<std::string> our_namespaces();

// Removes the namespaces of ours whose pid no longer exists (never this
// process's). Returns the names removed; failures go to *errors if given.
std::vector<std::string> sweep_stale_namespaces(std::vector<std::string>* errors = nullptr);

// A named network namespace this process created, removed on destruction.
class NetworkNamespace {
 public:
  // Creates "cellsim-<getpid()>-<tag>" with its loopback up. Null with
  // *error on failure. REQUIRES: tag as for namespace_name(); error != nullptr.
  static std::unique_ptr<NetworkNamespace> create(std::string_view tag, std::string* error);
  ~NetworkNamespace();
  NetworkNamespace(const NetworkNamespace&) = delete;
  NetworkNamespace& operator=(const NetworkNamespace&) = delete;

  const std::string& name() const { return name_; }
  // An fd of the namespace (for setns), open for the object's lifetime.
  int fd() const { return fd_; }
  // Runs `ip -n <name> args...`.
  bool ip(const std::vector<std::string>& args, std::string* error) const;

 private:
  NetworkNamespace(std::string name, int fd) : name_(std::move(name)), fd_(fd) {}
  std::string name_;
  int fd_;
};

// Moves the calling thread into `ns` for this object's lifetime, then back
// into the namespace it was in. Sockets and TUN devices the thread opens
// meanwhile stay in `ns`. ok() is false (and nothing changed) if setns
// failed. REQUIRES: `ns` outlives the object; destroyed on the same thread.
class ScopedNamespaceEntry {
 public:
  explicit ScopedNamespaceEntry(const NetworkNamespace& ns);
  ~ScopedNamespaceEntry();
  ScopedNamespaceEntry(const ScopedNamespaceEntry&) = delete;
  ScopedNamespaceEntry& operator=(const ScopedNamespaceEntry&) = delete;
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }

 private:
  int saved_fd_ = -1;
  bool ok_ = false;
  std::string error_;
};

// A TUN device (IFF_TUN | IFF_NO_PI: one read, one IP packet) inside a
// namespace, non-blocking. Not persistent: it disappears when the fd
// closes (destructor) or its namespace is removed.
class TunDevice {
 public:
  // REQUIRES: ifname 1..15 characters; error != nullptr.
  static std::unique_ptr<TunDevice> create(const NetworkNamespace& ns, std::string_view ifname,
                                           std::string* error);
  ~TunDevice();
  TunDevice(const TunDevice&) = delete;
  TunDevice& operator=(const TunDevice&) = delete;

  int fd() const { return fd_; }
  const std::string& name() const { return name_; }

 private:
  TunDevice(std::string name, int fd) : name_(std::move(name)), fd_(fd) {}
  std::string name_;
  int fd_;
};

}  // namespace cellsim::netem

#endif  // CELLSIM_NETEM_NETNS_H_
