#include "server/net/router.h"

namespace cellsim::net {

FirstFrameRouter::FirstFrameRouter(uint32_t max_frame_bytes) : decoder_(max_frame_bytes) {}

bool FirstFrameRouter::feed(std::string_view bytes) {
  if (decided_) return true;
  raw_.append(bytes.data(), bytes.size());
  decoder_.feed(bytes);
  std::string_view payload;
  switch (decoder_.next(&payload)) {
    case wire::FrameDecoder::Status::kNeedMore:
      return false;
    case wire::FrameDecoder::Status::kTooLarge:
      break;  // shard 0 refuses it
    case wire::FrameDecoder::Status::kFrame: {
      v1::Envelope env;
      if (env.ParseFromArray(payload.data(), static_cast<int>(payload.size())) &&
          env.body_case() == v1::Envelope::kHello) {
        cell_id_ = env.hello().cell_id();
      }
      break;
    }
  }
  decided_ = true;
  return true;
}

}  // namespace cellsim::net
