#include "cli/flags.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <limits>

#include "proto/assert.h"

#ifndef CELLSIM_VERSION
#error "CELLSIM_VERSION comes from the CMake project version (cli/CMakeLists.txt)"
#endif

namespace cellsim::cli {
namespace {

// Help columns: flag names and their value kind fit in this width.
constexpr size_t kHelpColumn_chars = 34;

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

std::string real_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

CLI::Validator validator(std::function<std::string(const std::string&)> check,
                         const std::string& description) {
  return CLI::Validator([check](std::string& s) { return check(s); }, description);
}

}  // namespace

const char* version() { return CELLSIM_VERSION; }

std::string check_unsigned(const std::string& text, uint64_t min, uint64_t max) {
  const std::string allowed =
      "needs an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
  uint64_t v = 0;
  const char* end = text.data() + text.size();
  const auto r = std::from_chars(text.data(), end, v, 10);
  const bool digits = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
  if (!digits || r.ec != std::errc() || r.ptr != end || v < min || v > max) {
    return allowed + ", got " + quoted(text);
  }
  return "";
}

std::string check_real(const std::string& text, double min, double max, Lower lower) {
  const std::string allowed = std::string("needs a number in ") +
                              (lower == Lower::kOpen ? "(" : "[") + real_text(min) + ", " +
                              real_text(max) + "]";
  if (text.empty() || text.find_first_of(" \t\n") != std::string::npos) {
    return allowed + ", got " + quoted(text);
  }
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text.c_str(), &end);
  const bool parsed = errno == 0 && end != nullptr && *end == '\0' && std::isfinite(v);
  const bool above = lower == Lower::kOpen ? v > min : v >= min;
  if (!parsed || !above || v > max) return allowed + ", got " + quoted(text);
  return "";
}

bool split_host_port(const std::string& text, std::string* host, uint16_t* port) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  const std::string digits = text.substr(colon + 1);
  if (!check_unsigned(digits, 1, 65535).empty()) return false;
  *host = text.substr(0, colon);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  *port = static_cast<uint16_t>(std::stoul(digits));
  return true;
}

std::string check_host_port(const std::string& text) {
  std::string host;
  uint16_t port = 0;
  if (split_host_port(text, &host, &port)) return "";
  return "needs HOST:PORT with PORT in [1, 65535], got " + quoted(text);
}

Flags::Flags(std::string program, std::string summary)
    : program_(std::move(program)), app_(std::move(summary), program_) {
  app_.set_version_flag("--version", program_.substr(0, program_.find(' ')) + " " + version(),
                        "print the version and exit");
  app_.set_help_flag("-h,--help", "print this help and exit");
  app_.get_formatter()->column_width(kHelpColumn_chars);
  app_.allow_extras();  // parse() refuses them itself, first (unexpected())
}

// An unsigned flag of type T checked as text against [min, max].
template <typename T>
CLI::Option* add_unsigned(CLI::App& app, const std::string& name, T* out, uint64_t min,
                          uint64_t max, const std::string& help) {
  CELLSIM_ASSERT(min <= max);
  auto check = [min, max](const std::string& s) { return check_unsigned(s, min, max); };
  return app.add_option(name, *out, help)->check(validator(check, ""))->type_name("N");
}

CLI::Option* Flags::u64(const std::string& name, uint64_t* out, uint64_t min, uint64_t max,
                        const std::string& help) {
  return add_unsigned(app_, name, out, min, max, help);
}

CLI::Option* Flags::u32(const std::string& name, uint32_t* out, uint32_t min, uint32_t max,
                        const std::string& help) {
  return add_unsigned(app_, name, out, min, max, help);
}

CLI::Option* Flags::real(const std::string& name, double* out, double min, double max,
                         const std::string& help, Lower lower) {
  CELLSIM_ASSERT(min <= max);
  auto check = [min, max, lower](const std::string& s) { return check_real(s, min, max, lower); };
  return app_.add_option(name, *out, help)
      ->check(validator(check, ""))
      ->type_name("X");
}

CLI::Option* Flags::text(const std::string& name, std::string* out, const std::string& help) {
  auto check = [](const std::string& s) {
    return s.empty() ? std::string("needs a non-empty value") : std::string();
  };
  return app_.add_option(name, *out, help)->check(validator(check, ""))->type_name("TEXT");
}

CLI::Option* Flags::choice(const std::string& name, std::string* out,
                           std::initializer_list<const char*> allowed, const std::string& help) {
  std::vector<std::string> list(allowed.begin(), allowed.end());
  std::string names;
  for (const auto& a : list) names += (names.empty() ? "" : ", ") + a;
  auto check = [list, names](const std::string& s) {
    for (const auto& a : list) {
      if (s == a) return std::string();
    }
    return "needs one of " + names + ", got " + quoted(s);
  };
  return app_.add_option(name, *out, help)->check(validator(check, ""))->type_name("{" + names + "}");
}

CLI::Option* Flags::flag(const std::string& name, bool* out, const std::string& help) {
  return app_.add_flag(name, *out, help);
}

CLI::Option* Flags::host_port(const std::string& name, std::string* out,
                              const std::string& help) {
  return app_.add_option(name, *out, help)
      ->check(validator(check_host_port, ""))
      ->type_name("HOST:PORT");
}

CLI::Option* Flags::texts(const std::string& name, std::vector<std::string>* out,
                          const std::string& help) {
  return app_.add_option(name, *out, help)
      ->type_name("TEXT")
      ->type_size(1)
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

CLI::Option* Flags::positional(const std::string& name, std::string* out,
                               const std::string& help, bool required) {
  CLI::Option* o = app_.add_option(name, *out, help)->type_name("");
  if (required) o->required();
  return o;
}

CLI::Option* Flags::positionals(const std::string& name, std::vector<std::string>* out,
                                const std::string& help) {
  return app_.add_option(name, *out, help)->type_name("")->required();
}

// An unknown flag or a positional too many, said before anything else is
// wrong with the command line (a missing required flag, say); "" if none.
std::string Flags::unexpected() const {
  const std::vector<std::string> rest = app_.remaining();
  if (rest.empty()) return "";
  const std::string& x = rest.front();
  return (x.size() > 1 && x[0] == '-' ? "unknown flag " : "unexpected argument ") + x;
}

std::optional<int> Flags::parse(int argc, char** argv) {
  try {
    app_.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app_.help();
    return 0;
  } catch (const CLI::CallForVersion& e) {
    std::cout << e.what() << "\n";
    return 0;
  } catch (const CLI::ParseError& e) {
    const std::string extra = unexpected();
    return usage_error(extra.empty() ? e.what() : extra);
  }
  if (std::string extra = unexpected(); !extra.empty()) return usage_error(extra);
  return std::nullopt;
}

bool Flags::given(const std::string& name) const {
  const CLI::Option* o = app_.get_option_no_throw(name);
  return o != nullptr && o->count() > 0;
}

int Flags::usage_error(const std::string& message) const {
  std::string line = message;
  for (char& c : line) {
    if (c == '\n') c = ' ';  // one line, whatever CLI11 wrote
  }
  while (!line.empty() && line.back() == ' ') line.pop_back();
  std::cerr << program_ << ": " << line << "\n";
  return kExitUsage;
}

}  // namespace cellsim::cli
