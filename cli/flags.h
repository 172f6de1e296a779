// The command-line layer of every cellsim program: the `cellsim`
// subcommands, `cellmeetd` and `cellmeet-demo`. It wraps CLI11 (Debian's
// libcli11-dev) so that all of them behave alike:
//
//   * `--help` prints the usage to stdout and exits 0; `--version` prints
//     "PROGRAM VERSION" (the CMake project version) and exits 0;
//   * a bad command line prints ONE line to stderr, "PROGRAM: --flag: what is
//     allowed, got "value"" (or the unknown flag, or the missing argument),
//     and the command exits 2 (kExitUsage);
//   * numbers are checked as text before they are converted: an integer flag
//     takes digits only (no sign, no spaces, no 1e3), within its named range;
//     a real flag takes a finite decimal within its range.
//
// Usage:
//   Flags f("cellsim run", "Simulates the scenario ...");
//   f.positional("SCENARIO", &file, "the scenario (text format)");
//   f.u64("--seed", &seed, 0, UINT64_MAX, "the run's seed");
//   if (auto rc = f.parse(argc, argv)) return *rc;   // help, version or error
//
// Thread-safety: a Flags object is used by one thread; the free functions
// are thread-safe.
#ifndef CELLSIM_CLI_FLAGS_H_
#define CELLSIM_CLI_FLAGS_H_

#include <CLI/CLI.hpp>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

namespace cellsim::cli {

inline constexpr int kExitUsage = 2;

// The project version, "0.1.0" (CMake's PROJECT_VERSION).
const char* version();

// Whether the lower end of a real range is included.
enum class Lower { kClosed, kOpen };

class Flags {
 public:
  // `program` is how the command is typed ("cellsim run", "cellmeetd serve").
  Flags(std::string program, std::string summary);
  Flags(const Flags&) = delete;
  Flags& operator=(const Flags&) = delete;

  // The underlying CLI11 app, for what the helpers below do not cover.
  CLI::App& app() { return app_; }
  const std::string& program() const { return program_; }

  // REQUIRES: min <= max.
  CLI::Option* u64(const std::string& name, uint64_t* out, uint64_t min, uint64_t max,
                   const std::string& help);
  CLI::Option* u32(const std::string& name, uint32_t* out, uint32_t min, uint32_t max,
                   const std::string& help);
  // A finite real in [min, max] (or (min, max] with Lower::kOpen).
  // REQUIRES: min <= max.
  CLI::Option* real(const std::string& name, double* out, double min, double max,
                    const std::string& help, Lower lower = Lower::kClosed);
  // A non-empty text (a path, an address, ...).
  CLI::Option* text(const std::string& name, std::string* out, const std::string& help);
  // One of `allowed`.
  CLI::Option* choice(const std::string& name, std::string* out,
                      std::initializer_list<const char*> allowed, const std::string& help);
  CLI::Option* flag(const std::string& name, bool* out, const std::string& help);
  // HOST:PORT or [V6]:PORT, PORT in [1, 65535]; split_host_port() splits it.
  CLI::Option* host_port(const std::string& name, std::string* out, const std::string& help);
  // Repeatable text flag: each occurrence appends.
  CLI::Option* texts(const std::string& name, std::vector<std::string>* out,
                     const std::string& help);
  // A positional argument (required unless `optional`).
  CLI::Option* positional(const std::string& name, std::string* out, const std::string& help,
                          bool required = true);
  // All remaining positional arguments (at least one).
  CLI::Option* positionals(const std::string& name, std::vector<std::string>* out,
                           const std::string& help);

  // Text after the options in --help (exit codes, examples).
  void footer(const std::string& text) { app_.footer(text + "\n"); }

  // Parses argv[1..] (argv[0] is the command's name). Returns nullopt when
  // the command should go on; otherwise the exit code: 0 after --help or
  // --version (printed to stdout), kExitUsage after a bad command line (one
  // line on stderr).
  std::optional<int> parse(int argc, char** argv);

  // True when `name` was given on the command line.
  bool given(const std::string& name) const;

  // One line "PROGRAM: message" on stderr; returns kExitUsage. For problems
  // found after parsing (two flags that exclude each other, a file missing).
  int usage_error(const std::string& message) const;

 private:
  std::string unexpected() const;

  std::string program_;
  CLI::App app_;
};

// The validators behind the typed flags, for checks on other options.
// Each returns "" when `text` is allowed, else what is allowed.
std::string check_unsigned(const std::string& text, uint64_t min, uint64_t max);
std::string check_real(const std::string& text, double min, double max, Lower lower);
std::string check_host_port(const std::string& text);

// Splits HOST:PORT (brackets around an IPv6 host removed). False when
// check_host_port(text) would refuse it.
bool split_host_port(const std::string& text, std::string* host, uint16_t* port);

}  // namespace cellsim::cli

#endif  // CELLSIM_CLI_FLAGS_H_
