// The voice datagram codec (proto/datagram.h): sealing and opening round
// trip; every malformed shape is refused before the key is tried; a wrong
// key, the other direction or any flipped bit fails the tag; the tag and the
// media key are exactly the HMACs the header specifies; and the replay
// window agrees with a std::set model of RFC 4303's rule on random seeded
// sequences.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstring>
#include <random>
#include <set>
#include <string>

#include "proto/datagram.h"

namespace cellsim::wire {
namespace {

const std::string kKey(kMediaKeyBytes, '\x42');
const std::string kOtherKey(kMediaKeyBytes, '\x43');

DatagramHeader voice_header() {
  DatagramHeader h;
  h.kind = DatagramKind::kVoice;
  h.session_id = 0x0102030405060708ull;
  h.seq = 77;
  h.media_seq = 123456789;
  h.capture_ns = -42'000'000'000;  // signed: before the harness's epoch
  h.from_member_id = 9;
  return h;
}

std::string hmac(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  return std::string(reinterpret_cast<const char*>(mac), len);
}

std::string be64(uint64_t v) {
  std::string s;
  for (int i = 7; i >= 0; --i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return s;
}

void expect_same(const DatagramHeader& a, const DatagramHeader& b) {
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.session_id, b.session_id);
  EXPECT_EQ(a.seq, b.seq);
  EXPECT_EQ(a.media_seq, b.media_seq);
  EXPECT_EQ(a.capture_ns, b.capture_ns);
  EXPECT_EQ(a.from_member_id, b.from_member_id);
}

// Shows that a voice datagram and a bind round-trip through seal, peek and
// open with every field and the payload intact, at the sizes the header
// gives, up to the largest payload (exactly kMaxDatagramBytes).
TEST(DatagramCodec, RoundTrip) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{160}, kMaxDatagramPayloadBytes}) {
    const DatagramHeader h = voice_header();
    std::string payload(n, '\0');
    for (size_t i = 0; i < n; ++i) payload[i] = static_cast<char>(i * 7 + 1);
    const std::string d = seal_datagram(kKey, DatagramDirection::kToMember, h, payload);
    ASSERT_EQ(d.size(), sealed_datagram_bytes(n));
    DatagramHeader peeked;
    ASSERT_TRUE(peek_datagram(d, &peeked));
    expect_same(peeked, h);
    DatagramHeader opened;
    std::string_view got;
    ASSERT_EQ(open_datagram(kKey, DatagramDirection::kToMember, d, &opened, &got),
              OpenStatus::kOk);
    expect_same(opened, h);
    EXPECT_EQ(got, payload);
  }
  EXPECT_EQ(sealed_datagram_bytes(kMaxDatagramPayloadBytes), kMaxDatagramBytes);
  DatagramHeader b;
  b.kind = DatagramKind::kBind;
  b.session_id = 5;
  b.seq = 1;
  const std::string d = seal_datagram(kKey, DatagramDirection::kToServer, b, {});
  DatagramHeader opened;
  std::string_view got = "x";
  ASSERT_EQ(open_datagram(kKey, DatagramDirection::kToServer, d, &opened, &got), OpenStatus::kOk);
  expect_same(opened, b);
  EXPECT_TRUE(got.empty());
}

// Shows that the layout is the one proto/datagram.h draws: big-endian
// fields at their offsets, and the tag the first kDatagramTagBytes of
// HMAC-SHA256(key, direction byte ‖ header ‖ payload).
TEST(DatagramCodec, LayoutAndTagAreAsSpecified) {
  const DatagramHeader h = voice_header();
  const std::string d = seal_datagram(kKey, DatagramDirection::kToServer, h, "abc");
  std::string want;
  want.push_back(static_cast<char>(kDatagramVersion));
  want.push_back(static_cast<char>(DatagramKind::kVoice));
  want.push_back('\0');
  want.push_back('\3');
  want += be64(h.session_id) + be64(h.seq) + be64(h.media_seq) +
          be64(static_cast<uint64_t>(h.capture_ns)) + be64(h.from_member_id) + "abc";
  ASSERT_EQ(d.substr(0, want.size()), want);
  for (auto dir : {DatagramDirection::kToServer, DatagramDirection::kToMember}) {
    const std::string tag =
        hmac(kKey, std::string(1, static_cast<char>(dir)) + want).substr(0, kDatagramTagBytes);
    const std::string sealed = seal_datagram(kKey, dir, h, "abc");
    EXPECT_EQ(sealed.substr(want.size()), tag);
  }
}

// Shows that the media key is HMAC-SHA256(deployment key, "cellsim media" ‖
// cell ‖ member ‖ session ‖ run), big-endian, and that every input changes it.
TEST(DatagramCodec, MediaKeyDerivation) {
  const std::string deployment(32, '\x5a');
  const std::string k = media_key(deployment, 1, 2, 3, 4);
  ASSERT_EQ(k.size(), kMediaKeyBytes);
  EXPECT_EQ(k, hmac(deployment, "cellsim media" + be64(1) + be64(2) + be64(3) + be64(4)));
  EXPECT_EQ(k, media_key(deployment, 1, 2, 3, 4));
  std::set<std::string> keys = {k,
                                media_key(deployment, 9, 2, 3, 4),
                                media_key(deployment, 1, 9, 3, 4),
                                media_key(deployment, 1, 2, 9, 4),
                                media_key(deployment, 1, 2, 3, 9),
                                media_key(std::string(32, '\x5b'), 1, 2, 3, 4)};
  EXPECT_EQ(keys.size(), 6u);
}

// Shows every malformed shape is refused by peek and by open (kMalformed,
// whatever the key): too short, over kMaxDatagramBytes, another version, an
// unknown kind, a length field that disagrees with the size either way, a
// bind carrying a payload.
TEST(DatagramCodec, MalformedShapes) {
  const std::string good = seal_datagram(kKey, DatagramDirection::kToServer, voice_header(),
                                         std::string(100, 'p'));
  struct Case {
    std::string what;
    std::string bytes;
  };
  std::vector<Case> cases;
  for (size_t n = 0; n < kDatagramHeaderBytes + kDatagramTagBytes; ++n) {
    cases.push_back({"truncated to " + std::to_string(n), good.substr(0, n)});
  }
  cases.push_back({"one byte short", good.substr(0, good.size() - 1)});
  cases.push_back({"one byte more", good + "x"});
  {
    // Consistent length field but over the maximum.
    const size_t n = kMaxDatagramPayloadBytes + 1;
    std::string big = seal_datagram(kKey, DatagramDirection::kToServer, voice_header(), "");
    big.insert(kDatagramHeaderBytes, std::string(n, 'q'));
    big[2] = static_cast<char>(n >> 8);
    big[3] = static_cast<char>(n & 0xff);
    ASSERT_EQ(big.size(), kMaxDatagramBytes + 1);
    cases.push_back({"over kMaxDatagramBytes", big});
  }
  for (int v : {0, 2, 255}) {
    std::string d = good;
    d[0] = static_cast<char>(v);
    cases.push_back({"version " + std::to_string(v), d});
  }
  for (int k : {0, 3, 255}) {
    std::string d = good;
    d[1] = static_cast<char>(k);
    cases.push_back({"kind " + std::to_string(k), d});
  }
  for (int delta : {-1, +1, +0x100}) {
    std::string d = good;
    const int len = 100 + delta;
    d[2] = static_cast<char>((len >> 8) & 0xff);
    d[3] = static_cast<char>(len & 0xff);
    cases.push_back({"length field " + std::to_string(len), d});
  }
  {
    std::string d = good;
    d[1] = static_cast<char>(DatagramKind::kBind);
    cases.push_back({"a bind with a payload", d});
  }
  cases.push_back({"a megabyte", std::string(1 << 20, '\1')});
  for (const Case& c : cases) {
    DatagramHeader h;
    std::string_view payload;
    EXPECT_FALSE(peek_datagram(c.bytes, &h)) << c.what;
    EXPECT_EQ(open_datagram(kKey, DatagramDirection::kToServer, c.bytes, &h, &payload),
              OpenStatus::kMalformed)
        << c.what;
  }
}

// Shows that the tag binds the key, the direction and every byte: another
// key, the other direction, an empty key and each single flipped bit anywhere
// fail (kBadTag, or kMalformed where the flip breaks the shape), and a
// failed open leaves the outputs untouched.
TEST(DatagramCodec, WrongKeyDirectionOrAnyBitFails) {
  const std::string good = seal_datagram(kKey, DatagramDirection::kToServer, voice_header(),
                                         std::string(40, 'v'));
  DatagramHeader h;
  h.session_id = 999;
  std::string_view payload = "untouched";
  EXPECT_EQ(open_datagram(kOtherKey, DatagramDirection::kToServer, good, &h, &payload),
            OpenStatus::kBadTag);
  EXPECT_EQ(open_datagram(kKey, DatagramDirection::kToMember, good, &h, &payload),
            OpenStatus::kBadTag);
  EXPECT_EQ(open_datagram("", DatagramDirection::kToServer, good, &h, &payload),
            OpenStatus::kBadTag);
  EXPECT_EQ(h.session_id, 999u);
  EXPECT_EQ(payload, "untouched");
  for (size_t i = 0; i < good.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string d = good;
      d[i] = static_cast<char>(d[i] ^ (1 << bit));
      const OpenStatus st = open_datagram(kKey, DatagramDirection::kToServer, d, &h, &payload);
      EXPECT_NE(st, OpenStatus::kOk) << "byte " << i << " bit " << bit;
      if (i >= 4) {
        EXPECT_EQ(st, OpenStatus::kBadTag) << "byte " << i << " bit " << bit;
      }
    }
  }
}

// The reference rule (RFC 4303 §3.4.3 with a window of 64): a seq is
// accepted iff it is not 0, was never accepted, and is newer than the highest
// accepted less the window.
class ReplayModel {
 public:
  bool accept(uint64_t seq) {
    if (seq == 0 || seen_.count(seq) != 0) return false;
    if (seq <= highest_ && highest_ - seq >= ReplayWindow::kReplayWindow) return false;
    seen_.insert(seq);
    highest_ = std::max(highest_, seq);
    return true;
  }

 private:
  std::set<uint64_t> seen_;
  uint64_t highest_ = 0;
};

// Shows the window's edges: seq 0 never; the first of any seq; the highest
// less 63 still, less 64 no longer; a jump past the window forgets the rest.
TEST(ReplayWindowTest, Edges) {
  ReplayWindow w;
  EXPECT_FALSE(w.accept(0));
  EXPECT_TRUE(w.accept(100));
  EXPECT_FALSE(w.accept(100));
  EXPECT_TRUE(w.accept(100 - 63));
  EXPECT_FALSE(w.accept(100 - 63));
  EXPECT_FALSE(w.accept(100 - 64));
  EXPECT_TRUE(w.accept(99));
  EXPECT_TRUE(w.accept(1000));
  EXPECT_EQ(w.highest(), 1000u);
  EXPECT_FALSE(w.accept(99));
  EXPECT_TRUE(w.accept(1000 - 63));
  EXPECT_TRUE(w.accept(UINT64_MAX));
  EXPECT_FALSE(w.accept(UINT64_MAX));
  EXPECT_FALSE(w.accept(1000));
  EXPECT_TRUE(w.accept(UINT64_MAX - 1));
}

// Shows the window agrees with the model on 300 random seeded sequences of
// 3,000 seqs each: mostly in order, with reordering within and beyond the
// window, duplicates, stale replays and jumps. Prints the seed on failure.
TEST(ReplayWindowTest, AgreesWithASetModel) {
  for (uint32_t seed = 1; seed <= 300; ++seed) {
    std::mt19937_64 rng(seed);
    ReplayWindow w;
    ReplayModel model;
    uint64_t next = 1 + rng() % 3;
    std::vector<uint64_t> sent;
    for (int i = 0; i < 3000; ++i) {
      uint64_t seq;
      const uint64_t r = rng() % 100;
      if (r < 55 || sent.empty()) {
        seq = next++;
      } else if (r < 75) {  // reordered within about the window
        const uint64_t back = rng() % 80;
        seq = next > back ? next - back : 0;
      } else if (r < 88) {  // a replay of something sent
        seq = sent[rng() % sent.size()];
      } else if (r < 95) {  // a jump ahead
        next += 1 + rng() % 200;
        seq = next;
      } else {
        seq = rng() % (next + 1);
      }
      sent.push_back(seq);
      ASSERT_EQ(w.accept(seq), model.accept(seq)) << "seed " << seed << " step " << i << " seq "
                                                  << seq << " highest " << w.highest();
    }
  }
}

}  // namespace
}  // namespace cellsim::wire
