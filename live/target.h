// The server a live run drives, as a command line names it: the embedded
// cellmeetd (no target) or a running one at HOST:PORT with its key file,
// and the TLS files' combinations. `cellsim load` and the tests use it; it
// checks what run_load() (live/driver.h) takes for granted.
//
// Thread-safety: stateless functions.
#ifndef CELLSIM_LIVE_TARGET_H_
#define CELLSIM_LIVE_TARGET_H_

#include <string>

#include "live/driver.h"

namespace cellsim::live {

struct TargetSpec {
  std::string target;  // as given ("HOST:PORT"); empty: the embedded server
  std::string host;    // the target split (cli::split_host_port)
  uint16_t port = 0;
  std::string key_file;  // cellmeetd's hex key file; required with a target
  std::string tls_ca, tls_cert, tls_key, tls_name;  // PEM files, the name to verify
  bool tls_generate = false;  // embedded server only: a CA and certificate made at run time
};

// Fills o->target_host, target_port, key and the tls_* fields from `t`.
// False with why (naming the flag: --target, --key, --tls...) when a value
// or a combination is not allowed or the key file cannot be read.
// REQUIRES: host and port set when target is not empty.
bool resolve_target(const TargetSpec& t, LoadOptions* o, std::string* why);

// Writes deployment_text(s) to `path` (a cellmeetd --deployment file).
// False with why.
bool write_deployment_file(const v1::Scenario& s, const std::string& path, std::string* why);

}  // namespace cellsim::live

#endif  // CELLSIM_LIVE_TARGET_H_
