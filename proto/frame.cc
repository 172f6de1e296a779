#include "proto/frame.h"

#include "proto/assert.h"

#include <cstring>
#include <limits>

namespace cellsim::wire {

void put_header(uint32_t payload_bytes, char out[kFrameHeaderBytes]) {
  out[0] = static_cast<char>((payload_bytes >> 24) & 0xff);
  out[1] = static_cast<char>((payload_bytes >> 16) & 0xff);
  out[2] = static_cast<char>((payload_bytes >> 8) & 0xff);
  out[3] = static_cast<char>(payload_bytes & 0xff);
}

void append_frame(const v1::Envelope& env, std::string* out) {
  const size_t payload_bytes = env.ByteSizeLong();
  CELLSIM_ASSERT(payload_bytes <= std::numeric_limits<uint32_t>::max());
  const size_t start = out->size();
  out->resize(start + kFrameHeaderBytes + payload_bytes);
  put_header(static_cast<uint32_t>(payload_bytes), out->data() + start);
  auto* dst = reinterpret_cast<uint8_t*>(out->data() + start + kFrameHeaderBytes);
  env.SerializeWithCachedSizesToArray(dst);
}

std::string encode_frame(const v1::Envelope& env) {
  std::string out;
  append_frame(env, &out);
  return out;
}

SharedFrame make_shared_frame(const v1::Envelope& env) {
  return std::make_shared<const std::string>(encode_frame(env));
}

uint32_t get_header(const char* in) {
  const auto* h = reinterpret_cast<const unsigned char*>(in);
  return (uint32_t{h[0]} << 24) | (uint32_t{h[1]} << 16) | (uint32_t{h[2]} << 8) | uint32_t{h[3]};
}

FrameDecoder::FrameDecoder(uint32_t max_frame_bytes) : max_frame_bytes_(max_frame_bytes) {}

void FrameDecoder::feed(std::string_view bytes) {
  if (failed_) {
    // next() left the buffer in place for the views it had returned; they
    // die here, and a failed decoder keeps nothing.
    if (buf_.capacity() > 0) std::string().swap(buf_);
    pos_ = 0;
    return;
  }
  const size_t unconsumed = buf_.size() - pos_;
  if (buf_.capacity() > kDecoderRetainedCapacityBytes &&
      unconsumed + bytes.size() <= kDecoderRetainedCapacityBytes) {
    // A large frame (or a large read) was consumed: give its memory back.
    std::string fresh;
    fresh.reserve(unconsumed + bytes.size());
    fresh.append(buf_, pos_, unconsumed);
    buf_.swap(fresh);
  } else if (unconsumed == 0) {
    buf_.clear();
  } else if (pos_ > 0) {
    buf_.erase(0, pos_);
  }
  pos_ = 0;
  buf_.append(bytes.data(), bytes.size());
}

FrameDecoder::Status FrameDecoder::next(std::string_view* payload) {
  if (failed_) return Status::kTooLarge;
  const size_t avail = buf_.size() - pos_;
  if (avail < kFrameHeaderBytes) return Status::kNeedMore;
  const uint32_t len = get_header(buf_.data() + pos_);
  if (len > max_frame_bytes_) {
    failed_ = true;
    declared_bytes_ = len;
    // Drop what is buffered without touching the memory: views returned
    // before stay valid until the next feed(), which frees it.
    pos_ = buf_.size();
    return Status::kTooLarge;
  }
  if (avail - kFrameHeaderBytes < len) return Status::kNeedMore;
  *payload = std::string_view(buf_.data() + pos_ + kFrameHeaderBytes, len);
  pos_ += kFrameHeaderBytes + len;
  CELLSIM_ASSERT(pos_ <= buf_.size());
  return Status::kFrame;
}

std::string_view body_name(v1::Envelope::BodyCase body_case) {
  if (body_case == v1::Envelope::BODY_NOT_SET) return "none";
  const auto* field = v1::Envelope::descriptor()->FindFieldByNumber(static_cast<int>(body_case));
  return field ? std::string_view(field->name()) : std::string_view("unknown");
}

}  // namespace cellsim::wire
