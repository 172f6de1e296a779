#include "server/net/config.h"

#include <dirent.h>
#include <fcntl.h>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <vector>

#include "server/engine/token.h"

namespace cellsim::net {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

// Closes a file descriptor when it goes out of scope.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  // Closes now; false (errno set) if close failed.
  bool close_now() {
    const int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0;
  }

 private:
  int fd_;
};

// Reads a whole regular file of at most `max_bytes`.
bool read_small_file(const std::string& path, size_t max_bytes, std::string* out,
                     std::string* why) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *why = path + ": cannot open: " + errno_text(errno);
    return false;
  }
  FdCloser closer(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    *why = path + ": not a regular file";
    return false;
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    *why = path + ": larger than " + std::to_string(max_bytes) + " bytes";
    return false;
  }
  out->clear();
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *why = path + ": read failed: " + errno_text(errno);
      return false;
    }
    if (n == 0) return true;
    out->append(buf, static_cast<size_t>(n));
    if (out->size() > max_bytes) {
      *why = path + ": larger than " + std::to_string(max_bytes) + " bytes";
      return false;
    }
  }
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool read_urandom(size_t n, std::string* out, std::string* why) {
  const int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *why = "/dev/urandom: cannot open: " + errno_text(errno);
    return false;
  }
  FdCloser closer(fd);
  out->resize(n);
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::read(fd, out->data() + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      *why = "/dev/urandom: short read";
      return false;
    }
    got += static_cast<size_t>(r);
  }
  return true;
}

std::string_view trim(std::string_view s) {
  const auto is_space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
  };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Collects text-format parse errors as "NAME:LINE:COL: message", 1-based.
class ParseErrors : public google::protobuf::io::ErrorCollector {
 public:
  explicit ParseErrors(std::string name) : name_(std::move(name)) {}
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    ++count_;
    if (count_ > kMaxReportedParseErrors) return;
    if (!text_.empty()) text_ += "\n";
    text_ +=
        name_ + ":" + std::to_string(line + 1) + ":" + std::to_string(column + 1) + ": " + message;
  }
  const std::string& text() const { return text_; }
  size_t count() const { return count_; }

 private:
  std::string name_;
  std::string text_;
  size_t count_ = 0;
};

bool fsync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  FdCloser closer(fd);
  return ::fsync(fd) == 0;
}

}  // namespace

std::string to_hex(const std::string& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

bool from_hex(const std::string& hex, std::string* bytes) {
  if (hex.size() % 2 != 0) return false;
  bytes->clear();
  bytes->reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int hi = hex_value(hex[i]);
    const int lo = hex_value(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    bytes->push_back(static_cast<char>((hi << 4) | lo));
  }
  return true;
}

bool load_key_file(const std::string& path, std::string* key, std::string* why) {
  std::string text;
  if (!read_small_file(path, kMaxKeyFileBytes, &text, why)) return false;
  const std::string hex(trim(text));
  constexpr size_t kMinHexDigits = 2 * engine::kMinKeyBytes;
  if (!from_hex(hex, key)) {
    *why = path + ": the key must be hex digits only (an even number of them)";
    return false;
  }
  if (hex.size() < kMinHexDigits) {
    *why = path + ": the key has " + std::to_string(hex.size()) + " hex digits; at least " +
           std::to_string(kMinHexDigits) + " are needed";
    return false;
  }
  return true;
}

bool write_new_key_file(const std::string& path, std::string* why) {
  std::string key;
  if (!read_urandom(kNewKeyBytes, &key, why)) return false;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    *why = path + ": cannot create: " + errno_text(errno) +
           (errno == EEXIST ? " (refusing to overwrite a key)" : "");
    return false;
  }
  FdCloser closer(fd);
  if (::fchmod(fd, 0600) != 0 || !write_all(fd, to_hex(key) + "\n") || ::fsync(fd) != 0 ||
      !closer.close_now()) {
    *why = path + ": write failed: " + errno_text(errno);
    ::unlink(path.c_str());
    return false;
  }
  return true;
}

bool parse_deployment(const std::string& text, const std::string& name, v1::Deployment* out,
                      std::string* why) {
  ParseErrors errors(name);
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  out->Clear();
  if (parser.ParseFromString(text, out)) return true;
  *why = errors.text().empty() ? name + ": does not parse as cellsim.v1.Deployment" : errors.text();
  if (errors.count() > kMaxReportedParseErrors) {
    *why += "\n" + name + ": (" + std::to_string(errors.count() - kMaxReportedParseErrors) +
            " more errors)";
  }
  return false;
}

bool load_deployment(const std::string& path, v1::Deployment* out, std::string* why) {
  std::string text;
  if (!read_small_file(path, kMaxDeploymentFileBytes, &text, why)) return false;
  return parse_deployment(text, path, out, why);
}

namespace {

// Writes `minutes` as JSON to a new temporary file in `dir`, fsynced; its
// name in *tmp.
bool write_minutes_tmp(const std::string& dir, const v1::Minutes& minutes, std::string* tmp,
                       std::string* why) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  if (auto st = google::protobuf::util::MessageToJsonString(minutes, &json, options); !st.ok()) {
    *why = "minutes to JSON: " + st.ToString();
    return false;
  }
  *tmp = dir + "/.minutes-" + std::to_string(minutes.cell_id()) + "-" +
         std::to_string(minutes.meeting_id()) + "-" + std::to_string(::getpid()) + ".tmp";
  const int fd = ::open(tmp->c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    *why = *tmp + ": cannot create: " + errno_text(errno);
    return false;
  }
  FdCloser closer(fd);
  if (!write_all(fd, json) || ::fsync(fd) != 0 || !closer.close_now()) {
    *why = *tmp + ": write failed: " + errno_text(errno);
    ::unlink(tmp->c_str());
    return false;
  }
  return true;
}

}  // namespace

void log_line(const std::string& line) {
  const std::string text = "cellmeetd: " + line + "\n";
  std::fwrite(text.data(), 1, text.size(), stderr);  // one write per line
}

std::string minutes_file_name(const v1::Minutes& minutes) {
  return "minutes-cell" + std::to_string(minutes.cell_id()) + "-meeting" +
         std::to_string(minutes.meeting_id()) + (minutes.recovered() ? "-recovered-" : "-") +
         std::to_string(minutes.closed_at_ms()) + ".json";
}

bool write_minutes_file(const std::string& dir, const v1::Minutes& minutes, std::string* path,
                        std::string* why) {
  std::string tmp;
  if (!write_minutes_tmp(dir, minutes, &tmp, why)) return false;
  const std::string base = minutes_file_name(minutes);
  const std::string stem = base.substr(0, base.size() - 5);  // without ".json"
  bool ok = false;
  for (int n = 1; n <= kMaxMinutesSuffix && !ok; ++n) {
    *path = dir + "/" + (n == 1 ? base : stem + "-" + std::to_string(n) + ".json");
    if (::link(tmp.c_str(), path->c_str()) == 0) {
      ok = true;
    } else if (errno != EEXIST) {
      *why = *path + ": cannot create: " + errno_text(errno);
      break;
    } else if (!minutes.recovered() && !minutes.interrupted()) {
      ok = true;  // the same final minutes, kept before a crash
    }
  }
  if (!ok && why->empty()) *why = dir + ": no free name for " + base;
  ::unlink(tmp.c_str());
  if (ok) fsync_dir(dir);
  return ok;
}

}  // namespace cellsim::net
