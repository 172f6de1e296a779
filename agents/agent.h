// A member of a cell, and optionally its chair, as a sans-IO state machine
// shared by the simulator (sim/) and the live driver (live/).
//
// Inputs: handle_timeout(now), handle_connected(now), handle_bytes(now,
// bytes), handle_disconnected(now). Outputs, polled: poll_output() (ask for a
// connection, send a frame, close) and poll_timeout(). Time is nanoseconds on
// the host's clock (virtual or steady), randomness comes from the Rng the
// host gives it; no sockets, clocks or threads here.
//
// A member: connects at its planned join time (or never), says Hello with its
// token, joins the meeting, heartbeats, asks for the floor on its planned
// agenda items, votes with its plan's probabilities after a think time,
// resends an unacknowledged ballot after a reconnect, and reconnects with
// exponential backoff and jitter when its connection breaks (resuming its
// session). A chair also: excuses the planned absentees, opens the meeting
// when quorate or at its deadline, runs the agenda on the plan's timeline,
// grants the floor, opens and closes votes (waiting a while for quorum), and
// closes the meeting.
//
// Every latency is measured from the *intended* time of the action (open
// model): a late send does not hide a stall.
//
// Thread-safety: none; one agent is driven by one thread.
#ifndef CELLSIM_AGENTS_AGENT_H_
#define CELLSIM_AGENTS_AGENT_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "agents/rng.h"
#include "agents/voice.h"
#include "cellsim/v1/wire.pb.h"
#include "proto/datagram.h"
#include "proto/frame.h"

namespace cellsim::agents {

namespace v1 = ::cellsim::v1;
using TimeNs = int64_t;

inline constexpr TimeNs kNsPerMs = 1'000'000;
inline constexpr TimeNs kNsPerS = 1'000'000'000;
inline constexpr TimeNs kNever = INT64_MAX;

// What agents measure; the host maps these to metric names.
enum class Measure : uint8_t {
  kJoin,           // decided to join → MeetingState
  kHeartbeatRtt,   // Heartbeat sent → HeartbeatAck
  kBroadcast,      // chair's action sent → this member receives the push
  kBallot,         // CastBallot intended → BallotAck
  kResult,         // CloseVote sent → VoteClosed received
  kTimeToQuorum,   // scheduled start → first quorate (chair)
};

struct VotePlan {
  uint64_t vote_id = 0;
  v1::VoteKind kind = v1::VOTE_KIND_RESOLUTION;
  bool secret = false;
  std::string subject;
  TimeNs open_ns = 60 * kNsPerS;  // how long the chair keeps it open
  double yes_probability = 0.8;
  double no_probability = 0.1;
};

struct ItemPlan {
  std::string title;
  TimeNs duration_ns = 0;
  std::vector<VotePlan> votes;
};

// What the chair does and when (relative to the scheduled start).
struct ChairPlan {
  std::vector<ItemPlan> agenda;
  std::vector<uint64_t> excuse;           // absentees excused before opening
  TimeNs open_deadline_ns = 15 * 60 * kNsPerS;
  TimeNs wait_for_quorum_ns = 5 * 60 * kNsPerS;
  TimeNs quorum_deadline_ns = 15 * 60 * kNsPerS;  // for quorum attainment
  TimeNs grant_delay_ns = 5 * kNsPerS;    // from a floor request to the grant
  uint64_t minute_taker_id = 0;
};

struct ReconnectPlan {
  TimeNs initial_backoff_ns = 500 * kNsPerMs;
  TimeNs max_backoff_ns = 30 * kNsPerS;
  double multiplier = 2.0;
  double jitter = 0.5;  // backoff × uniform(1 − j/2, 1 + j/2)
  // A connection not welcomed within this long (connect + Hello → Welcome)
  // is given up and retried with backoff.
  TimeNs handshake_timeout_ns = 30 * kNsPerS;
};

// Media (DESIGN.md "Protocol", "Simulator"): a member given the floor speaks
// for a while, sending one MediaFrame of `payload_bytes` every `frame_ms`
// (live), or, as the simulator's fluid model, only reports the bytes it
// would have sent and their recipients when it stops (send_frames false).
// It stops when its time is up, the floor goes to someone else, the agenda
// moves on, a vote opens, the meeting closes or its connection breaks.
//
// Transport (scenario.proto's MediaTransport): kInBand sends MediaFrames on
// the session; kDatagram seals each frame as a voice datagram with the
// session's media key (proto/datagram.h) for the host to send to the
// server's media port (poll_datagram()), and sends a bind datagram after
// each Welcome, again when it joins the meeting on that session, and with
// every heartbeat, so the server learns (and keeps) where to relay. Either way a
// listener meters each speaker's interval (voice.h) and reports it
// (AgentObserver::on_speech) — in the fluid model the host does instead.
enum class MediaTransport : uint8_t { kInBand, kDatagram };

struct MediaPlan {
  uint32_t frame_ms = 0;                   // 0: no media
  uint32_t payload_bytes = 0;              // bitrate × frame_ms / 8
  bool send_frames = false;
  MediaTransport transport = MediaTransport::kInBand;
  VoiceSettings voice;
  TimeNs speak_min_ns = 20 * kNsPerS;      // speaking time, uniform
  TimeNs speak_max_ns = 90 * kNsPerS;
};

struct MemberPlan {
  uint64_t host_tag = 0;                   // opaque to the agent: the host's index
  uint64_t cell_id = 0;
  uint64_t member_id = 0;
  v1::Standing standing = v1::STANDING_OFFICIAL;
  v1::Role role = v1::ROLE_MEMBER;
  std::string token;                       // minted by the host
  TimeNs scheduled_start_ns = 0;           // the meeting's scheduled start
  TimeNs join_at_ns = kNever;              // kNever: does not attend
  TimeNs crash_at_ns = kNever;             // the app crashes once then, if joined
  std::set<int32_t> floor_on_items;        // agenda indices where it asks for the floor
  TimeNs think_min_ns = 2 * kNsPerS;       // ballot think time, uniform
  TimeNs think_max_ns = 20 * kNsPerS;
  // Choice probabilities by vote id; shared by a cell's members.
  std::shared_ptr<const std::map<uint64_t, VotePlan>> votes;
  ReconnectPlan reconnect;
  uint32_t quorum_num = 2;                 // the quorum fraction, for the member's own check
  uint32_t quorum_den = 3;
  MediaPlan media;
  std::optional<ChairPlan> chair;          // set for the chair
};

// One speaker's speech interval as the agents of its cell share it (live
// only: send_frames). The speaker writes it when it starts speaking and with
// every frame it sends, and closes it when it stops; its listeners read it to
// know the interval's first media_seq (a frame's index in the interval is
// its media_seq less that) and, once it ended, how many frames it had.
struct SpeechInterval {
  uint64_t number = 0;           // 1, 2, ... in the cell, in the order they began
  uint64_t speaker_id = 0;
  uint64_t first_media_seq = 0;  // media_seq of the interval's first frame
  uint64_t frames_sent = 0;      // so far; final once ended
  TimeNs start_ns = 0;           // when it began (the first frame's capture)
  TimeNs last_capture_ns = 0;    // the latest frame's capture (start_ns before any)
  TimeNs end_ns = kNever;        // when the speaker stopped; kNever while it speaks
  bool ended() const { return end_ns != kNever; }
};

// Speech intervals a cell board keeps: the newest; older ones are forgotten
// (their listeners finish them from what they copied).
inline constexpr size_t kMaxBoardSpeechIntervals = 32;

// Shared by the agents of one cell (owned by the host): when the chair sent
// each action, so members can measure broadcast and result latency, which
// ballots members saw acknowledged, for tally integrity, and (live) the
// cell's speech intervals, for the listeners' voice meters.
struct CellBoard {
  std::map<uint64_t, TimeNs> action_sent_ns;  // key: action_key(kind, id)
  std::map<uint64_t, uint64_t> acked_by_vote; // vote id → members whose ballot was acknowledged
  std::map<uint64_t, uint64_t> cast_by_vote;  // vote id → members who sent a ballot
  // Newest last, ascending numbers; at most kMaxBoardSpeechIntervals.
  std::deque<SpeechInterval> speech;
  uint64_t speech_intervals = 0;  // numbers given so far (the newest's)
  static uint64_t action_key(v1::Envelope::BodyCase push, uint64_t id) {
    return (static_cast<uint64_t>(push) << 48) ^ id;
  }
  // A new interval of `speaker` from media_seq `first_media_seq`, begun at
  // `now` (the oldest is forgotten beyond the bound). Returns its number.
  uint64_t begin_speech(uint64_t speaker, uint64_t first_media_seq, TimeNs now);
  // Interval `number`, or null when forgotten (or never given).
  SpeechInterval* find_speech(uint64_t number);
};

// Datagrams sealed and not yet polled (poll_datagram()); beyond it the
// oldest is dropped and counted (DatagramCounts::dropped_queue). A host polls
// after every input, and an input seals at most a couple.
inline constexpr size_t kMaxPendingDatagrams = 1024;
// Speech intervals a listener meters at once; beyond it the oldest is
// reported early, as far as it went (a cell has one floor holder, so more
// than two open at once is rare).
inline constexpr size_t kMaxOpenHearings = 8;

// What an agent did with voice datagrams (the `datagram` transport), for the
// host to count and log. Invariant: received = accepted + dropped().
struct DatagramCounts {
  uint64_t sent = 0;              // sealed for poll_datagram(): binds and voice
  uint64_t binds_sent = 0;        // of which binds
  uint64_t received = 0;          // handed to handle_datagram()
  uint64_t accepted = 0;          // authenticated, fresh voice, metered
  uint64_t dropped_bad = 0;       // malformed, bad tag, not voice, or no key to open it with
  uint64_t dropped_stale = 0;     // sealed for another session than the current one
  uint64_t dropped_replayed = 0;  // a seq seen already or older than the replay window
  uint64_t dropped_queue = 0;     // sealed but dropped at kMaxPendingDatagrams (not in received)
  // Welcomes that offered no media port (or key) while the plan asked for
  // datagrams: voice went in-band on those sessions.
  uint64_t fallbacks = 0;
  uint64_t dropped() const { return dropped_bad + dropped_stale + dropped_replayed; }
};

// Points kept in a meeting's attendance trace; later changes are dropped.
inline constexpr size_t kMaxAttendancePoints = 256;

// One quorum status the chair saw (a MeetingState or QuorumChanged).
struct AttendancePoint {
  TimeNs since_start_ns = 0;  // since the scheduled start
  uint32_t present = 0;       // present members counting in D
  uint32_t required = 0;
  uint32_t denominator = 0;
};

// What the chair reports when its meeting closes (or the run ends).
struct MeetingReport {
  uint64_t cell_id = 0;
  bool opened = false;
  bool closed = false;
  bool ever_quorate = false;
  bool quorate_by_deadline = false;  // as the chair saw it: it heard quorum by the deadline
  // The engine's own state: quorate by the deadline by the first quorate
  // time the engine wrote in the minutes (its clock is the host's: virtual
  // time in the simulator, the system clock in live mode). Known only when
  // the chair received the minutes (the meeting closed with the chair there).
  bool engine_view_known = false;
  bool engine_quorate_by_deadline = false;
  TimeNs meeting_ns = 0;        // from opening (or the scheduled start) to close
  TimeNs quorate_ns = 0;        // of which quorate, as the chair saw it
  uint32_t quorum_losses = 0;
  uint32_t votes_held = 0;
  uint32_t votes_valid = 0;
  uint32_t votes_passed = 0;
  uint64_t ballots_counted = 0; // sum of tallies
  std::map<uint64_t, uint64_t> tally_by_vote;
  bool minutes_complete = false;
  // Attendance over time as the chair saw it: a point per change, at most
  // kMaxAttendancePoints (then `attendance_truncated`).
  std::vector<AttendancePoint> attendance;
  bool attendance_truncated = false;
  TimeNs closed_since_start_ns = 0;  // 0: not closed
};

// Hooks to the host's metrics and invariant checks.
class AgentObserver {
 public:
  virtual ~AgentObserver() = default;
  virtual void on_measure(const MemberPlan& who, Measure m, TimeNs value_ns) = 0;
  // `count` samples of `m` that will never complete (a heartbeat or ballot
  // never acknowledged, a join that never happened, a quorum never reached
  // by the run's end): counted beside the histogram, not dropped.
  virtual void on_censored(const MemberPlan& who, Measure m, uint64_t count) {
    (void)who, (void)m, (void)count;
  }
  virtual void on_traffic(const MemberPlan& who, bool sent, size_t bytes) = 0;
  // kSpeaking: detail 1 when the member starts speaking (holds the floor
  // with media), 0 when it stops.
  enum class Event {
    kConnected, kDisconnected, kReconnecting, kJoined, kRefused, kBallotAcked, kSpeaking
  };
  virtual void on_event(const MemberPlan& who, Event e, int64_t detail) = 0;
  virtual void on_meeting_report(const MeetingReport& report) = 0;
  // Media payload: sent by this member (`sent`), or received — in the fluid
  // model the speaker reports the payload times its recipients. `frames` is
  // the number of MediaFrames (0 in the fluid model).
  virtual void on_media(const MemberPlan& who, bool sent, uint64_t payload_bytes, uint64_t frames) {
    (void)who, (void)sent, (void)payload_bytes, (void)frames;
  }
  // One speaker's speech interval as this member (`listener`) heard it.
  virtual void on_speech(const MemberPlan& listener, uint64_t speaker_id,
                         const SpeechResult& result) {
    (void)listener, (void)speaker_id, (void)result;
  }
  // The minutes this member received with MeetingClosed (the host checks
  // that they link no secret choice to a member).
  virtual void on_minutes(const MemberPlan& who, const v1::Minutes& minutes) {
    (void)who, (void)minutes;
  }
  // An invariant seen broken from this agent's side.
  virtual void on_violation(const MemberPlan& who, const std::string& what) = 0;
};

struct AgentOutput {
  enum class Kind { kConnect, kTransmit, kClose };
  Kind kind = Kind::kTransmit;
  wire::SharedFrame frame;  // kTransmit
};

class Agent {
 public:
  // REQUIRES: board and observer outlive the agent.
  Agent(MemberPlan plan, Rng rng, CellBoard* board, AgentObserver* observer);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Must be called once, before anything else, at the run's start.
  void start(TimeNs now);

  void handle_timeout(TimeNs now);
  // The transport connected (the handshake round trip has passed).
  void handle_connected(TimeNs now);
  void handle_bytes(TimeNs now, std::string_view bytes);
  // The connection broke, or a connect attempt failed.
  void handle_disconnected(TimeNs now);

  std::optional<TimeNs> poll_timeout() const;
  bool poll_output(AgentOutput* out);

  // Voice datagrams (MediaPlan::transport kDatagram, live): one UDP datagram
  // received from the server's media port. Opened with this session's media
  // key (kToMember); a bad, stale or replayed one is dropped and counted
  // (datagram_counts()); a good one is metered.
  void handle_datagram(TimeNs now, std::string_view bytes);
  // The next datagram to send to the server's media port (media_port(), on
  // the server's address); false when there is none. Polled after every
  // input, as poll_output().
  bool poll_datagram(std::string* bytes);

  // Ends the run: a chair that has not closed its meeting reports it as is;
  // a listener reports the intervals it was metering (as far as they went).
  void finish(TimeNs now);

  const MemberPlan& plan() const { return plan_; }
  // The agent's state in one line, for diagnosing a failed run.
  std::string debug_state(TimeNs now) const;
  bool connected() const { return conn_ != ConnState::kDown; }
  bool joined() const { return joined_; }
  bool done() const { return done_; }

  // The media transport as the last Welcome set it up: the session, its key
  // and the server's media port (0: not offered); whether voice goes as
  // datagrams on this session, or fell back to in-band because the server
  // offered none (datagram_counts().fallbacks counts those Welcomes).
  uint64_t session_id() const { return session_id_; }
  const std::string& media_key() const { return media_key_; }
  uint32_t media_port() const { return media_port_; }
  bool datagram_active() const { return datagram_on_; }
  bool datagram_fallback() const { return datagram_fallback_; }
  const DatagramCounts& datagram_counts() const { return dgram_counts_; }
  // Speech intervals this member reported hearing (on_speech), so far.
  uint64_t speech_reported() const { return speech_reported_; }

 private:
  enum class ConnState { kDown, kConnecting, kHandshaking, kReady };
  class Chair;

  void connect(TimeNs now);
  void send(TimeNs now, const v1::Envelope& env);
  void on_frame(TimeNs now, const v1::Envelope& env);
  void on_welcome(TimeNs now, const v1::Welcome& w);
  void on_heartbeat_ack(TimeNs now, const v1::HeartbeatAck& ack);
  void on_agenda_advanced(TimeNs now, const v1::AgendaAdvanced& a);
  void on_ballot_ack(TimeNs now, const v1::BallotAck& ack);
  void on_floor_granted(TimeNs now, const v1::FloorGranted& g);
  void on_meeting_closed(TimeNs now, const v1::MeetingClosed& c);
  void on_error(const v1::Error& e);
  void censor_heartbeats();
  void censor_ballot();
  void censor_pushes();
  void on_meeting_state(TimeNs now, const v1::MeetingState& s, bool direct);
  void on_vote_opened(TimeNs now, const v1::VoteOpened& v, bool measure = true);
  void on_vote_closed(TimeNs now, const v1::VoteClosed& v);
  void on_quorum(TimeNs now, const v1::QuorumStatus& q);
  void on_attendance(const v1::AttendanceChanged& a);
  void measure_push(TimeNs now, v1::Envelope::BodyCase push, uint64_t id);
  void cast_ballot(TimeNs now);
  void schedule_reconnect(TimeNs now);
  void lose_connection(TimeNs now);
  void check_quorum_view(const v1::QuorumStatus& q);
  void start_speaking(TimeNs now);
  void stop_speaking(TimeNs now);
  void send_media(TimeNs now);
  uint32_t present_others() const;
  // Datagram transport and voice metering (live only: send_frames).
  void setup_datagrams(TimeNs now, const v1::Welcome& w);
  void queue_datagram(const wire::DatagramHeader& h, std::string_view payload);
  void queue_bind();
  struct Hearing;
  void sync_speech(TimeNs now);
  void hear(TimeNs now, uint64_t speaker_id, uint64_t media_seq, TimeNs capture_ns);
  void report_hearing(TimeNs now, Hearing& h, bool early);
  void finish_hearings(TimeNs now);
  bool metering() const { return plan_.media.send_frames && plan_.media.frame_ms != 0; }

  MemberPlan plan_;
  Rng rng_;
  CellBoard* board_;
  AgentObserver* obs_;
  std::deque<AgentOutput> out_;
  wire::FrameDecoder decoder_;

  ConnState conn_ = ConnState::kDown;
  bool joined_ = false;       // MeetingState received on the current connection
  bool ever_joined_ = false;
  // This session's join (kNever when not joined) and the chair's actions
  // whose push it received since: those sent after the join and not received
  // when the session ends early are censored. Bounded by the cell board's
  // actions (one per agenda item, vote, grant and the open and close).
  TimeNs joined_since_ns_ = kNever;
  std::set<uint64_t> pushes_received_;
  bool done_ = false;         // the meeting closed (or the member gave up)
  bool started_ = false;      // start() was called
  std::string resume_;
  uint32_t heartbeat_interval_ms_ = 10'000;
  uint64_t heartbeat_seq_ = 0;
  std::map<uint64_t, TimeNs> heartbeat_sent_ns_;  // bounded by kMaxHeartbeatsInFlight
  uint32_t attempts_ = 0;

  TimeNs join_timer_ns_ = kNever;
  TimeNs heartbeat_timer_ns_ = kNever;
  TimeNs reconnect_timer_ns_ = kNever;
  TimeNs crash_timer_ns_ = kNever;
  TimeNs floor_timer_ns_ = kNever;
  TimeNs handshake_timer_ns_ = kNever;
  // Media: speaking until speak_until_ns_ (kNever: silent); the next frame
  // at media_timer_ns_ (frames mode).
  TimeNs speak_until_ns_ = kNever;
  TimeNs speak_since_ns_ = 0;
  TimeNs media_timer_ns_ = kNever;
  uint64_t media_seq_ = 0;
  uint64_t speech_number_ = 0;  // the board's interval this member speaks in (0: none)

  // The datagram transport (live): the current session's id, media key and
  // the server's media port from Welcome; the seq of the last datagram
  // sealed (per agent, increasing across sessions: a resumed session keeps
  // the server's replay window); the replay window of what the server
  // sends (reset with a new session); datagrams waiting for poll_datagram()
  // (at most kMaxPendingDatagrams).
  uint64_t session_id_ = 0;
  std::string media_key_;
  uint32_t media_port_ = 0;
  bool datagram_on_ = false;
  bool datagram_fallback_ = false;
  uint64_t datagram_seq_ = 0;
  wire::ReplayWindow rx_replay_;
  std::vector<std::string> dgram_out_;  // from dgram_head_ on (a vector: no memory while unused)
  size_t dgram_head_ = 0;
  DatagramCounts dgram_counts_;

  // Voice metering (live): one Hearing per speaker interval this member was
  // present for when it began (joined since before its start), at most
  // kMaxOpenHearings; the newest board interval looked at; when to look
  // at the board again (kNever: nothing open).
  struct Hearing {
    Hearing(const SpeechInterval& iv, const VoiceSettings& v)
        : number(iv.number), speaker_id(iv.speaker_id), first_media_seq(iv.first_media_seq),
          interval(iv), meter(v) {}
    uint64_t number;
    uint64_t speaker_id;
    uint64_t first_media_seq;
    SpeechInterval interval;  // the board's record as last seen
    SpeechMeter meter;
    bool have_offset = false;
    TimeNs playout_offset_ns = 0;  // the meter's: first frame's delay + jitter buffer
    uint64_t fed_end = 0;          // highest index fed + 1
  };
  std::vector<Hearing> hearings_;
  uint64_t speech_seen_ = 0;
  TimeNs speech_timer_ns_ = kNever;
  uint64_t speech_reported_ = 0;

  // The ballot in hand: vote, choice, intended time, whether acknowledged.
  struct Ballot {
    uint64_t vote_id = 0;
    v1::Choice choice = v1::CHOICE_UNSPECIFIED;
    TimeNs intended_ns = kNever;
    bool sent = false;
    bool acked = false;
  };
  Ballot ballot_;
  uint64_t open_vote_id_ = 0;

  // The member's own view of attendance, from MeetingState and pushes, and
  // the quorum it recomputes from it (independently of the engine).
  struct Seen {
    v1::Standing standing = v1::STANDING_UNSPECIFIED;
    bool present = false;
    bool excused = false;
    bool attended = false;
  };
  std::vector<std::pair<uint64_t, Seen>> seen_;  // by member id, ascending
  Seen* find_seen(uint64_t member_id);

  std::unique_ptr<Chair> chair_;
};

// RULES.md's quorum, recomputed from a member's view, independently of the
// engine's code: D = official members not excused-and-never-present, plus
// exempted members present; quorate when present-in-D >= ceil(num/den × D).
struct ViewQuorum {
  uint32_t d = 0;
  uint32_t present_in_d = 0;
  uint32_t required = 0;
  bool quorate = false;
};

}  // namespace cellsim::agents

#endif  // CELLSIM_AGENTS_AGENT_H_
