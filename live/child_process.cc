#include "live/child_process.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "proto/assert.h"

namespace cellsim::live {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr double kServerStartPollS = 0.02;
constexpr double kServerStopPollS = 0.01;

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

Clock::time_point after(double seconds) {
  return Clock::now() +
         std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

void sleep_s(double seconds) {
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
}

// The child's side of spawn_child(): only async-signal-safe calls until exec.
[[noreturn]] void exec_child(char* const* argv, int output_fd, const SpawnOptions& o,
                             pid_t parent) {
  if (o.death_signal != 0) {
    ::prctl(PR_SET_PDEATHSIG, o.death_signal);
    if (::getppid() != parent) ::_exit(127);
  }
  if (output_fd >= 0) {
    ::dup2(output_fd, STDOUT_FILENO);
    if (!o.keep_stderr) ::dup2(output_fd, STDERR_FILENO);
  }
  ::execv(argv[0], argv);
  ::_exit(127);
}

}  // namespace

// --- Children ------------------------------------------------------------------

pid_t spawn_child(const std::vector<std::string>& argv, const SpawnOptions& o, std::string* why) {
  CELLSIM_ASSERT(!argv.empty());
  std::vector<std::string> args = argv;  // execv wants char*, not const char*
  std::vector<char*> ptrs;
  for (auto& a : args) ptrs.push_back(a.data());
  ptrs.push_back(nullptr);
  int fd = -1;
  if (!o.output_file.empty()) {
    const int mode = o.append ? O_APPEND : O_TRUNC;
    fd = ::open(o.output_file.c_str(), O_WRONLY | O_CREAT | mode | O_CLOEXEC, o.output_mode);
    if (fd < 0) {
      *why = "cannot write " + o.output_file;
      return -1;
    }
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) exec_child(ptrs.data(), fd, o, parent);
  if (fd >= 0) ::close(fd);
  if (pid < 0) *why = "fork failed: " + std::string(std::strerror(errno));
  return pid < 0 ? -1 : pid;
}

int wait_child(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int run_child(const std::vector<std::string>& argv, const SpawnOptions& options) {
  std::string why;
  const pid_t pid = spawn_child(argv, options, &why);
  return pid < 0 ? -1 : wait_child(pid);
}

int stop_child(pid_t pid, double timeout_s, double poll_s) {
  CELLSIM_ASSERT(pid > 0);
  ::kill(pid, SIGTERM);
  int status = 0;
  const auto deadline = after(timeout_s);
  bool done = false;
  while (Clock::now() < deadline) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      done = true;
      break;
    }
    sleep_s(poll_s);
  }
  if (!done) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  return done && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

PortFileWait wait_for_port_file(pid_t pid, const std::string& path, double timeout_s, double poll_s,
                                uint16_t* port, uint16_t* metrics_port) {
  const auto deadline = after(timeout_s);
  while (Clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return PortFileWait::kExited;
    std::ifstream in(path);
    unsigned p = 0, mp = 0;
    if (in >> p >> mp) {
      *port = static_cast<uint16_t>(p);
      *metrics_port = static_cast<uint16_t>(mp);
      return PortFileWait::kReady;
    }
    sleep_s(poll_s);
  }
  return PortFileWait::kTimedOut;
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// --- The child server ----------------------------------------------------------

bool ServerProcess::start(const std::string& binary, const std::vector<std::string>& args,
                          const std::string& workdir, std::string* why) {
  stop();
  const std::string port_file = workdir + "/ports";
  log_ = workdir + "/cellmeetd.log";
  std::error_code ec;
  fs::remove(port_file, ec);
  std::vector<std::string> argv = {binary, "serve"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--port-file");
  argv.push_back(port_file);
  SpawnOptions o;
  o.output_file = log_;
  pid_ = spawn_child(argv, o, why);
  if (pid_ < 0) return false;
  switch (wait_for_port_file(pid_, port_file, kServerStartTimeoutS, kServerStartPollS, &port_,
                             &metrics_port_)) {
    case PortFileWait::kReady:
      return true;
    case PortFileWait::kExited:
      pid_ = -1;
      *why = "cellmeetd exited at start: " + trim(read_text_file(log_));
      return false;
    case PortFileWait::kTimedOut:
      break;
  }
  *why = "cellmeetd did not write its port file within " +
         std::to_string(static_cast<int>(kServerStartTimeoutS)) +
         " s: " + trim(read_text_file(log_));
  stop();
  return false;
}

int ServerProcess::stop() {
  if (pid_ <= 0) return -1;
  const int status = stop_child(pid_, kServerStopTimeoutS, kServerStopPollS);
  pid_ = -1;
  port_ = metrics_port_ = 0;
  return status;
}

std::string find_cellmeetd(const std::string& cellsim_exe) {
  std::error_code ec;
  fs::path exe = fs::weakly_canonical(cellsim_exe, ec);
  if (ec) exe = cellsim_exe;
  for (const fs::path& cand :
       {exe.parent_path() / "cellmeetd", exe.parent_path().parent_path() / "cellmeetd"}) {
    if (::access(cand.c_str(), X_OK) == 0) return cand.string();
  }
  return "";
}

// --- /proc accounting ------------------------------------------------------------

bool parse_schedstat(std::string_view text, uint64_t* ns) {
  size_t i = 0;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  if (i >= text.size() || !std::isdigit(static_cast<unsigned char>(text[i]))) return false;
  uint64_t v = 0;
  for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
    v = v * 10 + static_cast<uint64_t>(text[i] - '0');
  }
  if (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) return false;
  *ns = v;
  return true;
}

bool parse_stat_ticks(std::string_view text, uint64_t* ticks) {
  const size_t close = text.rfind(')');
  if (close == std::string_view::npos) return false;
  std::istringstream in(std::string(text.substr(close + 1)));
  // After the name: field 3 (state) onwards; utime and stime are 14 and 15.
  std::string field;
  uint64_t utime = 0, stime = 0;
  for (int f = 3; f <= 15; ++f) {
    if (!(in >> field)) return false;
    if (f == 14 || f == 15) {
      if (field.empty() || field.find_first_not_of("0123456789") != std::string::npos) return false;
      (f == 14 ? utime : stime) = std::stoull(field);
    }
  }
  *ticks = utime + stime;
  return true;
}

bool read_stat_ticks(const std::string& who, uint64_t* ticks) {
  return parse_stat_ticks(read_text_file("/proc/" + who + "/stat"), ticks);
}

namespace {

// The sum of schedstat's ns over the threads alive now; false if none was readable.
bool schedstat_ns(pid_t pid, uint64_t* ns) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  uint64_t sum = 0;
  bool any = false;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;
      uint64_t v = 0;
      if (parse_schedstat(read_text_file(dir + "/" + e->d_name + "/schedstat"), &v)) {
        sum += v;
        any = true;
      }
    }
    ::closedir(d);
  }
  if (any) *ns = sum;
  return any;
}

}  // namespace

bool process_cpu_ns(pid_t pid, uint64_t* ns, std::string* why) {
  if (schedstat_ns(pid, ns)) return true;
  uint64_t ticks = 0;
  if (read_stat_ticks(std::to_string(pid), &ticks)) {
    const long hz = ::sysconf(_SC_CLK_TCK);
    *ns = ticks * (1'000'000'000ull / static_cast<uint64_t>(hz > 0 ? hz : 100));
    return true;
  }
  if (why) *why = "cannot read the CPU time of process " + std::to_string(pid) + " in /proc";
  return false;
}

}  // namespace cellsim::live
