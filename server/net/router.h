// FirstFrameRouter: decides which shard a new connection belongs to, from its
// first frame. Sans-IO: it is fed the bytes the connection sent before it was
// handed to a shard, and keeps all of them so the shard's engine sees the
// connection's byte stream from its start.
//
// A Hello routes to its cell's shard (cell_id % shards). Anything else (a
// frame that is not a Hello or does not parse, a length over the maximum)
// routes with cell id 0, i.e. to shard 0, whose engine answers it with the
// right Error. A length over the maximum is decided on the 4-byte header
// alone, so no oversized payload is ever buffered.
//
// The router keeps one copy of what it was fed (buffered()) and reads the
// first frame's header and payload in place there: no decoder buffer beside it.
//
// Invariants: buffered() holds every byte fed until the route was decided, at
// most the first frame's header and payload plus one read's worth beyond it
// (the caller feeds bounded reads); once decided() it stays decided and
// ignores further input (take_buffered() hands the bytes over).
//
// Thread-safety: none; owned by one connection's handshake.
#ifndef CELLSIM_SERVER_NET_ROUTER_H_
#define CELLSIM_SERVER_NET_ROUTER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "proto/frame.h"

namespace cellsim::net {

// The shard that owns `cell_id` among `shards` (> 0) shards.
inline size_t shard_for_cell(uint64_t cell_id, size_t shards) { return cell_id % shards; }

// The shard whose engine handed out `session_id` among `shards` (> 0)
// shards. Shard i's engine numbers its sessions i + 1, i + 1 + shards,
// i + 1 + 2 × shards, ... (EngineSettings::session_id_base and _stride, set
// by the server), so the id itself names the shard: no table to keep. A
// session id 0 (never handed out) goes to shard 0, whose engine drops it.
inline size_t shard_for_session(uint64_t session_id, size_t shards) {
  return session_id == 0 ? 0 : (session_id - 1) % shards;
}

// The shard a received UDP datagram goes to: its (unauthenticated) header's
// session (proto/datagram.h, peek_datagram), or shard 0 when it is no
// datagram at all (too short or long, another version), whose engine then
// drops it as malformed. Sans-IO; the owning engine authenticates it.
size_t shard_for_datagram(std::string_view bytes, size_t shards);

class FirstFrameRouter {
 public:
  explicit FirstFrameRouter(uint32_t max_frame_bytes);

  // Appends bytes; returns true once the route is decided.
  bool feed(std::string_view bytes);
  bool decided() const { return decided_; }
  // The Hello's cell id, or 0 when the first frame is not a good Hello.
  // Valid once decided().
  uint64_t cell_id() const { return cell_id_; }
  // Every byte fed so far (bytes fed after the route was decided are ignored).
  const std::string& buffered() const { return raw_; }
  std::string take_buffered() { return std::move(raw_); }

 private:
  uint32_t max_frame_bytes_;
  std::string raw_;
  bool decided_ = false;
  uint64_t cell_id_ = 0;
};

}  // namespace cellsim::net

#endif  // CELLSIM_SERVER_NET_ROUTER_H_
