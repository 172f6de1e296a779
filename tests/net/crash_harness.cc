#include "tests/net/crash_harness.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>

namespace cellsim::net::testing {
namespace {

namespace fs = std::filesystem;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool hex_decode(const std::string& hex, std::string* out) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  out->clear();
  if (hex.size() % 2 != 0) return false;
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
  }
  return true;
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

bool ChildProcess::start(const std::vector<std::string>& args, const std::string& log_path,
                         std::string* why) {
  kill_and_reap();
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    *why = std::string("fork: ") + std::strerror(errno);
    if (log >= 0) ::close(log);
    return false;
  }
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    if (log >= 0) {
      ::dup2(log, 1);
      ::dup2(log, 2);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  if (log >= 0) ::close(log);
  pid_.store(pid);
  return true;
}

void ChildProcess::sigkill() const { signal(SIGKILL); }

void ChildProcess::signal(int sig) const {
  const pid_t p = pid_.load();
  if (p > 0) ::kill(p, sig);
}

std::optional<int> ChildProcess::wait(int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    int status = 0;
    if (exited(&status)) return status;
    if (!running()) return std::nullopt;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

bool ChildProcess::exited(int* status) {
  const pid_t p = pid_.load();
  if (p <= 0) return false;
  const pid_t r = ::waitpid(p, status, WNOHANG);
  if (r == p || (r < 0 && errno == ECHILD)) {
    pid_.store(-1);
    return true;
  }
  return false;
}

void ChildProcess::kill_and_reap() {
  const pid_t p = pid_.load();
  if (p <= 0) return;
  ::kill(p, SIGKILL);
  int status = 0;
  while (::waitpid(p, &status, 0) < 0 && errno == EINTR) {
  }
  pid_.store(-1);
}

std::optional<std::string> run_capture(const std::vector<std::string>& args) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return std::nullopt;
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return std::nullopt;
  }
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  return out;
}

bool make_server_files(const std::string& binary, const std::string& dir,
                       const v1::Deployment& deployment, ServerFiles* out, std::string* why) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir + "/minutes", ec);
  if (ec) {
    *why = dir + ": " + ec.message();
    return false;
  }
  out->binary = binary;
  out->dir = dir;
  out->key_file = dir + "/key";
  out->deployment_file = dir + "/cells.textproto";
  out->minutes_dir = dir + "/minutes";
  out->port_file = dir + "/ports";
  out->log_file = dir + "/cellmeetd.log";
  if (!run_capture({binary, "keygen", "--out", out->key_file})) {
    *why = binary + " keygen failed";
    return false;
  }
  if (!hex_decode(trimmed(read_file(out->key_file)), &out->key) || out->key.size() < 32) {
    *why = out->key_file + ": not a hex key";
    return false;
  }
  std::string text;
  google::protobuf::TextFormat::PrintToString(deployment, &text);
  std::ofstream(out->deployment_file) << text;
  return true;
}

bool start_server(const ServerFiles& files, unsigned threads, ChildProcess* child, uint16_t* port,
                  std::string* why) {
  std::error_code ec;
  fs::remove(files.port_file, ec);
  if (!child->start({files.binary, "serve", "--key", files.key_file, "--deployment",
                     files.deployment_file, "--listen", "127.0.0.1", "--port", "0",
                     "--no-metrics", "--threads", std::to_string(threads), "--minutes-dir",
                     files.minutes_dir, "--port-file", files.port_file},
                    files.log_file, why)) {
    return false;
  }
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(kServerStartTimeoutMs);
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string text = read_file(files.port_file);
    unsigned p = 0, mp = 0;
    if (!text.empty() && std::sscanf(text.c_str(), "%u %u", &p, &mp) >= 1 && p > 0) {
      *port = static_cast<uint16_t>(p);
      return true;
    }
    int status = 0;
    if (child->exited(&status)) {
      *why = "cellmeetd exited at start (status " + std::to_string(status) +
             "): " + file_tail(files.log_file);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  child->kill_and_reap();
  *why = "cellmeetd wrote no port file within " + std::to_string(kServerStartTimeoutMs) +
         " ms: " + file_tail(files.log_file);
  return false;
}

std::string file_tail(const std::string& path, size_t bytes) {
  const std::string s = read_file(path);
  return s.size() <= bytes ? s : s.substr(s.size() - bytes);
}

bool parse_minutes_name(const std::string& name, MinutesName* out) {
  static const std::regex re(R"(^minutes-cell([0-9]+)-meeting([0-9]+)-(recovered-)?([0-9]+)(-[0-9]+)?\.json$)");
  std::smatch m;
  if (!std::regex_match(name, m, re)) return false;
  out->cell_id = std::stoull(m[1]);
  out->meeting_id = std::stoull(m[2]);
  out->recovered = m[3].matched;
  out->at_ms = std::stoll(m[4]);
  return true;
}

std::map<std::string, std::string> read_minutes_files(const std::string& dir) {
  std::map<std::string, std::string> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    MinutesName parsed;
    if (e.is_regular_file() && parse_minutes_name(name, &parsed)) {
      files[name] = read_file(e.path().string());
    }
  }
  return files;
}

bool parse_minutes_json(const std::string& json, v1::Minutes* out, std::string* why) {
  out->Clear();
  const auto status = google::protobuf::util::JsonStringToMessage(json, out);
  if (!status.ok()) {
    *why = std::string(status.message());
    return false;
  }
  return true;
}

}  // namespace cellsim::net::testing
