#include "server/net/journal.h"

#include "proto/assert.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

namespace cellsim::net {
namespace {

std::string errno_text(int e) { return std::strerror(e); }

uint32_t crc_of(std::string_view bytes) {
  return static_cast<uint32_t>(
      ::crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
}

void put_u32(uint32_t v, std::string* out) {
  const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                     static_cast<char>(v >> 8), static_cast<char>(v)};
  out->append(b, 4);
}

uint32_t get_u32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | uint32_t{u[3]};
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool read_whole(const std::string& path, std::string* out, std::string* why) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *why = path + ": " + errno_text(errno);
    return false;
  }
  out->clear();
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *why = path + ": " + errno_text(errno);
      ::close(fd);
      return false;
    }
    if (n == 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return true;
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Names in `dir` (sorted), or false.
bool list_dir(const std::string& dir, std::vector<std::string>* names, std::string* why) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    *why = dir + ": " + errno_text(errno);
    return false;
  }
  for (size_t i = 0; i < kMaxJournalFiles; ++i) {
    const dirent* e = ::readdir(d);
    if (e == nullptr) break;
    const std::string name = e->d_name;
    if (name != "." && name != "..") names->push_back(name);
  }
  ::closedir(d);
  std::sort(names->begin(), names->end());
  return true;
}

// The files CURRENT names, or every *.log when there is no CURRENT.
bool current_logs(const std::string& dir, const std::vector<std::string>& names,
                  std::vector<std::string>* logs, std::string* why) {
  std::string current;
  if (std::find(names.begin(), names.end(), "CURRENT") == names.end()) {
    for (const auto& n : names) {
      if (ends_with(n, ".log")) logs->push_back(n);
    }
    return true;
  }
  if (!read_whole(dir + "/CURRENT", &current, why)) return false;
  size_t start = 0;
  while (start < current.size()) {
    size_t end = current.find('\n', start);
    if (end == std::string::npos) end = current.size();
    const std::string name = current.substr(start, end - start);
    if (!name.empty()) logs->push_back(name);
    start = end + 1;
  }
  return true;
}

bool write_file_durably(const std::string& path, std::string_view bytes, std::string* why) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    *why = tmp + ": cannot create: " + errno_text(errno);
    return false;
  }
  const bool ok = write_all(fd, bytes) && ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    *why = path + ": write failed: " + errno_text(ok ? errno : err);
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

constexpr size_t kBoxNonceBytes = 12;
constexpr size_t kBoxTagBytes = 16;
constexpr std::string_view kBoxKeyLabel = "cellmeetd ballot box v1";

std::string box_key(std::string_view deployment_key) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), deployment_key.data(), static_cast<int>(deployment_key.size()),
       reinterpret_cast<const unsigned char*>(kBoxKeyLabel.data()), kBoxKeyLabel.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

// AES-256-GCM over `in` with `aad`; encrypt or decrypt (then `in` ends with
// the tag). False if OpenSSL fails or the tag does not verify.
bool gcm(bool encrypt, const std::string& key, const unsigned char* nonce, std::string_view aad,
         std::string_view in, std::string* out, unsigned char* tag) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (ctx == nullptr) return false;
  const auto* k = reinterpret_cast<const unsigned char*>(key.data());
  int len = 0;
  out->resize(in.size());
  auto* o = reinterpret_cast<unsigned char*>(out->data());
  const auto* i = reinterpret_cast<const unsigned char*>(in.data());
  const auto* a = reinterpret_cast<const unsigned char*>(aad.data());
  bool ok = EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), nullptr, k, nonce, encrypt ? 1 : 0) == 1 &&
            EVP_CipherUpdate(ctx, nullptr, &len, a, static_cast<int>(aad.size())) == 1 &&
            EVP_CipherUpdate(ctx, o, &len, i, static_cast<int>(in.size())) == 1;
  if (ok && !encrypt) {
    ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kBoxTagBytes, tag) == 1;
  }
  int final_len = 0;
  ok = ok && EVP_CipherFinal_ex(ctx, o + len, &final_len) == 1;
  if (ok && encrypt) ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kBoxTagBytes, tag) == 1;
  EVP_CIPHER_CTX_free(ctx);
  return ok;
}

}  // namespace

std::string seal_box(std::string_view deployment_key, const std::string& name,
                     const v1::BallotBox& box) {
  unsigned char nonce[kBoxNonceBytes];
  unsigned char tag[kBoxTagBytes];
  if (RAND_bytes(nonce, sizeof nonce) != 1) return {};
  std::string sealed;
  if (!gcm(true, box_key(deployment_key), nonce, name, box.SerializeAsString(), &sealed, tag)) {
    return {};
  }
  return std::string(reinterpret_cast<char*>(nonce), sizeof nonce) + sealed +
         std::string(reinterpret_cast<char*>(tag), sizeof tag);
}

bool open_box(std::string_view deployment_key, const std::string& name, std::string_view sealed,
              v1::BallotBox* box) {
  if (sealed.size() < kBoxNonceBytes + kBoxTagBytes) return false;
  unsigned char nonce[kBoxNonceBytes];
  unsigned char tag[kBoxTagBytes];
  std::memcpy(nonce, sealed.data(), sizeof nonce);
  std::memcpy(tag, sealed.data() + sealed.size() - sizeof tag, sizeof tag);
  const std::string_view body =
      sealed.substr(kBoxNonceBytes, sealed.size() - kBoxNonceBytes - kBoxTagBytes);
  std::string plain;
  return gcm(false, box_key(deployment_key), nonce, name, body, &plain, tag) &&
         box->ParseFromString(plain);
}

std::string journal_dir(const std::string& minutes_dir) { return minutes_dir + "/journal"; }

std::string box_file_name(uint64_t cell_id, uint64_t meeting_id, uint64_t vote_id) {
  return "box-c" + std::to_string(cell_id) + "-m" + std::to_string(meeting_id) + "-v" +
         std::to_string(vote_id) + ".bin";
}

void append_journal_record(std::string_view payload, std::string* out) {
  put_u32(static_cast<uint32_t>(payload.size()), out);
  put_u32(crc_of(payload), out);
  out->append(payload.data(), payload.size());
}

void parse_journal_bytes(std::string_view bytes, std::vector<v1::JournalRecord>* records,
                         bool* torn) {
  *torn = false;
  size_t pos = 0;
  while (pos < bytes.size()) {
    if (bytes.size() - pos < kJournalRecordHeaderBytes) break;
    const uint32_t len = get_u32(bytes.data() + pos);
    const uint32_t crc = get_u32(bytes.data() + pos + 4);
    if (len > kMaxJournalRecordBytes || bytes.size() - pos - kJournalRecordHeaderBytes < len) break;
    const std::string_view payload = bytes.substr(pos + kJournalRecordHeaderBytes, len);
    v1::JournalRecord rec;
    if (crc_of(payload) != crc ||
        !rec.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
      break;
    }
    records->push_back(std::move(rec));
    pos += kJournalRecordHeaderBytes + len;
  }
  *torn = pos != bytes.size();
}

bool read_journal(const std::string& minutes_dir, std::string_view deployment_key,
                  JournalContents* out, std::string* why) {
  *out = JournalContents{};
  const std::string dir = journal_dir(minutes_dir);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return errno == ENOENT ? true : (*why = dir + ": " + errno_text(errno), false);
  std::vector<std::string> names, logs;
  if (!list_dir(dir, &names, why) || !current_logs(dir, names, &logs, why)) return false;
  out->clean_stop = !logs.empty();
  for (const std::string& name : logs) {
    std::string bytes;
    if (!read_whole(dir + "/" + name, &bytes, why)) {
      if (errno == ENOENT) continue;  // CURRENT names a file never written (empty shard)
      return false;
    }
    const size_t first = out->records.size();
    bool torn = false;
    parse_journal_bytes(bytes, &out->records, &torn);
    out->torn_records += torn;
    const bool stopped = out->records.size() > first &&
                         out->records.back().event_case() == v1::JournalRecord::kStopped;
    out->clean_stop = out->clean_stop && stopped && !torn;
    out->files.push_back(name);
  }
  for (const std::string& name : names) {
    if (name.rfind("box-", 0) != 0 || !ends_with(name, ".bin")) continue;
    std::string bytes;
    v1::BallotBox box;
    if (!read_whole(dir + "/" + name, &bytes, why)) return false;
    out->box_files.push_back(name);
    if (!open_box(deployment_key, name, bytes, &box) ||
        name != box_file_name(box.cell_id(), box.meeting_id(), box.vote_id())) {
      ++out->bad_boxes;  // another key's, or damaged: a commit always renames a whole box
      continue;
    }
    out->boxes[{box.cell_id(), box.meeting_id(), box.vote_id()}] = std::move(box);
  }
  return true;
}

bool fsync_folder(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

bool install_journal(const std::string& minutes_dir, const std::vector<std::string>& files,
                     const std::vector<std::string>& keep_boxes, std::string* why) {
  const std::string dir = journal_dir(minutes_dir);
  std::string current;
  for (const auto& f : files) current += f + "\n";
  if (!write_file_durably(dir + "/CURRENT", current, why)) return false;
  fsync_folder(dir);
  std::vector<std::string> names;
  if (!list_dir(dir, &names, why)) return false;
  const std::set<std::string> keep(files.begin(), files.end());
  const std::set<std::string> boxes(keep_boxes.begin(), keep_boxes.end());
  for (const auto& n : names) {
    const bool old_log = (ends_with(n, ".log") || ends_with(n, ".tmp")) && !keep.count(n);
    const bool old_box = n.rfind("box-", 0) == 0 && !boxes.count(n);
    if (old_log || old_box) ::unlink((dir + "/" + n).c_str());
  }
  fsync_folder(dir);
  return true;
}

bool write_box_file(const std::string& minutes_dir, std::string_view deployment_key,
                    const v1::BallotBox& box, std::string* why) {
  const std::string name = box_file_name(box.cell_id(), box.meeting_id(), box.vote_id());
  const std::string sealed = seal_box(deployment_key, name, box);
  if (sealed.empty()) {
    *why = name + ": cannot seal the box (OpenSSL)";
    return false;
  }
  return write_file_durably(journal_dir(minutes_dir) + "/" + name, sealed, why);
}

void remove_box_files(const std::string& minutes_dir, uint64_t cell_id, uint64_t meeting_id) {
  const std::string dir = journal_dir(minutes_dir);
  const std::string prefix =
      "box-c" + std::to_string(cell_id) + "-m" + std::to_string(meeting_id) + "-v";
  std::vector<std::string> names;
  std::string why;
  if (!list_dir(dir, &names, &why)) return;
  for (const auto& n : names) {
    if (n.rfind(prefix, 0) == 0) ::unlink((dir + "/" + n).c_str());
  }
}

JournalWriter::~JournalWriter() {
  if (fd_ >= 0) ::close(fd_);
}

bool JournalCatalog::replace(size_t shard, const std::string& file_name, std::string* why) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string dir = journal_dir(minutes_dir_);
  std::vector<std::string> next = files_;
  const std::string old = next.at(shard);
  next[shard] = file_name;
  std::string current;
  for (const auto& f : next) current += f + "\n";
  if (!write_file_durably(dir + "/CURRENT", current, why)) return false;
  fsync_folder(dir);
  files_ = std::move(next);
  if (old != file_name) ::unlink((dir + "/" + old).c_str());
  return true;
}

bool read_journal_file(const std::string& minutes_dir, const std::string& file_name,
                       std::vector<v1::JournalRecord>* records, std::string* why) {
  std::string bytes;
  if (!read_whole(journal_dir(minutes_dir) + "/" + file_name, &bytes, why)) return false;
  bool torn = false;
  parse_journal_bytes(bytes, records, &torn);
  return true;
}

bool JournalWriter::open(const std::string& minutes_dir, std::string_view deployment_key,
                         const std::string& file_name, std::string_view initial,
                         std::string* why) {
  CELLSIM_ASSERT(fd_ < 0 && "a JournalWriter opens one file");
  minutes_dir_ = minutes_dir;
  key_ = std::string(deployment_key);
  file_name_ = file_name;
  const std::string dir = journal_dir(minutes_dir);
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    *why = dir + ": cannot create: " + errno_text(errno);
    return false;
  }
  const std::string path = dir + "/" + file_name;
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    *why = path + ": cannot create: " + errno_text(errno);
    return false;
  }
  if (!write_all(fd_, initial) || ::fdatasync(fd_) != 0) {
    *why = path + ": write failed: " + errno_text(errno);
    ::close(fd_);
    fd_ = -1;
    ::unlink(path.c_str());
    return false;
  }
  bytes_ += initial.size();
  file_bytes_ = initial.size();
  fsync_folder(dir);
  return true;
}

void JournalWriter::append(std::string_view record) {
  append_journal_record(record, &buffer_);
  ++staged_records_;
}

void JournalWriter::stage_box(const v1::BallotBox& box) {
  boxes_[{box.cell_id(), box.meeting_id(), box.vote_id()}] = box;
}

bool JournalWriter::commit(std::string* why) {
  bool ok = true;
  for (const auto& [key, box] : boxes_) {
    if (!write_box_file(minutes_dir_, key_, box, why)) ok = false;
  }
  if (!boxes_.empty()) fsync_folder(journal_dir(minutes_dir_));
  boxes_.clear();
  if (!buffer_.empty()) {
    if (fd_ < 0 || !write_all(fd_, buffer_) || ::fdatasync(fd_) != 0) {
      *why = file_name_ + ": write failed: " + errno_text(errno);
      ok = false;
    } else {
      bytes_ += buffer_.size();
      file_bytes_ += buffer_.size();
      records_ += staged_records_;
    }
  }
  buffer_.clear();
  staged_records_ = 0;
  ++commits_;
  return ok;
}

}  // namespace cellsim::net
