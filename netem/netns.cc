#include "netem/netns.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>

#include "proto/assert.h"

extern char** environ;

namespace cellsim::netem {
namespace {

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

bool valid_tag(std::string_view tag) {
  if (tag.empty() || tag.size() > kMaxTagLength) return false;
  for (char c : tag) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

std::string netns_path(const std::string& name) { return std::string(kNetnsDir) + "/" + name; }

// CapEff from /proc/self/status; 0 when unreadable.
uint64_t effective_capabilities() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CapEff:", 0) == 0) {
      try {
        return std::stoull(line.substr(7), nullptr, 16);
      } catch (...) {
        return 0;
      }
    }
  }
  return 0;
}

}  // namespace

const std::string& ip_binary() {
  static const std::string path = [] {
    for (const char* p : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"}) {
      if (access(p, X_OK) == 0) return std::string(p);
    }
    return std::string();
  }();
  return path;
}

bool run_ip(const std::vector<std::string>& args, std::string* error) {
  CELLSIM_ASSERT(error != nullptr);
  std::string command = ip_binary();
  for (const std::string& a : args) command += " " + a;
  if (ip_binary().empty()) {
    *error = "iproute2 (ip) not found";
    return false;
  }
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(ip_binary().c_str()));
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    *error = errno_text("pipe2");
    return false;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, out[1], 2);
  pid_t pid;
  const int rc = posix_spawn(&pid, ip_binary().c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  if (rc != 0) {
    close(out[0]);
    *error = command + ": posix_spawn: " + std::strerror(rc);
    return false;
  }
  std::string output;
  char buf[4096];
  // Bounded by the child's output; only kMaxCommandOutputBytes are kept.
  for (;;) {
    const ssize_t n = read(out[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    const size_t keep = std::min(static_cast<size_t>(n), kMaxCommandOutputBytes - output.size());
    output.append(buf, keep);
  }
  close(out[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
  while (!output.empty() && output.back() == '\n') output.pop_back();
  *error = command + ": " + (output.empty() ? "failed" : output);
  return false;
}

bool packet_mode_available(std::string* why) {
  CELLSIM_ASSERT(why != nullptr);
  constexpr uint64_t kCapNetAdmin = uint64_t{1} << 12, kCapSysAdmin = uint64_t{1} << 21;
  const uint64_t caps = effective_capabilities();
  // The capabilities, not the uid: root in a container may lack them.
  if ((caps & (kCapNetAdmin | kCapSysAdmin)) != (kCapNetAdmin | kCapSysAdmin)) {
    *why = "needs root or CAP_NET_ADMIN and CAP_SYS_ADMIN to create network namespaces";
    return false;
  }
  if (access("/dev/net/tun", R_OK | W_OK) != 0) {
    *why = "/dev/net/tun is missing or not accessible";
    return false;
  }
  if (ip_binary().empty()) {
    *why = "iproute2 (ip) not found";
    return false;
  }
  return true;
}

std::string namespace_name(pid_t pid, std::string_view tag) {
  CELLSIM_ASSERT(valid_tag(tag));
  return std::string(kNamespacePrefix) + std::to_string(pid) + "-" + std::string(tag);
}

bool parse_namespace_pid(std::string_view name, pid_t* pid) {
  if (name.substr(0, kNamespacePrefix.size()) != kNamespacePrefix) return false;
  name.remove_prefix(kNamespacePrefix.size());
  const size_t dash = name.find('-');
  if (dash == std::string_view::npos || dash == 0) return false;
  pid_t value = 0;
  const auto [end, ec] = std::from_chars(name.data(), name.data() + dash, value);
  if (ec != std::errc() || end != name.data() + dash || value <= 0) return false;
  if (!valid_tag(name.substr(dash + 1))) return false;
  *pid = value;
  return true;
}

bool namespace_exists(const std::string& name) {
  return access(netns_path(name).c_str(), F_OK) == 0;
}

std::vector<std::string> our_namespaces() {
  std::vector<std::string> names;
  DIR* dir = opendir(std::string(kNetnsDir).c_str());
  if (dir == nullptr) return names;
  while (dirent* e = readdir(dir)) {
    if (names.size() >= kMaxSweptNamespaces) break;
    const std::string_view n = e->d_name;
    if (n.substr(0, kNamespacePrefix.size()) == kNamespacePrefix) names.emplace_back(n);
  }
  closedir(dir);
  return names;
}

std::vector<std::string> sweep_stale_namespaces(std::vector<std::string>* errors) {
  std::vector<std::string> removed;
  for (const std::string& name : our_namespaces()) {
    pid_t pid;
    if (!parse_namespace_pid(name, &pid) || pid == getpid()) continue;
    if (kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive (or not ours to judge)
    std::string error;
    if (run_ip({"netns", "del", name}, &error)) {
      removed.push_back(name);
    } else if (errors != nullptr) {
      errors->push_back(error);
    }
  }
  return removed;
}

// ---------------------------------------------------------------------------
// NetworkNamespace

std::unique_ptr<NetworkNamespace> NetworkNamespace::create(std::string_view tag,
                                                           std::string* error) {
  CELLSIM_ASSERT(error != nullptr);
  const std::string name = namespace_name(getpid(), tag);
  if (!run_ip({"netns", "add", name}, error)) return nullptr;
  const int fd = open(netns_path(name).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = errno_text(("open " + netns_path(name)).c_str());
    std::string ignored;
    run_ip({"netns", "del", name}, &ignored);
    return nullptr;
  }
  std::unique_ptr<NetworkNamespace> ns(new NetworkNamespace(name, fd));
  if (!ns->ip({"link", "set", "lo", "up"}, error)) return nullptr;  // destructor removes it
  return ns;
}

NetworkNamespace::~NetworkNamespace() {
  close(fd_);
  std::string error;
  run_ip({"netns", "del", name_}, &error);  // nothing more to do if it fails; the sweep retries
}

bool NetworkNamespace::ip(const std::vector<std::string>& args, std::string* error) const {
  std::vector<std::string> full = {"-n", name_};
  full.insert(full.end(), args.begin(), args.end());
  return run_ip(full, error);
}

// ---------------------------------------------------------------------------
// ScopedNamespaceEntry

ScopedNamespaceEntry::ScopedNamespaceEntry(const NetworkNamespace& ns) {
  saved_fd_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (saved_fd_ < 0) {
    error_ = errno_text("open /proc/thread-self/ns/net");
    return;
  }
  if (setns(ns.fd(), CLONE_NEWNET) != 0) {
    error_ = errno_text(("setns " + ns.name()).c_str());
    close(saved_fd_);
    saved_fd_ = -1;
    return;
  }
  ok_ = true;
}

ScopedNamespaceEntry::~ScopedNamespaceEntry() {
  if (!ok_) return;
  // Failing to return would leave the thread in a namespace about to vanish.
  const int rc = setns(saved_fd_, CLONE_NEWNET);
  CELLSIM_ASSERT(rc == 0);
  close(saved_fd_);
}

// ---------------------------------------------------------------------------
// TunDevice

std::unique_ptr<TunDevice> TunDevice::create(const NetworkNamespace& ns, std::string_view ifname,
                                             std::string* error) {
  CELLSIM_ASSERT(error != nullptr);
  CELLSIM_ASSERT(!ifname.empty() && ifname.size() < IFNAMSIZ);
  // The device belongs to the namespace of the thread that opens the file.
  ScopedNamespaceEntry inside(ns);
  if (!inside.ok()) {
    *error = inside.error();
    return nullptr;
  }
  const int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    *error = errno_text("open /dev/net/tun");
    return nullptr;
  }
  ifreq ifr{};
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  std::memcpy(ifr.ifr_name, ifname.data(), ifname.size());
  if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
    *error = errno_text("ioctl TUNSETIFF");
    close(fd);
    return nullptr;
  }
  return std::unique_ptr<TunDevice>(new TunDevice(ifr.ifr_name, fd));
}

TunDevice::~TunDevice() { close(fd_); }

}  // namespace cellsim::netem
