// fuzz_scenario: the scenario loader (scenario/loader.h, parse_scenario) on
// arbitrary text. It must answer with errors, never crash, hang or leak.
//
// Input: the scenario text itself (the seeds are the shipped scenarios).
//
// Checks: parse_scenario() returns false with at least one error, each
// printable (to_string() names at least the message), or true with no error
// and a scenario that validate_scenario() accepts as it is (the loader's
// output is final: defaults applied, validated).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <google/protobuf/stubs/logging.h>

#include "scenario/loader.h"

#define FUZZ_CHECK(cond)                                                           \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      std::fprintf(stderr, "fuzz_scenario: check failed at %s:%d: %s\n", __FILE__, \
                   __LINE__, #cond);                                               \
      std::abort();                                                                \
    }                                                                              \
  } while (0)

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Protobuf may log what it refuses (text that is not UTF-8): expected here,
  // and it would drown libFuzzer's output.
  if (std::getenv("FUZZ_SCENARIO_VERBOSE") == nullptr) {
    google::protobuf::SetLogHandler([](google::protobuf::LogLevel, const char*, int,
                                       const std::string&) {});
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  cellsim::v1::Scenario out;
  std::vector<cellsim::scenario::LoadError> errors;
  const bool ok = cellsim::scenario::parse_scenario(text, "fuzz.textproto", &out, &errors);
  if (ok) {
    FUZZ_CHECK(errors.empty());
    std::vector<cellsim::scenario::LoadError> again;
    const bool valid = cellsim::scenario::validate_scenario(out, &again);
    if (!valid) {
      for (const auto& e : again) std::fprintf(stderr, "  %s\n", e.to_string().c_str());
    }
    FUZZ_CHECK(valid);
  } else {
    FUZZ_CHECK(!errors.empty());
    for (const auto& e : errors) {
      FUZZ_CHECK(!e.message.empty());
      FUZZ_CHECK(!e.to_string().empty());
      FUZZ_CHECK(e.line >= 0 && e.column >= 0);
    }
  }
  return 0;
}
