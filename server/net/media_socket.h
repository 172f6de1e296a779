// The UDP side of cellmeetd: voice datagrams (the `datagram` media
// transport, proto/datagram.h) beside the TCP listener. I/O only, as the
// connections are: what a datagram means is the engine's
// (Engine::handle_datagram), which shard it goes to is the router's
// (server/net/router.h, shard_for_datagram).
//
//   DatagramReceiver  the one UDP socket, read on shard 0's thread into one
//                     reused buffer of wire::kMaxDatagramBytes + 1 bytes (so a
//                     longer datagram arrives truncated to one byte over the
//                     limit and the engine drops it as malformed). Each
//                     datagram goes to the shard its session id names:
//                     shard 0's at once, on this thread; another shard's
//                     through that shard's DatagramInbox.
//   DatagramInbox     the hand-over from the receiving thread to one shard:
//                     a bounded batch of datagrams (bytes and sender),
//                     double-buffered so that steady traffic allocates
//                     nothing; beyond kMaxInboxDatagrams waiting, a datagram
//                     is dropped and counted.
//   DatagramSender    one shard's sending side: its own descriptor of the same
//                     socket (dup: replies leave from the media port, which
//                     members' connected UDP sockets expect), a bounded ring
//                     of datagrams to send (kMaxDatagramSendQueue; beyond it a
//                     datagram is dropped and counted), written with
//                     sendmmsg(MSG_DONTWAIT) in batches of kMaxSendBatch. When
//                     the socket would block, what is queued waits
//                     kDatagramSendRetryMs and is tried again. The descriptor
//                     is never registered with the shard's reactor, so
//                     datagrams arriving on the socket do not wake the
//                     other shards' threads.
//
// Thread-safety: DatagramReceiver runs on shard 0's io_context (open() before
// it runs, stop() and everything else on its thread). DatagramInbox's push()
// is for the receiving thread and take() for the shard's; both lock. A
// DatagramSender belongs to one shard's thread; its stats() counters are
// atomic and may be read from any thread.
#ifndef CELLSIM_SERVER_NET_MEDIA_SOCKET_H_
#define CELLSIM_SERVER_NET_MEDIA_SOCKET_H_

#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "proto/datagram.h"
#include "proto/frame.h"
#include "server/net/asio.h"

namespace cellsim::net {

using udp = ::boost::asio::ip::udp;

// Datagrams waiting in one shard's inbox, at most; more are dropped.
inline constexpr size_t kMaxInboxDatagrams = 4096;
// Datagrams the receiver reads in one wake-up before it yields to the
// other handlers of shard 0's loop.
inline constexpr size_t kMaxDatagramsPerWake = 64;
// Datagrams waiting in one shard's send queue, at most; more are dropped.
inline constexpr size_t kMaxDatagramSendQueue = 4096;
// Datagrams given to one sendmmsg call, at most.
inline constexpr size_t kMaxSendBatch = 64;
// Pause before a send queue the socket refused (would block) is tried again.
inline constexpr uint32_t kDatagramSendRetryMs = 1;
// The receive buffer: one byte over the largest datagram, so a longer one
// is seen as such (truncated) instead of passing for a datagram.
inline constexpr size_t kDatagramReceiveBytes = wire::kMaxDatagramBytes + 1;

// Datagrams waiting for one shard, handed over between threads. Invariant:
// entries' bytes lie back to back in `bytes` in their order.
class DatagramInbox {
 public:
  struct Entry {
    size_t offset = 0;
    size_t size = 0;
    udp::endpoint from;
  };
  struct Batch {
    std::string bytes;
    std::vector<Entry> entries;
    std::string_view at(const Entry& e) const { return {bytes.data() + e.offset, e.size}; }
    void clear() {
      bytes.clear();  // capacities stay: the next batch reuses them
      entries.clear();
    }
  };
  enum class Pushed {
    kFirst,    // queued, and the inbox was empty: the caller wakes the shard
    kQueued,   // queued behind others (a wake-up is on its way)
    kDropped,  // kMaxInboxDatagrams are waiting: dropped (counted)
  };

  // REQUIRES: bytes.size() <= kDatagramReceiveBytes.
  Pushed push(std::string_view bytes, const udp::endpoint& from);
  // Swaps what is waiting into *batch (which is cleared first); the inbox
  // keeps batch's old buffers for what comes next.
  void take(Batch* batch);
  uint64_t drops() const { return drops_.load(std::memory_order_relaxed); }

 private:
  std::mutex mu_;
  Batch waiting_;  // guarded by mu_
  std::atomic<uint64_t> drops_{0};
};

// What a shard's sender did, since the server started.
struct DatagramSendStats {
  std::atomic<uint64_t> sent{0};         // written to the socket
  std::atomic<uint64_t> sent_bytes{0};   // their UDP payload bytes
  std::atomic<uint64_t> queue_drops{0};  // dropped: kMaxDatagramSendQueue were waiting
  std::atomic<uint64_t> errors{0};       // refused by the kernel (not would-block)
};

class DatagramSender {
 public:
  // Takes ownership of `fd` (a descriptor of the media socket, closed on
  // destruction). REQUIRES: fd >= 0.
  DatagramSender(asio::io_context& ctx, int fd);
  ~DatagramSender();
  DatagramSender(const DatagramSender&) = delete;
  DatagramSender& operator=(const DatagramSender&) = delete;

  // Queues `bytes` for `to`; false (dropped and counted) when the queue is
  // full. Nothing is written before flush().
  bool queue(const udp::endpoint& to, wire::SharedFrame bytes);
  // Writes what is queued, in order, until the queue is empty or the socket
  // would block (then flush() runs again after kDatagramSendRetryMs).
  void flush();
  size_t queued() const { return size_; }
  const DatagramSendStats& stats() const { return stats_; }

 private:
  struct Pending {
    udp::endpoint to;
    wire::SharedFrame bytes;
  };
  void pop(size_t n);
  void arm_retry();

  int fd_;
  asio::steady_timer retry_;
  bool retry_armed_ = false;
  // The ring: size_ entries from head_ (mod kMaxDatagramSendQueue).
  std::vector<Pending> ring_;
  size_t head_ = 0;
  size_t size_ = 0;
  std::array<mmsghdr, kMaxSendBatch> msgs_{};
  std::array<iovec, kMaxSendBatch> iovs_{};
  DatagramSendStats stats_;
};

class DatagramReceiver {
 public:
  // Where a datagram goes: shard `target`'s inbox, or, for `local` (the
  // receiving thread's own shard), `deliver` at once. `inboxes[i]` and
  // `wake[i]` belong to shard i (inboxes[local] is unused); wake[i] posts
  // a drain of the inbox to shard i's thread. `after_local_batch` runs
  // once after each wake-up that delivered locally (the shard flushes its
  // sends there).
  struct Routes {
    size_t local = 0;
    std::function<void(std::string_view bytes, const udp::endpoint& from)> deliver;
    std::function<void()> after_local_batch;
    std::vector<DatagramInbox*> inboxes;
    std::vector<std::function<void()>> wake;
  };

  DatagramReceiver(asio::io_context& ctx, Routes routes);
  ~DatagramReceiver();
  DatagramReceiver(const DatagramReceiver&) = delete;
  DatagramReceiver& operator=(const DatagramReceiver&) = delete;

  // Binds a UDP socket to address:port (0: ephemeral). False with a reason
  // naming the address.
  bool open(const std::string& address, uint16_t port, std::string* why);
  uint16_t port() const { return port_; }
  // A new descriptor of the socket (dup), for a shard's sender; -1 with
  // *why on failure.
  int dup_descriptor(std::string* why);
  // Starts reading.
  void start();
  // Stops reading and closes the socket (the senders keep their own
  // descriptors until they go).
  void stop();
  uint64_t received() const { return received_.load(std::memory_order_relaxed); }
  uint64_t receive_errors() const { return receive_errors_.load(std::memory_order_relaxed); }

 private:
  void do_receive();
  void on_receive(const error_code& ec, size_t bytes);
  void route(size_t bytes, bool* local);

  Routes routes_;
  udp::socket socket_;
  uint16_t port_ = 0;
  bool stopping_ = false;
  std::array<char, kDatagramReceiveBytes> buffer_{};
  udp::endpoint from_;
  std::atomic<uint64_t> received_{0};
  std::atomic<uint64_t> receive_errors_{0};
};

}  // namespace cellsim::net

#endif  // CELLSIM_SERVER_NET_MEDIA_SOCKET_H_
