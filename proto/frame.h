// Framing codec for the cellmeet wire protocol (DESIGN.md, "Wire protocol").
//
// A frame is a 4-byte big-endian payload length followed by the payload, one
// serialized cellsim.v1.Envelope. `FrameDecoder` turns any split of a byte
// stream (one byte at a time, many frames per read) into whole payloads and
// refuses a declared length over its maximum before buffering the payload.
//
// Thread-safety: a FrameDecoder is owned by one connection and is not
// thread-safe; the free functions are.
#ifndef CELLSIM_PROTO_FRAME_H_
#define CELLSIM_PROTO_FRAME_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "cellsim/v1/wire.pb.h"

namespace cellsim::wire {

namespace v1 = ::cellsim::v1;

inline constexpr uint32_t kFrameHeaderBytes = 4;
inline constexpr uint32_t kDefaultMaxFrameBytes = 64 * 1024;
inline constexpr uint32_t kProtocolVersionMajor = 1;
inline constexpr uint32_t kProtocolVersionMinor = 0;

// Appends `env` as one frame (header + payload) to `*out`.
// REQUIRES: env.ByteSizeLong() fits in 32 bits.
void append_frame(const v1::Envelope& env, std::string* out);

// Returns `env` encoded as one frame.
std::string encode_frame(const v1::Envelope& env);

// A frame shared by every recipient of a broadcast: encoded once.
using SharedFrame = std::shared_ptr<const std::string>;
SharedFrame make_shared_frame(const v1::Envelope& env);

// Writes the 4-byte big-endian header for a payload of `payload_bytes`.
void put_header(uint32_t payload_bytes, char out[kFrameHeaderBytes]);

// Reads the 4-byte big-endian header at `in` (kFrameHeaderBytes bytes).
uint32_t get_header(const char* in);

// Capacity a FrameDecoder may keep once its buffered bytes are consumed. A
// large frame (up to the maximum, 64 KiB by default) grows the buffer; the
// next feed() after it was consumed gives that memory back, so an idle
// connection holds at most this much (heartbeats, ballots and voice frames
// are tens to hundreds of bytes, so the common path never reallocates).
inline constexpr size_t kDecoderRetainedCapacityBytes = 4 * 1024;

// Incremental frame decoder.
//
// Invariants: bytes before `pos_` in `buf_` are consumed; once `failed()`,
// the decoder stays failed, ignores further input and buffers nothing; after
// a feed(), buf_.capacity() exceeds kDecoderRetainedCapacityBytes only while
// the unconsumed bytes need it (a frame is being received).
//
// Lifetime of payload views: a view returned by next() stays valid until the
// next feed(), the decoder's destruction or assignment to it, whatever
// next() returns in between (kTooLarge included: the buffer is only released
// by the following feed()). Only feed() moves, compacts or frees the buffer.
class FrameDecoder {
 public:
  enum class Status {
    kFrame,     // *payload holds one whole frame's payload
    kNeedMore,  // no whole frame buffered yet
    kTooLarge,  // a declared length exceeds the maximum; decoder failed
  };

  explicit FrameDecoder(uint32_t max_frame_bytes = kDefaultMaxFrameBytes);

  // Appends received bytes. Invalidates any payload view returned before;
  // releases the buffer's memory when the consumed bytes leave it over
  // kDecoderRetainedCapacityBytes, and all of it once failed().
  void feed(std::string_view bytes);

  // Extracts the next whole payload. The view stays valid until the next
  // call to feed() (see above). After kTooLarge, `declared_bytes()` says what
  // was asked. Never allocates or frees.
  Status next(std::string_view* payload);

  bool failed() const { return failed_; }
  uint32_t declared_bytes() const { return declared_bytes_; }
  uint32_t max_frame_bytes() const { return max_frame_bytes_; }
  // Bytes received but not yet returned as frames (0 once failed).
  size_t buffered_bytes() const { return buf_.size() - pos_; }
  // Memory held by the buffer, for tests and memory accounting.
  size_t buffer_capacity() const { return buf_.capacity(); }

 private:
  uint32_t max_frame_bytes_;
  std::string buf_;
  size_t pos_ = 0;
  bool failed_ = false;
  uint32_t declared_bytes_ = 0;
};

// Returns the name of the envelope's body field ("hello", "cast_ballot", ...)
// or "none"; used for metrics labels and logs.
std::string_view body_name(v1::Envelope::BodyCase body_case);

}  // namespace cellsim::wire

#endif  // CELLSIM_PROTO_FRAME_H_
