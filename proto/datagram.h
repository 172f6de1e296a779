// Voice datagrams: the `datagram` media transport (DESIGN.md, "Two media
// transports"). Voice goes over UDP beside the member's TCP session, each
// datagram authenticated with the session's media key (given in Welcome),
// never retransmitted. The server relays the floor holder's datagrams to the
// other participants, re-sealed under each recipient's key.
//
// Layout (all integers big-endian):
//
//   offset  bytes  field
//        0      1  version (kDatagramVersion)
//        1      1  kind (DatagramKind)
//        2      2  payload length
//        4      8  session_id: whose key seals it (the sender's session on
//                  the way to the server, the recipient's on relay)
//       12      8  seq: per key and direction, increasing (the replay window)
//       20      8  media_seq: the speaker's frame number (kept on relay)
//       28      8  capture_ns: when the speaker captured the frame, on the
//                  harness's clock (kept on relay; signed)
//       36      8  from_member_id: 0 from a member; the speaker, on relay
//       44      n  payload
//     44+n     16  tag: HMAC-SHA256(key, direction byte ‖ bytes [0, 44+n)),
//                  truncated to kDatagramTagBytes
//
// The direction byte in the MAC (kToServer, kToMember) keeps a member's own
// datagram from being reflected back to it as if the server sent it.
//
// The media key of a session is HMAC-SHA256 of the deployment key over the
// session's identity (media_key()); a new session (reconnect without
// resume, a new server run) gets a new key.
//
// Thread-safety: the free functions are thread-safe; a ReplayWindow is owned
// by one thread.
#ifndef CELLSIM_PROTO_DATAGRAM_H_
#define CELLSIM_PROTO_DATAGRAM_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace cellsim::wire {

inline constexpr uint8_t kDatagramVersion = 1;
inline constexpr size_t kDatagramHeaderBytes = 44;
inline constexpr size_t kDatagramTagBytes = 16;
inline constexpr size_t kMediaKeyBytes = 32;
// The largest datagram sent or accepted: under any path MTU (IPv6's 1280
// minimum less headers), so a voice datagram is never fragmented.
inline constexpr size_t kMaxDatagramBytes = 1200;
inline constexpr size_t kMaxDatagramPayloadBytes =
    kMaxDatagramBytes - kDatagramHeaderBytes - kDatagramTagBytes;
// IPv4 and UDP headers on the wire, per datagram.
inline constexpr uint32_t kUdpIpOverheadBytes = 28;

enum class DatagramKind : uint8_t {
  kVoice = 1,  // a voice frame
  kBind = 2,   // no payload: tells the server where the member receives
};

enum class DatagramDirection : uint8_t { kToServer = 0, kToMember = 1 };

struct DatagramHeader {
  DatagramKind kind = DatagramKind::kVoice;
  uint64_t session_id = 0;
  uint64_t seq = 0;
  uint64_t media_seq = 0;
  int64_t capture_ns = 0;
  uint64_t from_member_id = 0;
};

// The size of a sealed datagram with `payload_bytes` of payload (UDP
// payload: kUdpIpOverheadBytes more on the wire).
inline constexpr size_t sealed_datagram_bytes(size_t payload_bytes) {
  return kDatagramHeaderBytes + payload_bytes + kDatagramTagBytes;
}

// The session's media key (kMediaKeyBytes): HMAC-SHA256(deployment_key,
// "cellsim media" ‖ cell ‖ member ‖ session ‖ run).
std::string media_key(std::string_view deployment_key, uint64_t cell_id, uint64_t member_id,
                      uint64_t session_id, uint64_t run_id);

// A sealed datagram. REQUIRES: payload.size() <= kMaxDatagramPayloadBytes,
// key non-empty.
std::string seal_datagram(std::string_view key, DatagramDirection dir, const DatagramHeader& h,
                          std::string_view payload);

enum class OpenStatus {
  kOk,
  kMalformed,  // too short or long, another version, an unknown kind, a length that disagrees
  kBadTag,     // the tag does not verify under this key and direction
};

// Reads the header without authenticating it (to find the session whose
// key to check it with). False when malformed.
bool peek_datagram(std::string_view bytes, DatagramHeader* h);

// Checks and opens a datagram. On kOk, *h and *payload (a view into
// `bytes`) are set.
OpenStatus open_datagram(std::string_view key, DatagramDirection dir, std::string_view bytes,
                         DatagramHeader* h, std::string_view* payload);

// Anti-replay over a sliding window of sequence numbers (RFC 4303 §3.4.3):
// a seq is accepted once, and only if it is newer than the highest seen
// less kReplayWindow. Call accept() only for authenticated datagrams.
// Invariant: bit i of `seen_` is set iff seq highest_ − i was accepted.
class ReplayWindow {
 public:
  static constexpr uint64_t kReplayWindow = 64;
  // True the first time an authenticated `seq` within the window is seen;
  // false for a replay or a seq too old. Seq 0 is never accepted.
  bool accept(uint64_t seq);
  uint64_t highest() const { return highest_; }

 private:
  uint64_t highest_ = 0;
  uint64_t seen_ = 0;
};

}  // namespace cellsim::wire

#endif  // CELLSIM_PROTO_DATAGRAM_H_
