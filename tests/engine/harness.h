// An in-memory host for one meeting Engine, for tests.
//
// The harness plays the part cellmeetd (or the simulator) plays in
// production: it owns the clock, opens connections, turns Envelopes into
// framed bytes and feeds them to the engine, runs the engine's timers at the
// times it asks for, and drains every output. Every frame the engine
// transmits is kept, both as the exact bytes and decoded, per connection and
// in one global log in output order; every kMinutes output is kept too, so a
// test can inspect everything any member ever received.
//
// While draining it checks what holds for any engine and any input, and
// reports a violation with ADD_FAILURE:
//  * every transmitted frame is one well-formed frame (header length equals
//    the payload size) whose payload parses as an Envelope;
//  * nothing is transmitted on a connection after the engine closed it;
//  * a kClose is preceded on that connection by an Error frame with a
//    protocol error code (< 100);
//  * after handle_timeout(now), no timer is due at or before now;
//  * the EngineObserver hooks agree with the outputs: the recipients
//    reported by on_frame_out add up to the frames transmitted, and
//    on_error is called once per Error frame;
//  * datagrams (the `datagram` transport): the harness keeps the endpoints
//    a host would (a session latched on an accepted datagram, forgotten on
//    kUnbind), every relayed datagram goes to a session it holds, and
//    Engine::check_datagram_invariants() holds after every input.
//
// Invariants: `now()` never goes backwards; connection ids are never reused.
// Thread-safety: none; one test thread.
#ifndef CELLSIM_TESTS_ENGINE_HARNESS_H_
#define CELLSIM_TESTS_ENGINE_HARNESS_H_

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <tuple>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cellsim/v1/wire.pb.h"
#include "proto/frame.h"
#include "server/engine/engine.h"
#include "server/engine/settings.h"
#include "server/engine/token.h"

namespace cellsim::engine::testing {

// 2026-01-01T00:00:00Z, so token expiries and minutes times are realistic.
inline constexpr TimeNs kStartNs = 1'767'225'600'000'000'000;
inline constexpr std::string_view kTestKey = "cellsim-engine-test-key-0123456789";
// Member tokens minted by the harness are good for this long after now().
inline constexpr int64_t kTokenLifetimeMs = 24 * 3600 * 1000;

// The name the harness gives a member in rosters it builds.
std::string member_name(uint64_t member_id);

// Builds a roster: member i (0-based) has id first_id + i, standing
// standings[i], name member_name(id); member `chair_index` is the chair.
v1::CellRoster make_roster(uint64_t cell_id, const std::vector<v1::Standing>& standings,
                           size_t chair_index = 0, uint64_t first_id = 1);

// Envelope builders for every client request.
namespace msg {
v1::Envelope hello(uint64_t cell_id, uint64_t member_id, std::string token,
                   std::string resume = {}, uint32_t version_major = wire::kProtocolVersionMajor);
v1::Envelope heartbeat(uint64_t seq);
v1::Envelope join();
v1::Envelope open_meeting(std::string reason, uint64_t minute_taker_id,
                          std::vector<std::string> agenda = {}, bool recorded = false,
                          std::vector<std::string> guests = {});
v1::Envelope excuse(uint64_t member_id, std::string reason);
v1::Envelope advance_agenda();
v1::Envelope open_vote(uint64_t vote_id, v1::VoteKind kind, bool secret = false,
                       std::string subject = "motion");
v1::Envelope close_vote(uint64_t vote_id);
v1::Envelope close_meeting();
v1::Envelope ballot(uint64_t vote_id, v1::Choice choice, uint64_t ballot_id);
v1::Envelope request_floor(std::string topic);
v1::Envelope grant_floor(uint64_t member_id);
v1::Envelope media(uint64_t seq, std::string payload);
}  // namespace msg

// One datagram the engine relayed (DatagramOutput::kSend).
struct SentDatagram {
  uint64_t session_id = 0;
  TimeNs at = 0;
  wire::SharedFrame bytes;  // sealed under the recipient's key, kToMember
};

// One frame as one connection received it.
struct Received {
  ConnId conn = 0;
  TimeNs at = 0;                            // harness time when transmitted
  wire::SharedFrame bytes;                  // header + payload, exactly as sent
  std::shared_ptr<const v1::Envelope> env;  // the payload, decoded
};

class Harness {
 public:
  explicit Harness(EngineSettings settings = EngineSettings{},
                   std::string key = std::string(kTestKey), TimeNs start = kStartNs);
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  Engine& engine() { return engine_; }
  const Engine& engine() const { return engine_; }
  const EngineSettings& settings() const { return engine_.settings(); }
  const std::string& key() const { return key_; }

  // Adds a cell to the engine (a bad roster fails the test).
  void add_cell(const v1::CellRoster& roster);
  const v1::CellRoster& roster(uint64_t cell_id) const;
  const v1::RosterMember& roster_member(uint64_t cell_id, uint64_t member_id) const;
  const Meeting* meeting(uint64_t cell_id) const { return engine_.meeting(cell_id); }

  // A token for the member with the roster's standing and role.
  std::string token_for(uint64_t cell_id, uint64_t member_id) const;
  std::string mint(const v1::TokenClaims& claims) const;

  // ---- Connections and bytes.
  ConnId connect();
  // Feeds raw bytes, then drains the outputs.
  void send_bytes(ConnId conn, std::string_view bytes);
  // Frames `env` and feeds it; gives it a fresh request id when it has none.
  // Returns the request id.
  uint64_t send(ConnId conn, v1::Envelope env);
  // Sends and returns the direct answer (the frame echoing the request id);
  // an empty Envelope, and a test failure, if there is none.
  v1::Envelope request(ConnId conn, v1::Envelope env);
  // The host closes the connection (peer gone).
  void disconnect(ConnId conn);
  // Open as far as the harness knows: connected, not closed by either side.
  bool is_open(ConnId conn) const;
  // The engine emitted kClose for `conn`; `close_error` is the Error before it.
  bool closed_by_engine(ConnId conn) const;
  std::optional<v1::Error> close_error(ConnId conn) const;

  // ---- Members.
  // Sends Hello for (cell, member) on `conn` with a good token, and returns
  // the answer (Welcome or Error). Remembers a Welcome for last_welcome().
  v1::Envelope hello(ConnId conn, uint64_t cell_id, uint64_t member_id,
                     const std::string& resume = {});
  // Connects and says Hello; expects a Welcome.
  ConnId login(uint64_t cell_id, uint64_t member_id, const std::string& resume = {});
  // login() then JoinMeeting; expects a MeetingState.
  ConnId join(uint64_t cell_id, uint64_t member_id);
  // The last Welcome the member received, if any.
  const v1::Welcome* last_welcome(uint64_t cell_id, uint64_t member_id) const;
  // The connection of the member's last Welcome (0 if none); it may have
  // closed since.
  ConnId conn_of(uint64_t cell_id, uint64_t member_id) const;
  // Sends `env` from the member, on conn_of(); returns the request id.
  uint64_t send_as(uint64_t cell_id, uint64_t member_id, v1::Envelope env);
  // Sends a Heartbeat.
  void heartbeat(ConnId conn);

  // ---- Datagrams (the `datagram` media transport).
  // Feeds one datagram as received, then drains. A result with latch set
  // binds its session in endpoints().
  DatagramResult send_datagram(std::string_view bytes);
  // The member's media key from its last Welcome ("" if none or not offered).
  std::string media_key(uint64_t cell_id, uint64_t member_id) const;
  // Seals a datagram as the member's session would (its last Welcome's
  // session id and media key, kToServer, the next seq of that session).
  std::string seal_as(uint64_t cell_id, uint64_t member_id, wire::DatagramKind kind,
                      uint64_t media_seq = 0, int64_t capture_ns = 0,
                      std::string_view payload = {});
  // seal_as() then send_datagram().
  DatagramResult bind(uint64_t cell_id, uint64_t member_id);
  DatagramResult voice(uint64_t cell_id, uint64_t member_id, uint64_t media_seq,
                       int64_t capture_ns, std::string_view payload);
  // Every datagram relayed, in order.
  const std::vector<SentDatagram>& datagrams() const { return datagrams_; }
  // The sessions a host would hold an endpoint for.
  const std::set<uint64_t>& endpoints() const { return endpoints_; }
  // The datagrams relayed to `session_id` at positions >= `since` of
  // datagrams().
  std::vector<SentDatagram> datagrams_to(uint64_t session_id, size_t since = 0) const;

  // ---- Time.
  TimeNs now() const { return now_; }
  int64_t now_ms() const { return now_ / kNsPerMs; }
  // Moves time forward, running every timer due on the way at its own time.
  void advance_to(TimeNs t);
  void advance(TimeNs dt) { advance_to(now_ + dt); }
  void advance_ms(int64_t ms) { advance(ms * kNsPerMs); }
  // Runs the timers due now (advance_to does this on its way).
  void run_timers() { advance_to(now_); }

  // ---- What came out.
  // Every frame, in the order the engine produced them (a broadcast is one
  // entry per recipient). A deque: references stay valid as it grows.
  const std::deque<Received>& log() const { return log_; }
  // A position in log(), to look at what came after.
  size_t mark() const { return log_.size(); }
  // Every frame `conn` received, in order.
  std::vector<const Received*> received(ConnId conn) const;
  // The envelopes `conn` received at log positions >= `since`, optionally of
  // one body only.
  std::vector<v1::Envelope> envelopes(ConnId conn, size_t since = 0,
                                      v1::Envelope::BodyCase body = v1::Envelope::BODY_NOT_SET) const;
  // The last envelope of `body` that `conn` received at or after `since`.
  std::optional<v1::Envelope> last(ConnId conn, v1::Envelope::BodyCase body,
                                   size_t since = 0) const;
  // Every kMinutes output, in order.
  const std::vector<v1::Minutes>& minutes() const { return minutes_; }
  // Every journal record and the latest state of every ballot box the
  // engine emitted, in order (what a host keeping a journal would write).
  const std::vector<v1::JournalRecord>& journal() const { return journal_; }
  using BoxKey = std::tuple<uint64_t, uint64_t, uint64_t>;
  const std::map<BoxKey, v1::BallotBox>& boxes() const { return boxes_; }
  // Frames the engine parsed, as its observer counted them.
  uint64_t observed_frames_in() const { return observer_.frames_in; }
  // Frames transmitted whose payload exceeds settings().max_frame_bytes.
  size_t oversized_frames() const { return oversized_frames_; }

  // Takes every pending output from the engine into the logs. Every harness
  // call that drives the engine does this; call it after driving
  // engine() directly (e.g. engine().shutdown()).
  void drain();

 private:
  // Counts what the engine reports to its observer.
  class CountingObserver : public EngineObserver {
   public:
    void on_frame_in(v1::Envelope::BodyCase) override { ++frames_in; }
    void on_frame_out(v1::Envelope::BodyCase, uint32_t recipients) override {
      frames_out += recipients;
    }
    void on_error(v1::ErrorCode) override { ++errors; }
    uint64_t frames_in = 0, frames_out = 0, errors = 0;
  };

  struct ConnState {
    bool open = true;
    bool closed_by_engine = false;
    std::optional<v1::Error> close_error;
    std::optional<v1::Error> last_error;  // last Error frame transmitted
    std::vector<size_t> frames;           // indices into log_
  };

  std::string key_;
  Engine engine_;
  TimeNs now_;
  ConnId next_conn_ = 1;
  uint64_t next_request_id_ = 1;
  uint64_t next_heartbeat_seq_ = 1;
  std::map<uint64_t, v1::CellRoster> rosters_;
  std::map<ConnId, ConnState> conns_;
  std::map<std::pair<uint64_t, uint64_t>, v1::Welcome> welcomes_;
  std::map<std::pair<uint64_t, uint64_t>, ConnId> member_conns_;
  std::map<uint64_t, uint64_t> datagram_seq_;  // session id → last seq sealed
  std::vector<SentDatagram> datagrams_;
  std::set<uint64_t> endpoints_;
  std::deque<Received> log_;
  std::vector<v1::Minutes> minutes_;
  std::vector<v1::JournalRecord> journal_;
  std::map<BoxKey, v1::BallotBox> boxes_;
  size_t oversized_frames_ = 0;
  CountingObserver observer_;
  uint64_t error_frames_ = 0;
  // Decode cache: a broadcast's recipients share one frame.
  const std::string* last_frame_ = nullptr;
  std::shared_ptr<const v1::Envelope> last_env_;
};

}  // namespace cellsim::engine::testing

#endif  // CELLSIM_TESTS_ENGINE_HARNESS_H_
