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

// Incremental frame decoder.
//
// Invariants: bytes before `pos_` in `buf_` are consumed; once `failed()`,
// the decoder stays failed and ignores further input.
class FrameDecoder {
 public:
  enum class Status {
    kFrame,     // *payload holds one whole frame's payload
    kNeedMore,  // no whole frame buffered yet
    kTooLarge,  // a declared length exceeds the maximum; decoder failed
  };

  explicit FrameDecoder(uint32_t max_frame_bytes = kDefaultMaxFrameBytes);

  // Appends received bytes. Invalidates any payload view returned before.
  void feed(std::string_view bytes);

  // Extracts the next whole payload. The view stays valid until the next
  // call to feed(). After kTooLarge, `declared_bytes()` says what was asked.
  Status next(std::string_view* payload);

  bool failed() const { return failed_; }
  uint32_t declared_bytes() const { return declared_bytes_; }
  uint32_t max_frame_bytes() const { return max_frame_bytes_; }
  // Bytes received but not yet returned as frames.
  size_t buffered_bytes() const { return buf_.size() - pos_; }

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
