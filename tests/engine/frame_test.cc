// The framing codec (proto/frame.h) against the obvious model: a frame is a
// 4-byte big-endian length and that many payload bytes, and a decoder turns
// any split of a stream of frames back into exactly those payloads.
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "proto/frame.h"

namespace cellsim::wire {
namespace {

// The seed list for randomized tests: CELLSIM_SEED alone when set.
std::vector<uint64_t> seeds(size_t n) {
  if (const char* s = std::getenv("CELLSIM_SEED"); s != nullptr && *s != '\0') {
    return {std::strtoull(s, nullptr, 10)};
  }
  std::vector<uint64_t> out;
  for (uint64_t i = 1; i <= n; ++i) out.push_back(i);
  return out;
}

// A varied Envelope: the body and its size depend on `i` and `rng`.
v1::Envelope sample_envelope(uint64_t i, std::mt19937_64& rng) {
  v1::Envelope e;
  e.set_request_id(i);
  switch (i % 5) {
    case 0: break;  // no body at all: a small (possibly zero-length) payload
    case 1: e.mutable_heartbeat()->set_seq(rng()); break;
    case 2: {
      auto* b = e.mutable_cast_ballot();
      b->set_vote_id(rng() % 100);
      b->set_choice(v1::CHOICE_NO);
      b->set_ballot_id(rng());
      break;
    }
    case 3: {
      std::string payload(rng() % 3000, '\0');
      for (char& c : payload) c = static_cast<char>(rng());
      e.mutable_media_frame()->set_payload(std::move(payload));
      break;
    }
    case 4: e.mutable_error()->set_reason(std::string(rng() % 200, 'x')); break;
  }
  if (i % 11 == 0) e.Clear();  // an empty Envelope: a zero-length payload
  return e;
}

// Drains every whole frame the decoder holds.
void drain(FrameDecoder* d, std::vector<std::string>* out) {
  std::string_view payload;
  FrameDecoder::Status s;
  while ((s = d->next(&payload)) == FrameDecoder::Status::kFrame) out->emplace_back(payload);
  ASSERT_EQ(s, FrameDecoder::Status::kNeedMore);
}

// A stream of frames for `n` sample envelopes, and their payloads.
void make_stream(size_t n, std::mt19937_64& rng, std::string* stream,
                 std::vector<std::string>* payloads) {
  for (size_t i = 0; i < n; ++i) {
    const v1::Envelope e = sample_envelope(i, rng);
    append_frame(e, stream);
    payloads->push_back(e.SerializeAsString());
  }
}

// A frame is the big-endian length then the payload; it decodes to the same message.
TEST(FrameCodec, RoundTrip) {
  v1::Envelope e;
  e.set_request_id(42);
  auto* h = e.mutable_hello();
  h->set_version_major(1);
  h->set_cell_id(7);
  h->set_member_id(3);
  h->set_token(std::string(300, '\xab'));
  const std::string frame = encode_frame(e);
  const std::string payload = e.SerializeAsString();
  ASSERT_EQ(frame.size(), kFrameHeaderBytes + payload.size());
  EXPECT_EQ(static_cast<unsigned char>(frame[0]), (payload.size() >> 24) & 0xff);
  EXPECT_EQ(static_cast<unsigned char>(frame[1]), (payload.size() >> 16) & 0xff);
  EXPECT_EQ(static_cast<unsigned char>(frame[2]), (payload.size() >> 8) & 0xff);
  EXPECT_EQ(static_cast<unsigned char>(frame[3]), payload.size() & 0xff);
  EXPECT_EQ(frame.substr(kFrameHeaderBytes), payload);

  FrameDecoder d;
  d.feed(frame);
  std::string_view got;
  ASSERT_EQ(d.next(&got), FrameDecoder::Status::kFrame);
  v1::Envelope back;
  ASSERT_TRUE(back.ParseFromArray(got.data(), static_cast<int>(got.size())));
  EXPECT_EQ(back.SerializeAsString(), payload);
  EXPECT_EQ(back.hello().token(), e.hello().token());
  EXPECT_EQ(d.next(&got), FrameDecoder::Status::kNeedMore);
  EXPECT_EQ(d.buffered_bytes(), 0u);
  EXPECT_FALSE(d.failed());
}

// put_header writes big-endian, including lengths with every byte non-zero.
TEST(FrameCodec, HeaderIsBigEndian) {
  char h[kFrameHeaderBytes];
  put_header(0x01020304u, h);
  EXPECT_EQ(std::string(h, 4), std::string("\x01\x02\x03\x04", 4));
  put_header(0xfffffffeu, h);
  EXPECT_EQ(std::string(h, 4), std::string("\xff\xff\xff\xfe", 4));
}

// A stream fed one byte at a time gives back exactly the frames, in order.
TEST(FrameCodec, OneByteAtATime) {
  for (uint64_t seed : seeds(5)) {
    SCOPED_TRACE("seed=" + std::to_string(seed) + " (set CELLSIM_SEED to reproduce)");
    std::mt19937_64 rng(seed);
    std::string stream;
    std::vector<std::string> want;
    make_stream(200, rng, &stream, &want);
    FrameDecoder d;
    std::vector<std::string> got;
    for (char c : stream) {
      d.feed(std::string_view(&c, 1));
      ASSERT_NO_FATAL_FAILURE(drain(&d, &got));
    }
    EXPECT_EQ(got, want);
    EXPECT_EQ(d.buffered_bytes(), 0u);
  }
}

// A stream fed in random splits (empty feeds included) gives back exactly the frames.
TEST(FrameCodec, RandomSplits) {
  for (uint64_t seed : seeds(100)) {
    SCOPED_TRACE("seed=" + std::to_string(seed) + " (set CELLSIM_SEED to reproduce)");
    std::mt19937_64 rng(seed);
    std::string stream;
    std::vector<std::string> want;
    make_stream(1 + rng() % 100, rng, &stream, &want);
    FrameDecoder d;
    std::vector<std::string> got;
    size_t pos = 0;
    while (pos < stream.size()) {
      // Mostly short reads, sometimes long ones spanning many frames.
      const size_t n = rng() % 4 == 0 ? rng() % 20000 : rng() % 16;
      const size_t take = std::min(n, stream.size() - pos);
      d.feed(std::string_view(stream).substr(pos, take));
      pos += take;
      ASSERT_NO_FATAL_FAILURE(drain(&d, &got));
    }
    EXPECT_EQ(got, want);
    EXPECT_EQ(d.buffered_bytes(), 0u);
    EXPECT_FALSE(d.failed());
  }
}

// Many frames in one feed all come out of that one feed.
TEST(FrameCodec, ManyFramesInOneFeed) {
  std::mt19937_64 rng(7);
  std::string stream;
  std::vector<std::string> want;
  make_stream(1000, rng, &stream, &want);
  FrameDecoder d;
  d.feed(stream);
  EXPECT_EQ(d.buffered_bytes(), stream.size());
  std::vector<std::string> got;
  drain(&d, &got);
  EXPECT_EQ(got, want);
  EXPECT_EQ(d.buffered_bytes(), 0u);
}

// A frame split in its header waits for the rest of the header.
TEST(FrameCodec, SplitHeaderNeedsMore) {
  v1::Envelope e;
  e.mutable_heartbeat()->set_seq(9);
  const std::string frame = encode_frame(e);
  FrameDecoder d;
  std::string_view got;
  for (size_t i = 0; i < kFrameHeaderBytes; ++i) {
    EXPECT_EQ(d.next(&got), FrameDecoder::Status::kNeedMore);
    d.feed(frame.substr(i, 1));
  }
  EXPECT_EQ(d.next(&got), FrameDecoder::Status::kNeedMore);
  d.feed(frame.substr(kFrameHeaderBytes));
  ASSERT_EQ(d.next(&got), FrameDecoder::Status::kFrame);
  EXPECT_EQ(got, e.SerializeAsString());
}

// A declared length over the maximum is refused from the header alone; the
// payload is never buffered and the decoder stays failed whatever follows.
TEST(FrameCodec, TooLargeRefusedWithoutBuffering) {
  constexpr uint32_t kMax = 1024;
  for (uint32_t declared : {kMax + 1, 1u << 20, 0xffffffffu}) {
    SCOPED_TRACE("declared=" + std::to_string(declared));
    FrameDecoder d(kMax);
    char h[kFrameHeaderBytes];
    put_header(declared, h);
    d.feed(std::string_view(h, kFrameHeaderBytes));
    d.feed("abc");  // a few payload bytes only
    EXPECT_LE(d.buffered_bytes(), kFrameHeaderBytes + 3);
    std::string_view got;
    EXPECT_EQ(d.next(&got), FrameDecoder::Status::kTooLarge);
    EXPECT_TRUE(d.failed());
    EXPECT_EQ(d.declared_bytes(), declared);
    EXPECT_EQ(d.buffered_bytes(), 0u);
    // More bytes, even a good frame, are ignored: the decoder stays failed.
    d.feed(std::string(64 * 1024, 'x'));
    v1::Envelope ok;
    ok.mutable_heartbeat()->set_seq(1);
    d.feed(encode_frame(ok));
    EXPECT_EQ(d.buffered_bytes(), 0u);
    EXPECT_EQ(d.next(&got), FrameDecoder::Status::kTooLarge);
    EXPECT_EQ(d.next(&got), FrameDecoder::Status::kTooLarge);
    EXPECT_TRUE(d.failed());
  }
}

// The maximum itself is accepted; one byte more is refused.
TEST(FrameCodec, MaximumIsInclusive) {
  constexpr uint32_t kMax = 100;
  std::string frame(kFrameHeaderBytes, '\0');
  put_header(kMax, frame.data());
  frame += std::string(kMax, 'p');
  FrameDecoder d(kMax);
  d.feed(frame);
  std::string_view got;
  ASSERT_EQ(d.next(&got), FrameDecoder::Status::kFrame);
  EXPECT_EQ(got.size(), kMax);

  put_header(kMax + 1, frame.data());
  FrameDecoder d2(kMax);
  d2.feed(std::string_view(frame).substr(0, kFrameHeaderBytes));
  EXPECT_EQ(d2.next(&got), FrameDecoder::Status::kTooLarge);
}

// Good frames before an oversized one still come out; then the decoder fails.
TEST(FrameCodec, GoodFramesThenTooLarge) {
  v1::Envelope e;
  e.mutable_heartbeat()->set_seq(5);
  std::string stream = encode_frame(e) + encode_frame(e);
  char h[kFrameHeaderBytes];
  put_header(kDefaultMaxFrameBytes + 1, h);
  stream.append(h, kFrameHeaderBytes);
  FrameDecoder d;
  d.feed(stream);
  std::string_view got;
  EXPECT_EQ(d.next(&got), FrameDecoder::Status::kFrame);
  EXPECT_EQ(d.next(&got), FrameDecoder::Status::kFrame);
  EXPECT_EQ(d.next(&got), FrameDecoder::Status::kTooLarge);
  EXPECT_EQ(d.declared_bytes(), kDefaultMaxFrameBytes + 1);
}

// A zero-length frame is a frame with an empty payload (an empty Envelope).
TEST(FrameCodec, ZeroLengthFrame) {
  const std::string frame = encode_frame(v1::Envelope());
  ASSERT_EQ(frame, std::string(4, '\0'));
  FrameDecoder d;
  d.feed(frame + frame);
  std::string_view got = "not empty";
  ASSERT_EQ(d.next(&got), FrameDecoder::Status::kFrame);
  EXPECT_TRUE(got.empty());
  ASSERT_EQ(d.next(&got), FrameDecoder::Status::kFrame);
  EXPECT_TRUE(got.empty());
  EXPECT_EQ(d.next(&got), FrameDecoder::Status::kNeedMore);
  v1::Envelope back;
  EXPECT_TRUE(back.ParseFromArray(got.data(), 0));
  EXPECT_EQ(back.body_case(), v1::Envelope::BODY_NOT_SET);
}

// The contract on payload views: a view from next() stays valid until the
// next feed(), even when a later next() finds a length over the maximum.
// (kTooLarge used to free the buffer at once: under ASan, reading `first`
// below was a heap-use-after-free; without ASan it read freed memory.)
TEST(FrameCodec, ViewsStayValidAfterTooLargeUntilTheNextFeed) {
  v1::Envelope a;
  a.mutable_media_frame()->set_payload(std::string(3000, 'a'));  // heap, not SSO
  v1::Envelope b;
  b.mutable_error()->set_reason(std::string(500, 'b'));
  std::string stream = encode_frame(a) + encode_frame(b);
  char h[kFrameHeaderBytes];
  put_header(kDefaultMaxFrameBytes + 1, h);
  stream.append(h, kFrameHeaderBytes);
  stream += "trailing bytes of the refused frame";
  FrameDecoder d;
  d.feed(stream);
  std::string_view first, second, none;
  ASSERT_EQ(d.next(&first), FrameDecoder::Status::kFrame);
  ASSERT_EQ(d.next(&second), FrameDecoder::Status::kFrame);
  ASSERT_EQ(d.next(&none), FrameDecoder::Status::kTooLarge);
  EXPECT_EQ(d.next(&none), FrameDecoder::Status::kTooLarge);
  EXPECT_EQ(d.buffered_bytes(), 0u);
  // Both views are still readable, and still hold their frames.
  EXPECT_EQ(first, a.SerializeAsString());
  EXPECT_EQ(second, b.SerializeAsString());
  // The next feed() releases everything: a failed decoder holds no memory.
  d.feed("x");
  EXPECT_EQ(d.buffered_bytes(), 0u);
  EXPECT_LE(d.buffer_capacity(), sizeof(std::string));
}

// Views from several next() calls after one feed() are all valid together
// (a caller may collect a batch and handle it after draining).
TEST(FrameCodec, ViewsFromOneFeedAreValidTogether) {
  std::mt19937_64 rng(11);
  std::string stream;
  std::vector<std::string> want;
  make_stream(50, rng, &stream, &want);
  FrameDecoder d;
  d.feed(stream.substr(0, 7));  // a partial first header held across feeds
  d.feed(stream.substr(7));
  std::vector<std::string_view> views;
  std::string_view got;
  while (d.next(&got) == FrameDecoder::Status::kFrame) views.push_back(got);
  ASSERT_EQ(views.size(), want.size());
  for (size_t i = 0; i < views.size(); ++i) EXPECT_EQ(views[i], want[i]) << i;
}

// A large frame grows the buffer; the next feed() after it was consumed gives
// the memory back, so a connection does not keep ~64 KiB after one big frame.
TEST(FrameCodec, BufferShrinksAfterALargeFrame) {
  v1::Envelope big;
  big.mutable_media_frame()->set_payload(std::string(60 * 1024, 'm'));
  const std::string frame = encode_frame(big);
  v1::Envelope hb;
  hb.mutable_heartbeat()->set_seq(1);
  const std::string small = encode_frame(hb);
  for (size_t read_bytes : {size_t{1} << 30, size_t{16 * 1024}, size_t{1000}}) {
    SCOPED_TRACE("read_bytes=" + std::to_string(read_bytes));
    FrameDecoder d;
    // A large frame, then a heartbeat's first bytes in the same read.
    const std::string stream = frame + small.substr(0, 3);
    std::vector<std::string> got;
    for (size_t pos = 0; pos < stream.size(); pos += read_bytes) {
      d.feed(std::string_view(stream).substr(pos, read_bytes));
      ASSERT_NO_FATAL_FAILURE(drain(&d, &got));
    }
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0], big.SerializeAsString());
    EXPECT_GE(d.buffer_capacity(), 60u * 1024);  // still holds the frame's bytes
    d.feed(small.substr(3));
    got.clear();
    ASSERT_NO_FATAL_FAILURE(drain(&d, &got));
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0], hb.SerializeAsString());
    EXPECT_LE(d.buffer_capacity(), kDecoderRetainedCapacityBytes);
    // And it stays small on the common path.
    for (int i = 0; i < 1000; ++i) {
      d.feed(small);
      ASSERT_NO_FATAL_FAILURE(drain(&d, &got));
    }
    EXPECT_LE(d.buffer_capacity(), kDecoderRetainedCapacityBytes);
  }
}

// Small frames never make the decoder reallocate once its buffer fits them:
// the release is only for capacities over the retained bound.
TEST(FrameCodec, CommonPathKeepsItsBuffer) {
  v1::Envelope hb;
  hb.mutable_heartbeat()->set_seq(123456);
  const std::string small = encode_frame(hb);
  FrameDecoder d;
  std::vector<std::string> got;
  d.feed(small + small + small);
  drain(&d, &got);
  const size_t cap = d.buffer_capacity();
  for (int i = 0; i < 1000; ++i) {
    d.feed(small);
    ASSERT_NO_FATAL_FAILURE(drain(&d, &got));
    EXPECT_EQ(d.buffer_capacity(), cap);
  }
  EXPECT_EQ(got.size(), 1003u);
}

// A read split right after a too-large header: refused on the header alone.
TEST(FrameCodec, SplitRightAfterATooLargeHeader) {
  char h[kFrameHeaderBytes];
  put_header(kDefaultMaxFrameBytes + 1, h);
  FrameDecoder d;
  d.feed(std::string_view(h, kFrameHeaderBytes));
  std::string_view got;
  EXPECT_EQ(d.next(&got), FrameDecoder::Status::kTooLarge);
  d.feed(std::string(1000, 'z'));
  EXPECT_EQ(d.next(&got), FrameDecoder::Status::kTooLarge);
  EXPECT_EQ(d.buffered_bytes(), 0u);
}

// A shared frame holds the same bytes as encode_frame.
TEST(FrameCodec, SharedFrameMatchesEncode) {
  v1::Envelope e;
  e.mutable_vote_opened()->set_vote_id(3);
  EXPECT_EQ(*make_shared_frame(e), encode_frame(e));
}

// body_name names the oneof field, and "none" for no body.
TEST(FrameCodec, BodyName) {
  EXPECT_EQ(body_name(v1::Envelope::kCastBallot), "cast_ballot");
  EXPECT_EQ(body_name(v1::Envelope::kHello), "hello");
  EXPECT_EQ(body_name(v1::Envelope::BODY_NOT_SET), "none");
}

}  // namespace
}  // namespace cellsim::wire
