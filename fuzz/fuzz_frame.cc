// fuzz_frame: the framing codec (proto/frame.h) and the first-frame router
// (server/net/router.h) against a reference decoder written here, on a byte
// stream fed in fuzzed splits.
//
// Input: [max selector: 1 byte][split mode: 1 byte][split seed: 2 bytes][stream...]
// The stream is fed in chunks chosen by the split mode (whole, one byte at a
// time, random short or long reads from the seed, or cut at every frame's
// header/payload boundary, so "split right after a header" is always tried).
//
// Checks: the decoder returns exactly the reference's frames, in order, then
// kTooLarge with the declared length iff the reference found a length over
// the maximum, else kNeedMore with the rest buffered; once failed it stays
// failed and buffers nothing; every payload view is read only after the
// drain of its feed (views must stay valid until the next feed(), kTooLarge
// included); its buffer gives memory back once consumed. The router decides
// on the same chunk the reference says (first frame complete, or its header
// over the maximum), keeps exactly the bytes fed until then, and its cell id
// is the first frame's Hello cell id (0 otherwise).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "proto/frame.h"
#include "server/net/router.h"

namespace {

using cellsim::wire::FrameDecoder;

#define FUZZ_CHECK(cond)                                                        \
  do {                                                                          \
    if (!(cond)) {                                                              \
      std::fprintf(stderr, "fuzz_frame: check failed at %s:%d: %s\n", __FILE__, \
                   __LINE__, #cond);                                            \
      std::abort();                                                             \
    }                                                                           \
  } while (0)

constexpr uint32_t kMaxChoices[] = {0, 1, 5, 64, 300, 1024, 16 * 1024,
                                    cellsim::wire::kDefaultMaxFrameBytes};

// The reference: a frame is 4 bytes of big-endian length, then that many bytes.
struct Reference {
  std::vector<std::string_view> frames;
  std::vector<size_t> boundaries;  // every header end and frame end, ascending
  bool too_large = false;
  uint32_t declared = 0;
  size_t consumed = 0;       // bytes of whole frames (or up to the bad header)
  size_t first_decided = 0;  // stream length at which the router can decide; 0: never
};

Reference reference_decode(std::string_view s, uint32_t max) {
  Reference r;
  size_t pos = 0;
  while (s.size() - pos >= 4) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data() + pos);
    const uint32_t len = (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) |
                         (uint32_t(p[2]) << 8) | uint32_t(p[3]);
    r.boundaries.push_back(pos + 4);
    if (len > max) {
      r.too_large = true;
      r.declared = len;
      if (r.frames.empty()) r.first_decided = pos + 4;
      break;
    }
    if (s.size() - pos - 4 < len) break;
    r.frames.push_back(s.substr(pos + 4, len));
    pos += 4 + size_t{len};
    r.boundaries.push_back(pos);
    if (r.frames.size() == 1) r.first_decided = pos;
  }
  r.consumed = pos;
  return r;
}

std::vector<std::string_view> split(std::string_view s, uint8_t mode, uint16_t seed,
                                    const Reference& ref) {
  std::vector<std::string_view> chunks;
  uint32_t x = 0x9e3779b9u ^ seed;
  auto rnd = [&x] {  // xorshift32
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
  };
  size_t pos = 0;
  switch (mode % 5) {
    case 0: chunks.push_back(s); return chunks;
    case 1:
      for (size_t i = 0; i < s.size(); ++i) chunks.push_back(s.substr(i, 1));
      return chunks;
    case 4: {  // at every header/payload boundary, empty feeds included
      for (size_t b : ref.boundaries) {
        chunks.push_back(s.substr(pos, b - pos));
        chunks.push_back(std::string_view());
        pos = b;
      }
      chunks.push_back(s.substr(pos));
      return chunks;
    }
    default: break;
  }
  const size_t limit = mode % 5 == 2 ? 17 : 20000;
  while (pos < s.size()) {
    const size_t n = rnd() % limit;
    chunks.push_back(s.substr(pos, n));
    pos += std::min(n, s.size() - pos);
  }
  return chunks;
}

uint64_t hello_cell(std::string_view payload) {
  cellsim::v1::Envelope env;
  if (env.ParseFromArray(payload.data(), static_cast<int>(payload.size())) &&
      env.body_case() == cellsim::v1::Envelope::kHello) {
    return env.hello().cell_id();
  }
  return 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  const uint32_t max = kMaxChoices[data[0] % (sizeof(kMaxChoices) / sizeof(kMaxChoices[0]))];
  const uint8_t mode = data[1];
  const uint16_t seed = static_cast<uint16_t>(data[2] << 8 | data[3]);
  const std::string_view stream(reinterpret_cast<const char*>(data + 4), size - 4);
  const Reference ref = reference_decode(stream, max);

  FrameDecoder dec(max);
  cellsim::net::FirstFrameRouter router(max);
  size_t next_frame = 0;
  size_t fed = 0;
  bool failed = false;
  std::vector<std::string_view> views;
  for (std::string_view chunk : split(stream, mode, seed, ref)) {
    // The router: decided exactly when the fed prefix reaches its decision point.
    const bool was_decided = router.decided();
    const bool decided = router.feed(chunk);
    const size_t fed_after = fed + chunk.size();
    if (!was_decided) {
      const bool want = ref.first_decided != 0 && fed_after >= ref.first_decided;
      FUZZ_CHECK(decided == want);
      FUZZ_CHECK(router.buffered().size() == fed_after);
      if (decided) {
        FUZZ_CHECK(router.buffered() == stream.substr(0, fed_after));
        // Decided on a whole first frame (a Hello or not), or on an
        // oversized first header (no frame at all): cell 0.
        const uint64_t want_cell = ref.frames.empty() ? 0 : hello_cell(ref.frames[0]);
        FUZZ_CHECK(router.cell_id() == want_cell);
      }
    } else {
      FUZZ_CHECK(decided && router.buffered().size() <= fed);
    }
    fed = fed_after;

    // The decoder.
    dec.feed(chunk);
    if (failed) {
      FUZZ_CHECK(dec.failed() && dec.buffered_bytes() == 0);
      FUZZ_CHECK(dec.buffer_capacity() <= sizeof(std::string));
    } else if (dec.buffered_bytes() <= cellsim::wire::kDecoderRetainedCapacityBytes) {
      // Memory comes back: a small backlog never sits in a big buffer for
      // longer than one feed (appending may at most double a small one).
      FUZZ_CHECK(dec.buffer_capacity() <= 2 * cellsim::wire::kDecoderRetainedCapacityBytes);
    }
    views.clear();
    std::string_view payload;
    FrameDecoder::Status st;
    while ((st = dec.next(&payload)) == FrameDecoder::Status::kFrame) views.push_back(payload);
    // Read every view only now, after the status that ended the drain.
    for (std::string_view v : views) {
      FUZZ_CHECK(next_frame < ref.frames.size());
      FUZZ_CHECK(v == ref.frames[next_frame]);
      ++next_frame;
    }
    if (st == FrameDecoder::Status::kTooLarge) {
      FUZZ_CHECK(ref.too_large);
      FUZZ_CHECK(dec.failed() && dec.declared_bytes() == ref.declared);
      FUZZ_CHECK(next_frame == ref.frames.size());
      FUZZ_CHECK(dec.buffered_bytes() == 0);
      failed = true;
    } else {
      FUZZ_CHECK(!dec.failed());
      // Everything fed but not returned is still buffered.
      const size_t returned =
          next_frame == 0 ? 0
                          : static_cast<size_t>(ref.frames[next_frame - 1].data() - stream.data()) +
                                ref.frames[next_frame - 1].size();
      FUZZ_CHECK(dec.buffered_bytes() == fed - returned);
    }
  }
  FUZZ_CHECK(next_frame == ref.frames.size());
  FUZZ_CHECK(failed == ref.too_large);
  if (!failed) FUZZ_CHECK(dec.buffered_bytes() == stream.size() - ref.consumed);
  FUZZ_CHECK(router.decided() == (ref.first_decided != 0));
  return 0;
}
