// The meeting engine: sessions, authentication, liveness and dispatch for the
// cells it holds, each cell's meeting run by a Meeting. Sans-IO (DESIGN.md,
// "The one rule"): inputs are (now, connection, bytes), connection opened and
// closed, and timer expiry; outputs are polled: frames to send (a broadcast
// encoded once and shared by its recipients), connections to close, minutes
// to keep, and the next timer. No Boost, socket, clock, thread or global
// random source: time is passed in, and nothing here is random.
//
// Time: `now` is nanoseconds since the Unix epoch on the host's clock, real
// (cellmeetd) or virtual (the simulator). Token expiry and the minutes' times
// use it in milliseconds.
//
// Ordering: outputs are polled in the order they were produced. A kClose
// output comes after the frames for that connection that precede it, which
// the host must still deliver (the closing Error frame) before closing.
//
// Durability (DESIGN.md, "Acknowledged means durable"): every change to a
// meeting's record comes out as a kJournal output (a serialized
// v1::JournalRecord) and every change to a secret vote's ballots as a
// kBallotBox output, *before* the frames that acknowledge or announce it. A
// host that keeps the journal must make those durable before it delivers any
// later output (group commit: hold the outputs of one turn, write and fsync,
// then deliver). recover() replays a journal into the meetings at start.
//
// Voice datagrams (the `datagram` media transport, proto/datagram.h): with
// settings.media_port set, every Welcome carries the session's media key and
// that port. The host feeds every UDP datagram it receives to
// handle_datagram(), which authenticates it with the key of the session it
// names, checks the session's replay window, and either drops it (the
// DatagramResult says why; nothing is sent back) or accepts it: a bind, or
// the floor holder's voice, relayed under the same rules and the same token
// bucket as MediaFrames. An accepted datagram asks the host to latch the
// sender's UDP endpoint for the session (DatagramResult::latch); relayed
// copies, each re-sealed under its recipient's key, and the news that a
// session lost its endpoint come out of poll_datagram(), a queue of their
// own beside poll_output()'s (a host that never calls handle_datagram()
// never finds anything there). Datagrams are never journaled: voice is no
// part of the meeting's record. A session loses its endpoint when its
// connection goes or it is replaced; a resumed session keeps its key and
// replay windows but must send a datagram from its new endpoint first.
//
// Output frames: every frame the engine emits is at most
// settings.max_frame_bytes (asserted where frames are built), and every
// text in it is valid UTF-8.
//
// Thread-safety: none. One engine is driven by one thread; cellmeetd shards
// cells across engines.
#ifndef CELLSIM_SERVER_ENGINE_ENGINE_H_
#define CELLSIM_SERVER_ENGINE_ENGINE_H_

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cellsim/v1/wire.pb.h"
#include "proto/datagram.h"
#include "proto/frame.h"
#include "server/engine/meeting.h"
#include "server/engine/settings.h"

namespace cellsim::engine {

using TimeNs = int64_t;
using ConnId = uint64_t;

inline constexpr TimeNs kNsPerMs = 1'000'000;

struct Output {
  enum class Kind {
    kTransmit,  // send `frame` on `conn`
    kClose,     // close `conn` once what was sent before is flushed
    kMinutes,   // a meeting closed: keep `minutes`
    kJournal,   // append `frame`'s bytes (a serialized v1::JournalRecord) durably
    kBallotBox, // replace the secret vote's box with `box`, durably
  };
  Kind kind = Kind::kTransmit;
  ConnId conn = 0;
  wire::SharedFrame frame;  // kTransmit: the frame; kJournal: the record
  std::shared_ptr<const v1::Minutes> minutes;
  std::shared_ptr<const v1::BallotBox> box;
};

// What recover() did, for the host's log.
struct RecoveryStats {
  uint64_t records_applied = 0;
  uint64_t records_skipped = 0;    // for unknown cells, or that no longer apply
  uint64_t meetings_restored = 0;  // meetings still gathering or open
  uint64_t ballots_restored = 0;   // counted ballots of the meetings still open
  bool clean_stop = false;         // the journal ends with a graceful stop
  std::vector<std::string> warnings;  // at most kMaxRecoveryWarnings
};
inline constexpr size_t kMaxRecoveryWarnings = 32;
// Outputs pending between two polls. A host drains them after every input,
// and one input causes at most a few per member of a cell, so reaching this
// is a bug (CELLSIM_ASSERT).
inline constexpr size_t kMaxPendingOutputs = size_t{1} << 24;

// What handle_datagram() did with a datagram: accepted (kBound, kRelayed)
// or dropped, and why. The names (datagram_verdict_name) are the metrics'
// reason labels.
enum class DatagramVerdict : uint8_t {
  kBound,           // a bind: authenticated and fresh; the endpoint latches
  kRelayed,         // the floor holder's voice, relayed to the bound listeners
  kMalformed,       // not a datagram (proto/datagram.h, peek_datagram)
  kUnknownSession,  // names no session, or one without a connection
  kBadTag,          // does not verify under the named session's key
  kReplayed,        // a seq seen already, or older than the replay window
  kNotJoined,       // voice from a session that does not receive the meeting's pushes
  kNotFloorHolder,  // voice from a member not holding the floor
  kTooLarge,        // payload over settings.max_media_payload_bytes
  kRateLimited,     // over the member's media token bucket (shared with MediaFrames)
};
inline constexpr size_t kDatagramVerdicts = 10;
// "bound", "relayed", "malformed", "unknown_session", "bad_tag", "replayed",
// "not_joined", "not_floor_holder", "too_large", "rate_limited".
const char* datagram_verdict_name(DatagramVerdict v);

struct DatagramResult {
  DatagramVerdict verdict = DatagramVerdict::kMalformed;
  // The session the datagram named (0 when malformed).
  uint64_t session_id = 0;
  // Authenticated and fresh (it passed the tag and the replay window): the
  // host latches the sender's endpoint as session_id's, replacing any
  // earlier one. Also set for voice dropped by the meeting's rules.
  bool latch = false;
  // Relayed copies queued for poll_datagram() (kRelayed only).
  uint32_t recipients = 0;
  bool accepted() const {
    return verdict == DatagramVerdict::kBound || verdict == DatagramVerdict::kRelayed;
  }
};

struct DatagramOutput {
  enum class Kind {
    kSend,    // send `bytes` to the endpoint latched for `session_id`
    kUnbind,  // `session_id` lost its endpoint: forget it
  };
  Kind kind = Kind::kSend;
  uint64_t session_id = 0;
  wire::SharedFrame bytes;  // kSend: a sealed datagram (kToMember)
};

// Datagram counts since the engine started. Invariant: received equals the
// sum of by_verdict.
struct DatagramStats {
  uint64_t received = 0;
  std::array<uint64_t, kDatagramVerdicts> by_verdict{};
  uint64_t sent = 0;        // relayed copies queued for recipients
  uint64_t sent_bytes = 0;  // their sealed bytes (without UDP/IP headers)
  uint64_t count(DatagramVerdict v) const { return by_verdict[static_cast<size_t>(v)]; }
};

// Media a meeting relayed, counted per recipient copy: MediaFrames on the
// sessions (bytes as framed) and voice datagrams (sealed bytes).
struct MeetingMedia {
  uint64_t cell_id = 0;
  uint64_t meeting_id = 0;
  uint64_t in_band_frames = 0;
  uint64_t in_band_bytes = 0;
  uint64_t datagram_frames = 0;
  uint64_t datagram_bytes = 0;
};

// Datagram outputs pending between two polls (relayed copies and unbinds):
// a host drains them after every input, and one input makes at most one
// per member of a cell, so reaching this is a bug (CELLSIM_ASSERT).
inline constexpr size_t kMaxPendingDatagramOutputs = size_t{1} << 20;

// A secret vote's box as the host kept it, or nullptr.
using BoxLookup =
    std::function<const v1::BallotBox*(uint64_t cell_id, uint64_t meeting_id, uint64_t vote_id)>;

// Hooks for the host's metrics. Called on the engine's thread.
class EngineObserver {
 public:
  virtual ~EngineObserver() = default;
  virtual void on_frame_in(v1::Envelope::BodyCase body) = 0;
  virtual void on_frame_out(v1::Envelope::BodyCase body, uint32_t recipients) = 0;
  virtual void on_error(v1::ErrorCode code) = 0;
};

class Engine {
 public:
  // REQUIRES: key.size() >= kMinKeyBytes.
  Engine(EngineSettings settings, std::string key);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Adds a cell's roster. Returns false with *why on a bad roster (cell id 0,
  // duplicate cell or member ids, a member id 0, no chair).
  bool add_cell(const v1::CellRoster& roster, std::string* why);
  // REQUIRES: observer outlives the engine, or is reset to nullptr.
  void set_observer(EngineObserver* observer) { observer_ = observer; }

  // REQUIRES: `conn` is not open already.
  void handle_connect(TimeNs now, ConnId conn);
  // Bytes from `conn`; ignored if the engine has closed it already.
  void handle_bytes(TimeNs now, ConnId conn, std::string_view bytes);
  // The peer went away or the host closed the connection.
  void handle_disconnect(TimeNs now, ConnId conn);
  // Runs every timer due at or before `now`.
  void handle_timeout(TimeNs now);
  // One UDP datagram as received (at most wire::kMaxDatagramBytes is a
  // datagram; anything longer is malformed). See "Voice datagrams" above.
  // Nothing goes to poll_output(); relayed copies go to poll_datagram().
  DatagramResult handle_datagram(TimeNs now, std::string_view bytes);
  // Pops the next datagram output; false when there is none.
  bool poll_datagram(DatagramOutput* out);
  bool has_datagram_output() const { return !datagram_outputs_.empty(); }
  // Sets settings().media_port. REQUIRES: no connection has been made yet.
  void set_media_port(uint32_t port);
  // Rebuilds the meetings from a journal: `records` in the order they were
  // written (any cells; records for cells this engine does not hold are
  // skipped), secret votes' ballots from `boxes`. Meetings still open come
  // back with their attendance, agenda and open vote; members present at the
  // crash stay present for one liveness window so that they can reconnect
  // and join again. Outputs: kMinutes for each meeting that closed but whose
  // final minutes were not kept, and (unless the journal ends with a
  // graceful stop) recovered minutes (interrupted, recovered) for each
  // meeting still open. Meeting ids continue after the journal's.
  // REQUIRES: no connection has been made yet.
  void recover(TimeNs now, const std::vector<v1::JournalRecord>& records, const BoxLookup& boxes,
               RecoveryStats* stats);

  // Keeps the minutes of every open meeting (marked interrupted), then sends
  // every connection ERROR_SHUTTING_DOWN and closes it, without attendance
  // pushes. The engine takes no further input after it.
  void shutdown(TimeNs now);

  // The earliest time handle_timeout() should be called, if any.
  std::optional<TimeNs> poll_timeout() const;
  // Pops the next output; false when there is none.
  bool poll_output(Output* out);
  bool has_output() const { return !outputs_.empty(); }

  // Queries, for metrics and tests.
  size_t connection_count() const { return conns_.size(); }
  size_t open_meetings() const;
  size_t quorate_meetings() const;
  // The cell's current meeting, or nullptr.
  const Meeting* meeting(uint64_t cell_id) const;
  // Meeting::check_invariants() of the cell's current meeting; true when
  // there is none. False with *why naming the broken invariant.
  bool check_cell_invariants(uint64_t cell_id, std::string* why) const;
  // Every opened meeting not yet closed, by cell id ascending, appended to
  // *out as (cell id, meeting). Pointers valid until the next input.
  void open_meeting_list(std::vector<std::pair<uint64_t, const Meeting*>>* out) const;
  const EngineSettings& settings() const { return settings_; }
  bool holds_cell(uint64_t cell_id) const { return cells_.count(cell_id) != 0; }
  // The cells this engine holds, ascending.
  std::vector<uint64_t> cell_ids() const;
  // The id the cell's next meeting will get (meeting ids never repeat, also
  // across restarts, since recover() continues them). 0 for an unknown cell.
  uint64_t next_meeting_id(uint64_t cell_id) const;
  const DatagramStats& datagram_stats() const { return datagram_stats_; }
  // Sessions with a latched datagram endpoint (<= sessions with a connection).
  size_t bound_sessions() const { return bound_sessions_; }
  // Whether the session exists, has a connection and a latched endpoint.
  bool session_bound(uint64_t session_id) const;
  // The media relayed by every meeting not yet closed, by cell id ascending,
  // appended to *out (at most one entry per cell).
  void meeting_media_list(std::vector<MeetingMedia>* out) const;
  // The session index and the datagram state agree with the cells' sessions
  // (every session id indexed once, bound only with a connection and a key,
  // the counts add up). False with *why naming the broken invariant. Costs a
  // pass over every session: for tests and fuzzing, not the hot path.
  bool check_datagram_invariants(std::string* why) const;

 private:
  struct Cell;
  struct Conn;
  struct MemberSession;
  class CellSink;

  Conn* find_conn(ConnId id);
  void dispatch(TimeNs now, ConnId id, Conn& c, const v1::Envelope& env);
  void on_hello(TimeNs now, ConnId id, Conn& c, const v1::Envelope& env);
  Cell* check_hello(TimeNs now, ConnId id, const v1::Envelope& env);
  void welcome(TimeNs now, ConnId id, Cell& cell, const MemberSession& s,
               const v1::Envelope& env, bool resumed);
  void on_join(TimeNs now, ConnId id, Conn& c, uint64_t request_id);
  void on_meeting_request(TimeNs now, ConnId id, Conn& c, const v1::Envelope& env);
  void on_media(TimeNs now, ConnId id, Conn& c, const v1::Envelope& env);
  void protocol_error(TimeNs now, ConnId id, v1::ErrorCode code, std::string reason,
                      uint64_t request_id = 0);
  void refuse(ConnId id, const RuleResult& r, uint64_t request_id);
  void drop_conn(TimeNs now, ConnId id);
  void arm_timer(ConnId id, Conn& c, TimeNs deadline);
  void transmit(ConnId id, const v1::Envelope& env);
  void transmit_shared(ConnId id, wire::SharedFrame frame);
  void push_output(Output out);
  Meeting& current_meeting(Cell& cell);
  TimeNs liveness_ns() const;
  bool refuse_invalid_text(TimeNs now, ConnId id, const Conn& c, std::string_view payload);
  bool pace_media(MemberSession& session, TimeNs now, size_t payload_bytes);
  void replay(const v1::JournalRecord& rec, const BoxLookup& boxes, RecoveryStats* stats);
  bool apply(Cell& cell, const v1::JournalRecord& rec, const BoxLookup& boxes,
             RecoveryStats* stats);
  void finish_recovery(TimeNs now, RecoveryStats* stats);
  void expire_orphans(TimeNs now);
  void unbind(MemberSession& s);
  DatagramResult drop_datagram(DatagramVerdict v, uint64_t session_id, bool latch);
  uint32_t relay_datagram(Cell& cell, uint64_t speaker, const wire::DatagramHeader& h,
                          std::string_view payload);
  void push_datagram(DatagramOutput out);

  EngineSettings settings_;
  std::string key_;
  EngineObserver* observer_ = nullptr;
  std::unordered_map<uint64_t, std::unique_ptr<Cell>> cells_;
  std::unordered_map<ConnId, Conn> conns_;
  // Lazy timer queue: (check time, conn). A connection has at most one entry;
  // at its check time the entry is re-armed if the deadline moved later.
  std::set<std::pair<TimeNs, ConnId>> timers_;
  std::deque<Output> outputs_;
  uint64_t next_session_id_;
  bool shutting_down_ = false;
  bool replaying_ = false;  // recover() is running: the meetings' outputs are dropped
  uint64_t choice_salt_;    // secret ballots' fingerprints (from the key)
  // Members present when the server last stopped, not yet joined again:
  // (cell, member), set absent at orphan_deadline_ (recover()).
  std::set<std::pair<uint64_t, uint64_t>> orphans_;
  TimeNs orphan_deadline_ = 0;
  // Session id → (cell, member) of every session handed out and not yet
  // replaced. Bound: one entry per roster member (a member holds one
  // session at a time), so at most the engine's roster members.
  std::unordered_map<uint64_t, std::pair<Cell*, uint64_t>> sessions_by_id_;
  size_t roster_members_ = 0;                    // across cells: the bound above
  std::deque<DatagramOutput> datagram_outputs_;  // bound: kMaxPendingDatagramOutputs
  DatagramStats datagram_stats_;
  size_t bound_sessions_ = 0;
};

}  // namespace cellsim::engine

#endif  // CELLSIM_SERVER_ENGINE_ENGINE_H_
