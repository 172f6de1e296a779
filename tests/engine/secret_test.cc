// Secret ballots (RULES.md, "Votes": a secret ballot's choices are never
// linked to a member in any message, record or metric; the server reports
// only who has voted and the tally).
//
// Two kinds of evidence. First, a structural search: every frame any member
// received, and every minutes record, is walked field by field, and every
// Choice value found anywhere must sit in a PublicBallot of a show-of-hands
// vote. Second, the strongest statement: the same meeting run twice with the
// secret votes' choices permuted among the members (so the tallies are the
// same) produces byte-identical frames on every connection and identical
// minutes: nothing the server emits depends on who chose what.
#include <gtest/gtest.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/engine/meeting_fixture.h"

namespace cellsim::engine::testing {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using v1::CHOICE_ABSTAIN;
using v1::CHOICE_NO;
using v1::CHOICE_YES;

using Choices = std::map<uint64_t, v1::Choice>;

// The meeting: 8 official members (1 chairs) and a probationary member 9.
constexpr uint64_t kProbationary = 9;
constexpr uint64_t kElection = 1, kDiscipline = 2, kExpulsion = 3, kSecretResolution = 4,
                   kShowOfHands = 5;

// The choices cast in each vote of one run.
struct Script {
  std::map<uint64_t, Choices> votes;  // vote id → member → choice
};

const Choices kElectionChoices = {{1, CHOICE_YES}, {2, CHOICE_YES}, {3, CHOICE_NO},
                                  {4, CHOICE_ABSTAIN}, {5, CHOICE_YES}, {6, CHOICE_NO},
                                  {7, CHOICE_YES}, {8, CHOICE_YES}};
const Choices kDisciplineChoices = {{1, CHOICE_NO}, {2, CHOICE_YES}, {3, CHOICE_YES},
                                    {4, CHOICE_NO}, {5, CHOICE_YES}, {6, CHOICE_YES}};
const Choices kExpulsionChoices = {{2, CHOICE_NO}, {3, CHOICE_NO}, {4, CHOICE_YES},
                                   {5, CHOICE_ABSTAIN}, {7, CHOICE_NO}};
const Choices kResolutionChoices = {{1, CHOICE_YES}, {3, CHOICE_NO}, {6, CHOICE_YES},
                                    {8, CHOICE_ABSTAIN}};
const Choices kShowOfHandsChoices = {{1, CHOICE_YES}, {2, CHOICE_NO}, {3, CHOICE_YES},
                                     {4, CHOICE_YES}, {5, CHOICE_ABSTAIN}};

// The same choices handed to the same voters in another order: a rotation by
// `k` positions, so the tally is the same and (for k not a multiple of the
// number of distinct choices' period) many members' choices change.
Choices rotate(const Choices& c, size_t k) {
  std::vector<uint64_t> members;
  std::vector<v1::Choice> choices;
  for (const auto& [m, ch] : c) {
    members.push_back(m);
    choices.push_back(ch);
  }
  std::rotate(choices.begin(), choices.begin() + static_cast<long>(k % choices.size()),
              choices.end());
  Choices out;
  for (size_t i = 0; i < members.size(); ++i) out[members[i]] = choices[i];
  return out;
}

size_t changed(const Choices& a, const Choices& b) {
  size_t n = 0;
  for (const auto& [m, ch] : a) n += b.at(m) != ch;
  return n;
}

Script base_script() {
  Script s;
  s.votes[kElection] = kElectionChoices;
  s.votes[kDiscipline] = kDisciplineChoices;
  s.votes[kExpulsion] = kExpulsionChoices;
  s.votes[kSecretResolution] = kResolutionChoices;
  s.votes[kShowOfHands] = kShowOfHandsChoices;
  return s;
}

// Runs the whole meeting. Along the way: a resent ballot, a probationary
// ballot refused, and a member dropping out and resuming during a secret vote.
std::unique_ptr<Meet> run(const Script& script) {
  std::vector<v1::Standing> s = officials(8);
  s.push_back(v1::STANDING_PROBATIONARY);
  auto m = std::make_unique<Meet>(s);
  m->join_range(1, 9);
  m->ok(kChair, msg::open_meeting("election and discipline", 2, {"election", "discipline"}));
  const struct {
    uint64_t id;
    v1::VoteKind kind;
    bool secret;
  } votes[] = {
      {kElection, v1::VOTE_KIND_ELECTION, false},
      {kDiscipline, v1::VOTE_KIND_DISCIPLINE, false},
      {kExpulsion, v1::VOTE_KIND_EXPULSION, false},
      {kSecretResolution, v1::VOTE_KIND_RESOLUTION, true},
      {kShowOfHands, v1::VOTE_KIND_RESOLUTION, false},
  };
  for (const auto& v : votes) {
    m->h.advance_ms(1000);
    m->ok(kChair, msg::open_vote(v.id, v.kind, v.secret, "item " + std::to_string(v.id)));
    bool first = true;
    for (const auto& [member, choice] : script.votes.at(v.id)) {
      m->h.advance_ms(100);
      const auto ack = m->cast(member, v.id, choice, m->ballot_id(v.id, member));
      EXPECT_TRUE(ack.has_value()) << "vote " << v.id << " member " << member;
      std::string why;
      EXPECT_TRUE(m->h.meeting(kCell)->check_invariants(&why)) << why;
      if (first) {
        // The first voter resends (a duplicate), then drops and resumes.
        first = false;
        m->cast(member, v.id, choice, m->ballot_id(v.id, member));
        const std::string resume = m->h.last_welcome(kCell, member)->resume_token();
        m->drop(member);
        m->login(member, resume);
      }
    }
    v1::Error err;
    EXPECT_FALSE(m->cast(kProbationary, v.id, CHOICE_YES, 99, &err).has_value());
    EXPECT_EQ(err.code(), v1::ERROR_NOT_ELIGIBLE_TO_VOTE);
    m->h.advance_ms(1000);
    m->close(v.id);
  }
  m->ok(kChair, msg::close_meeting());
  return m;
}

// Where a Choice value was found in a server output.
struct ChoiceSite {
  std::string path;            // field path, for messages
  bool in_public_ballot = false;
  const v1::VoteRecord* record = nullptr;  // the enclosing VoteRecord, if any
};

// Walks every set field of `msg`, recording each Choice-typed value and each
// PublicBallot, with the VoteRecord that encloses it.
void find_choices(const Message& msg, const std::string& path, const v1::VoteRecord* record,
                  bool in_public_ballot, std::vector<ChoiceSite>* out) {
  if (msg.GetDescriptor() == v1::VoteRecord::descriptor()) {
    record = static_cast<const v1::VoteRecord*>(&msg);
  }
  if (msg.GetDescriptor() == v1::PublicBallot::descriptor()) {
    in_public_ballot = true;
    out->push_back({path + " (PublicBallot)", true, record});
  }
  std::vector<const FieldDescriptor*> fields;
  msg.GetReflection()->ListFields(msg, &fields);
  const auto* refl = msg.GetReflection();
  for (const FieldDescriptor* f : fields) {
    const std::string p = path + "." + f->name();
    if (f->type() == FieldDescriptor::TYPE_ENUM &&
        f->enum_type() == v1::Choice_descriptor()) {
      out->push_back({p, in_public_ballot, record});
    }
    if (f->type() != FieldDescriptor::TYPE_MESSAGE) continue;
    if (f->is_repeated()) {
      for (int i = 0; i < refl->FieldSize(msg, f); ++i) {
        find_choices(refl->GetRepeatedMessage(msg, f, i), p + "[" + std::to_string(i) + "]",
                     record, in_public_ballot, out);
      }
    } else {
      find_choices(refl->GetMessage(msg, f), p, record, in_public_ballot, out);
    }
  }
}

// Fails for any Choice or PublicBallot not inside a show-of-hands VoteRecord.
void expect_no_secret_choice(const Message& msg, const std::string& where) {
  std::vector<ChoiceSite> sites;
  find_choices(msg, "", nullptr, false, &sites);
  for (const ChoiceSite& s : sites) {
    EXPECT_TRUE(s.in_public_ballot) << where << ": a choice outside a PublicBallot at " << s.path;
    ASSERT_NE(s.record, nullptr) << where << ": a PublicBallot outside a vote record at "
                                 << s.path;
    EXPECT_EQ(s.record->method(), v1::VOTE_METHOD_SHOW_OF_HANDS)
        << where << ": a choice linked to a member in secret vote " << s.record->vote_id()
        << " at " << s.path;
  }
}

std::string json(const v1::Minutes& mn) {
  std::string out;
  google::protobuf::util::JsonPrintOptions opts;
  opts.always_print_primitive_fields = false;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(mn, &out, opts).ok());
  return out;
}

size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = hay.find(needle); pos != std::string::npos; pos = hay.find(needle, pos + 1)) ++n;
  return n;
}

// No frame any member received and no minutes record links a secret vote's choice to a member.
TEST(SecretBallot, NoChoiceLinkedToMember) {
  const auto m = run(base_script());
  ASSERT_EQ(m->h.minutes().size(), 1u);
  size_t frames = 0;
  for (const Received& r : m->h.log()) {
    ++frames;
    expect_no_secret_choice(*r.env, "frame to connection " + std::to_string(r.conn) + " (" +
                                        std::string(wire::body_name(r.env->body_case())) + ")");
  }
  EXPECT_GT(frames, 100u);
  const v1::Minutes& mn = m->h.minutes()[0];
  expect_no_secret_choice(mn, "minutes");

  // Each secret vote reports, per member, only the voters list; and the tally.
  for (uint64_t id : {kElection, kDiscipline, kExpulsion, kSecretResolution}) {
    SCOPED_TRACE("vote " + std::to_string(id));
    const v1::VoteRecord* rec = nullptr;
    for (const auto& v : mn.votes()) {
      if (v.vote_id() == id) rec = &v;
    }
    ASSERT_NE(rec, nullptr);
    EXPECT_EQ(rec->method(), v1::VOTE_METHOD_SECRET_BALLOT);
    EXPECT_EQ(rec->public_ballots_size(), 0);
    std::vector<uint64_t> want_voters;
    uint32_t yes = 0, no = 0, abstain = 0;
    const Script script = base_script();
    for (const auto& [member, c] : script.votes.at(id)) {
      want_voters.push_back(member);
      yes += c == CHOICE_YES;
      no += c == CHOICE_NO;
      abstain += c == CHOICE_ABSTAIN;
    }
    EXPECT_EQ(std::vector<uint64_t>(rec->voters().begin(), rec->voters().end()), want_voters);
    EXPECT_EQ(rec->tally().yes(), yes);
    EXPECT_EQ(rec->tally().no(), no);
    EXPECT_EQ(rec->tally().abstain(), abstain);
    // The VoteClosed every present member received says the same, and no more.
    const auto vc = m->h.envelopes(m->conn(6), 0, v1::Envelope::kVoteClosed);
    bool found = false;
    for (const auto& e : vc) {
      if (e.vote_closed().vote_id() != id) continue;
      found = true;
      EXPECT_EQ(e.vote_closed().voters_size(), static_cast<int>(want_voters.size()));
      EXPECT_EQ(e.vote_closed().tally().SerializeAsString(), rec->tally().SerializeAsString());
    }
    EXPECT_TRUE(found);
    // In the minutes' JSON, the record carries no per-member choice.
    std::string rec_json;
    ASSERT_TRUE(google::protobuf::util::MessageToJsonString(*rec, &rec_json).ok());
    EXPECT_EQ(rec_json.find("publicBallots"), std::string::npos) << rec_json;
    EXPECT_EQ(rec_json.find("CHOICE_"), std::string::npos) << rec_json;
  }
  // The whole minutes JSON names choices only for the show-of-hands vote's ballots.
  const std::string mj = json(mn);
  EXPECT_EQ(count(mj, "CHOICE_"), kShowOfHandsChoices.size()) << mj;
  // The kMinutes record is the minutes every member received.
  const auto mc = m->h.last(m->conn(kChair), v1::Envelope::kMeetingClosed);
  ASSERT_TRUE(mc.has_value());
  EXPECT_EQ(mc->meeting_closed().minutes().SerializeAsString(), mn.SerializeAsString());
}

// Compares two runs frame by frame on every connection, and their minutes.
void expect_identical_runs(const Meet& a, const Meet& b) {
  ASSERT_EQ(a.h.log().size(), b.h.log().size());
  for (size_t i = 0; i < a.h.log().size(); ++i) {
    const Received& x = a.h.log()[i];
    const Received& y = b.h.log()[i];
    ASSERT_EQ(x.conn, y.conn) << "frame " << i;
    ASSERT_EQ(x.at, y.at) << "frame " << i;
    ASSERT_EQ(*x.bytes, *y.bytes) << "frame " << i << " to connection " << x.conn << " ("
                                  << wire::body_name(x.env->body_case()) << ") differs:\n"
                                  << x.env->DebugString() << "\nvs\n"
                                  << y.env->DebugString();
  }
  ASSERT_EQ(a.h.minutes().size(), b.h.minutes().size());
  for (size_t i = 0; i < a.h.minutes().size(); ++i) {
    EXPECT_EQ(a.h.minutes()[i].SerializeAsString(), b.h.minutes()[i].SerializeAsString());
    EXPECT_EQ(json(a.h.minutes()[i]), json(b.h.minutes()[i]));
  }
}

// Permuting who chose what in the secret votes (same tallies) changes not one
// byte of any frame any member receives, nor the minutes: the strongest form
// of unlinkability.
TEST(SecretBallot, FramesIndependentOfWhoChoseWhat) {
  const Script a = base_script();
  const auto run_a = run(a);
  for (size_t k : {1, 2, 7}) {
    SCOPED_TRACE("rotation " + std::to_string(k));
    Script b = a;
    for (uint64_t id : {kElection, kDiscipline, kExpulsion, kSecretResolution}) {
      b.votes[id] = rotate(a.votes.at(id), k);
    }
    // The permutation really does change choices, and keeps the tallies.
    for (uint64_t id : {kElection, kDiscipline, kExpulsion, kSecretResolution}) {
      EXPECT_GE(changed(a.votes.at(id), b.votes.at(id)), 2u) << "vote " << id;
    }
    const auto run_b = run(b);
    expect_identical_runs(*run_a, *run_b);
  }
}

// By contrast, a show-of-hands vote lists each voter's choice, and permuting
// the choices changes what members receive: the comparison above can see a link.
TEST(SecretBallot, ShowOfHandsListsPublicBallots) {
  const Script a = base_script();
  const auto run_a = run(a);
  const v1::Minutes& mn = run_a->h.minutes()[0];
  const v1::VoteRecord* rec = nullptr;
  for (const auto& v : mn.votes()) {
    if (v.vote_id() == kShowOfHands) rec = &v;
  }
  ASSERT_NE(rec, nullptr);
  EXPECT_EQ(rec->method(), v1::VOTE_METHOD_SHOW_OF_HANDS);
  Choices listed;
  for (const auto& pb : rec->public_ballots()) listed[pb.member_id()] = pb.choice();
  EXPECT_EQ(listed, kShowOfHandsChoices);

  Script b = a;
  b.votes[kShowOfHands] = rotate(a.votes.at(kShowOfHands), 1);
  ASSERT_GE(changed(a.votes.at(kShowOfHands), b.votes.at(kShowOfHands)), 2u);
  const auto run_b = run(b);
  ASSERT_EQ(run_a->h.log().size(), run_b->h.log().size());
  size_t differing = 0;
  for (size_t i = 0; i < run_a->h.log().size(); ++i) {
    if (*run_a->h.log()[i].bytes != *run_b->h.log()[i].bytes) {
      ++differing;
      EXPECT_TRUE(run_a->h.log()[i].env->has_meeting_closed())
          << "only the minutes may carry public ballots";
    }
  }
  EXPECT_GT(differing, 0u);
  EXPECT_NE(run_a->h.minutes()[0].SerializeAsString(), run_b->h.minutes()[0].SerializeAsString());
}

}  // namespace
}  // namespace cellsim::engine::testing
