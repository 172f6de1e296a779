// cellmeetd's configuration files: the deployment key and the deployment
// (the cells' rosters), and the minutes files the server keeps.
//
// Key file: the HMAC key as hex, at least 2 × engine::kMinKeyBytes hex digits,
// surrounding whitespace allowed. Deployment file: Protobuf text format of
// cellsim.v1.Deployment; a syntax error reads "FILE:LINE:COL: message" with
// 1-based line and column.
//
// Expected failures (missing file, bad content) return false with a reason
// naming the file in *why. Thread-safe: no shared state.
#ifndef CELLSIM_SERVER_NET_CONFIG_H_
#define CELLSIM_SERVER_NET_CONFIG_H_

#include <cstddef>
#include <string>
#include <vector>

#include "cellsim/v1/wire.pb.h"

namespace cellsim::net {

namespace v1 = ::cellsim::v1;

// Bytes of key that keygen writes.
inline constexpr size_t kNewKeyBytes = 32;
// Largest key file read, bytes (a key is a few dozen hex digits).
inline constexpr size_t kMaxKeyFileBytes = 4096;
// Largest deployment file read, bytes.
inline constexpr size_t kMaxDeploymentFileBytes = 256u << 20;
// Parse errors reported from one deployment file, at most.
inline constexpr size_t kMaxReportedParseErrors = 20;

// Reads a hex key file into raw key bytes.
bool load_key_file(const std::string& path, std::string* key, std::string* why);

// Writes kNewKeyBytes random bytes from /dev/urandom as hex to a new file of
// mode 0600. Refuses to overwrite an existing file.
bool write_new_key_file(const std::string& path, std::string* why);

// Parses a Protobuf text-format cellsim.v1.Deployment.
bool load_deployment(const std::string& path, v1::Deployment* out, std::string* why);

// Parses text-format Deployment held in memory; `name` labels the errors.
bool parse_deployment(const std::string& text, const std::string& name, v1::Deployment* out,
                      std::string* why);

// Lowercase hex of `bytes`, and its inverse (false on odd length or a
// non-hex digit).
std::string to_hex(const std::string& bytes);
bool from_hex(const std::string& hex, std::string* bytes);

// One line "cellmeetd: LINE" to stderr, in one write.
void log_line(const std::string& line);

// Writes `minutes` as JSON to DIR/minutes-cell<C>-meeting<M>-<closed_at_ms>.json
// (recovered minutes: ...-recovered-<closed_at_ms>[-N].json), durably: a
// temporary file in DIR, fsync, then a hard link to the name, which never
// replaces an existing file. Final minutes whose file exists already (the
// same meeting closed at the same time, written again after a crash) are
// left as they are; recovered or interrupted minutes take the next free
// suffix N (at most kMaxMinutesSuffix). *path gets the name.
inline constexpr int kMaxMinutesSuffix = 10'000;
bool write_minutes_file(const std::string& dir, const v1::Minutes& minutes, std::string* path,
                        std::string* why);
std::string minutes_file_name(const v1::Minutes& minutes);

}  // namespace cellsim::net

#endif  // CELLSIM_SERVER_NET_CONFIG_H_
