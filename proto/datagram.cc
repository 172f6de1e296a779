// Voice datagrams (proto/datagram.h): sealing and opening with a truncated
// HMAC-SHA256 (OpenSSL), the media key derivation, and the anti-replay
// window.
#include "proto/datagram.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <cstring>

#include "proto/assert.h"

namespace cellsim::wire {
namespace {

constexpr size_t kSha256Bytes = 32;
static_assert(kMediaKeyBytes == kSha256Bytes);
static_assert(kDatagramTagBytes <= kSha256Bytes);
static_assert(kMaxDatagramPayloadBytes <= 0xffff, "the length field is 16 bits");

// Offsets of the header's fields (proto/datagram.h, "Layout").
constexpr size_t kOffVersion = 0;
constexpr size_t kOffKind = 1;
constexpr size_t kOffLength = 2;
constexpr size_t kOffSession = 4;
constexpr size_t kOffSeq = 12;
constexpr size_t kOffMediaSeq = 20;
constexpr size_t kOffCapture = 28;
constexpr size_t kOffFrom = 36;
static_assert(kOffFrom + 8 == kDatagramHeaderBytes);

void put_u64(uint64_t v, unsigned char* out) {
  for (int i = 7; i >= 0; --i) *out++ = static_cast<unsigned char>((v >> (8 * i)) & 0xff);
}

uint64_t get_u64(const unsigned char* in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | in[i];
  return v;
}

bool known_kind(uint8_t kind) {
  return kind == static_cast<uint8_t>(DatagramKind::kVoice) ||
         kind == static_cast<uint8_t>(DatagramKind::kBind);
}

// HMAC-SHA256(key, dir ‖ body) into mac (kSha256Bytes). REQUIRES:
// body.size() <= kMaxDatagramBytes.
void datagram_mac(std::string_view key, DatagramDirection dir, std::string_view body,
                  unsigned char* mac) {
  CELLSIM_ASSERT(body.size() <= kMaxDatagramBytes);
  // One contiguous buffer for the one-shot HMAC: the direction byte, then
  // the bytes it covers.
  std::array<unsigned char, 1 + kMaxDatagramBytes> buf;
  buf[0] = static_cast<unsigned char>(dir);
  std::memcpy(buf.data() + 1, body.data(), body.size());
  unsigned int mac_len = 0;
  const unsigned char* ok = HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), buf.data(),
                                 body.size() + 1, mac, &mac_len);
  CELLSIM_ASSERT(ok != nullptr && mac_len == kSha256Bytes);
  (void)ok;
}

}  // namespace

std::string media_key(std::string_view deployment_key, uint64_t cell_id, uint64_t member_id,
                      uint64_t session_id, uint64_t run_id) {
  static constexpr char kLabel[] = "cellsim media";
  constexpr size_t kLabelBytes = sizeof kLabel - 1;
  std::array<unsigned char, kLabelBytes + 4 * 8> material;
  std::memcpy(material.data(), kLabel, kLabelBytes);
  put_u64(cell_id, material.data() + kLabelBytes);
  put_u64(member_id, material.data() + kLabelBytes + 8);
  put_u64(session_id, material.data() + kLabelBytes + 16);
  put_u64(run_id, material.data() + kLabelBytes + 24);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  const unsigned char* ok =
      HMAC(EVP_sha256(), deployment_key.data(), static_cast<int>(deployment_key.size()),
           material.data(), material.size(), mac, &mac_len);
  CELLSIM_ASSERT(ok != nullptr && mac_len == kMediaKeyBytes);
  (void)ok;
  return std::string(reinterpret_cast<const char*>(mac), mac_len);
}

std::string seal_datagram(std::string_view key, DatagramDirection dir, const DatagramHeader& h,
                          std::string_view payload) {
  CELLSIM_ASSERT(!key.empty());
  CELLSIM_ASSERT(payload.size() <= kMaxDatagramPayloadBytes);
  CELLSIM_ASSERT(h.kind != DatagramKind::kBind || payload.empty());
  const size_t body_bytes = kDatagramHeaderBytes + payload.size();
  std::string out(body_bytes + kDatagramTagBytes, '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  p[kOffVersion] = kDatagramVersion;
  p[kOffKind] = static_cast<unsigned char>(h.kind);
  p[kOffLength] = static_cast<unsigned char>(payload.size() >> 8);
  p[kOffLength + 1] = static_cast<unsigned char>(payload.size() & 0xff);
  put_u64(h.session_id, p + kOffSession);
  put_u64(h.seq, p + kOffSeq);
  put_u64(h.media_seq, p + kOffMediaSeq);
  put_u64(static_cast<uint64_t>(h.capture_ns), p + kOffCapture);
  put_u64(h.from_member_id, p + kOffFrom);
  if (!payload.empty()) std::memcpy(p + kDatagramHeaderBytes, payload.data(), payload.size());
  unsigned char mac[kSha256Bytes];
  datagram_mac(key, dir, std::string_view(out.data(), body_bytes), mac);
  std::memcpy(p + body_bytes, mac, kDatagramTagBytes);
  return out;
}

bool peek_datagram(std::string_view bytes, DatagramHeader* h) {
  if (bytes.size() < kDatagramHeaderBytes + kDatagramTagBytes) return false;
  if (bytes.size() > kMaxDatagramBytes) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  if (p[kOffVersion] != kDatagramVersion || !known_kind(p[kOffKind])) return false;
  const size_t length = (size_t{p[kOffLength]} << 8) | p[kOffLength + 1];
  if (kDatagramHeaderBytes + length + kDatagramTagBytes != bytes.size()) return false;
  const auto kind = static_cast<DatagramKind>(p[kOffKind]);
  if (kind == DatagramKind::kBind && length != 0) return false;
  h->kind = kind;
  h->session_id = get_u64(p + kOffSession);
  h->seq = get_u64(p + kOffSeq);
  h->media_seq = get_u64(p + kOffMediaSeq);
  h->capture_ns = static_cast<int64_t>(get_u64(p + kOffCapture));
  h->from_member_id = get_u64(p + kOffFrom);
  return true;
}

OpenStatus open_datagram(std::string_view key, DatagramDirection dir, std::string_view bytes,
                         DatagramHeader* h, std::string_view* payload) {
  DatagramHeader parsed;
  if (!peek_datagram(bytes, &parsed)) return OpenStatus::kMalformed;
  if (key.empty()) return OpenStatus::kBadTag;
  const size_t body_bytes = bytes.size() - kDatagramTagBytes;
  unsigned char mac[kSha256Bytes];
  datagram_mac(key, dir, bytes.substr(0, body_bytes), mac);
  if (CRYPTO_memcmp(mac, bytes.data() + body_bytes, kDatagramTagBytes) != 0) {
    return OpenStatus::kBadTag;
  }
  *h = parsed;
  *payload = bytes.substr(kDatagramHeaderBytes, body_bytes - kDatagramHeaderBytes);
  return OpenStatus::kOk;
}

bool ReplayWindow::accept(uint64_t seq) {
  if (seq == 0) return false;
  if (seq > highest_) {
    const uint64_t shift = seq - highest_;
    seen_ = shift >= kReplayWindow ? 1 : (seen_ << shift) | 1;
    highest_ = seq;
    return true;
  }
  const uint64_t age = highest_ - seq;
  if (age >= kReplayWindow) return false;
  const uint64_t bit = uint64_t{1} << age;
  if ((seen_ & bit) != 0) return false;
  seen_ |= bit;
  return true;
}

}  // namespace cellsim::wire
