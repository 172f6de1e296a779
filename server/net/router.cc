#include "server/net/router.h"

#include "proto/datagram.h"

namespace cellsim::net {

size_t shard_for_datagram(std::string_view bytes, size_t shards) {
  wire::DatagramHeader h;
  if (!wire::peek_datagram(bytes, &h)) return 0;
  return shard_for_session(h.session_id, shards);
}

FirstFrameRouter::FirstFrameRouter(uint32_t max_frame_bytes) : max_frame_bytes_(max_frame_bytes) {}

bool FirstFrameRouter::feed(std::string_view bytes) {
  if (decided_) return true;
  raw_.append(bytes.data(), bytes.size());
  if (raw_.size() < wire::kFrameHeaderBytes) return false;
  const uint32_t len = wire::get_header(raw_.data());
  if (len <= max_frame_bytes_) {
    if (raw_.size() - wire::kFrameHeaderBytes < len) return false;
    v1::Envelope env;
    if (env.ParseFromArray(raw_.data() + wire::kFrameHeaderBytes, static_cast<int>(len)) &&
        env.body_case() == v1::Envelope::kHello) {
      cell_id_ = env.hello().cell_id();
    }
  }  // else: a length over the maximum; shard 0 refuses it
  decided_ = true;
  return true;
}

}  // namespace cellsim::net
