#include "scenario/plan.h"

#include <algorithm>
#include <map>
#include <memory>
#include <string>

#include "agents/distribution.h"
#include "scenario/loader.h"

namespace cellsim::scenario {
namespace {

using agents::kNever;
using agents::Rng;
using agents::StreamKind;

TimeNs ms_to_ns(double ms) { return static_cast<TimeNs>(ms * 1e6); }
TimeNs min_to_ns(double min) { return static_cast<TimeNs>(min * 60e9); }

uint64_t members_per_cell(const v1::CellType& ct) {
  const auto& mc = ct.members();
  return uint64_t{mc.official()} + mc.probationary() + mc.exempted() + mc.suspended() +
         mc.attached_elsewhere();
}

void fill_roster(const v1::CellType& ct, CellSetup* cell) {
  cell->roster.set_cell_id(cell->cell_id);
  cell->roster.set_name(ct.name() + " #" + std::to_string(cell->cell_id));
  const auto& mc = ct.members();
  const std::pair<v1::Standing, uint32_t> groups[] = {
      {v1::STANDING_OFFICIAL, mc.official()},
      {v1::STANDING_PROBATIONARY, mc.probationary()},
      {v1::STANDING_EXEMPTED, mc.exempted()},
      {v1::STANDING_SUSPENDED, mc.suspended()},
      {v1::STANDING_ATTACHED_ELSEWHERE, mc.attached_elsewhere()}};
  for (const auto& [standing, n] : groups) {
    for (uint32_t i = 0; i < n; ++i) {
      auto* m = cell->roster.add_members();
      m->set_member_id(cell->roster.members_size());
      m->set_name("member " + std::to_string(m->member_id()));
      m->set_standing(standing);
      m->set_role(m->member_id() == 1 ? v1::ROLE_CHAIR : v1::ROLE_MEMBER);
    }
  }
}

agents::ChairPlan chair_plan(const v1::Scenario& s, const v1::CellType& ct) {
  agents::ChairPlan chair;
  for (const auto& a : s.agendas()) {
    if (a.name() != ct.agenda()) continue;
    for (const auto& item : a.items()) {
      agents::ItemPlan ip;
      ip.title = item.title();
      ip.duration_ns = min_to_ns(item.duration_min());
      for (const auto& v : item.votes()) {
        agents::VotePlan vp;
        vp.vote_id = v.vote_id();
        vp.kind = v.kind();
        vp.secret = v.secret();
        vp.subject = v.subject();
        vp.open_ns = static_cast<TimeNs>(v.open_s() * 1e9);
        vp.yes_probability = v.yes_probability();
        vp.no_probability = v.no_probability();
        ip.votes.push_back(vp);
      }
      chair.agenda.push_back(std::move(ip));
    }
  }
  chair.open_deadline_ns = min_to_ns(s.chair().open_deadline_min());
  chair.wait_for_quorum_ns = min_to_ns(s.chair().wait_for_quorum_min());
  chair.quorum_deadline_ns = min_to_ns(s.quorum_deadline_min());
  return chair;
}

int pick_profile(const v1::CellType& ct, double u) {
  double acc = 0;
  for (int l = 0; l < ct.links_size(); ++l) {
    acc += ct.links(l).share();
    if (u < acc) return l;
  }
  return ct.links_size() - 1;
}

int profile_position(const v1::Scenario& s, const std::string& name) {
  for (int p = 0; p < s.profiles_size(); ++p) {
    if (s.profiles(p).name() == name) return p;
  }
  return 0;
}

void add_mass_outages(const v1::Scenario& s, const v1::CellType& ct, const std::string& profile,
                      TimeNs start_ns, Rng& mrng, MemberSetup* m) {
  for (const auto& ev : s.outage_events()) {
    const bool type_ok = ev.cell_types().empty() ||
                         std::find(ev.cell_types().begin(), ev.cell_types().end(), ct.name()) !=
                             ev.cell_types().end();
    const bool profile_ok = ev.profiles().empty() ||
                            std::find(ev.profiles().begin(), ev.profiles().end(), profile) !=
                                ev.profiles().end();
    const double share = ev.share() > 0 ? ev.share() : 1.0;
    if (type_ok && profile_ok && mrng.bernoulli(share)) {
      const TimeNs from = start_ns + min_to_ns(ev.at_min());
      m->outage_windows.emplace_back(from, from + static_cast<TimeNs>(ev.duration_s() * 1e9));
    }
  }
}

}  // namespace

std::vector<CellSlot> cell_slots(const v1::Scenario& s) {
  std::vector<CellSlot> out;
  uint32_t cell_index = 0;
  uint64_t member_no = 0;
  for (int t = 0; t < s.cell_types_size(); ++t) {
    const uint64_t per_cell = members_per_cell(s.cell_types(t));
    for (uint32_t i = 0; i < s.cell_types(t).count(); ++i, ++cell_index, member_no += per_cell) {
      out.push_back(CellSlot{cell_index, t, member_no});
    }
  }
  return out;
}

namespace {

using VoteMap = std::map<uint64_t, agents::VotePlan>;

// The plan fields every member of the scenario shares: reconnection, quorum
// and media.
void fill_shared_plan(const v1::Scenario& s, agents::MemberPlan* plan) {
  plan->reconnect.initial_backoff_ns = ms_to_ns(s.reconnect().initial_backoff_ms());
  plan->reconnect.max_backoff_ns = ms_to_ns(s.reconnect().max_backoff_ms());
  plan->reconnect.multiplier = s.reconnect().multiplier();
  plan->reconnect.jitter = s.reconnect().jitter();
  const auto q = engine_quorum(s.rules().quorum_fraction());
  plan->quorum_num = q.num;
  plan->quorum_den = q.den;
  if (s.media().bitrate_kbps() > 0 && s.media().frame_ms() > 0) {
    plan->media.frame_ms = s.media().frame_ms();
    plan->media.payload_bytes =
        static_cast<uint32_t>(uint64_t{s.media().bitrate_kbps()} * s.media().frame_ms() / 8);
    plan->media.transport = s.media().transport() == v1::MEDIA_TRANSPORT_DATAGRAM
                                ? agents::MediaTransport::kDatagram
                                : agents::MediaTransport::kInBand;
    plan->media.voice = voice_settings(s.media());
  }
}

// What a member's own random stream decides: its link, whether it attends
// (the chair always does), is excused, when it joins and whether it
// crashes. The draws stay in this order: results depend on it.
struct Attendance {
  int link = 0;
  bool attends = false, excused = false;
  TimeNs join_at_ns = kNever, crash_at_ns = kNever;
};

Attendance draw_attendance(const v1::CellType& ct, const v1::RosterMember& rm,
                           const CellSetup& cell, TimeNs start_ns, Rng& mrng) {
  Attendance a;
  a.link = pick_profile(ct, mrng.uniform());
  const bool may_attend = rm.standing() == v1::STANDING_OFFICIAL ||
                          rm.standing() == v1::STANDING_PROBATIONARY ||
                          rm.standing() == v1::STANDING_EXEMPTED;
  const double p_attend = rm.standing() == v1::STANDING_EXEMPTED ? ct.exempted_attend_probability()
                                                                 : ct.attend_probability();
  const bool chair = rm.role() == v1::ROLE_CHAIR;
  a.attends = may_attend && (chair ? !ct.has_chair_attend_probability() ||
                                         mrng.bernoulli(ct.chair_attend_probability())
                                   : mrng.bernoulli(p_attend));
  a.excused = may_attend && !a.attends && mrng.bernoulli(ct.excused_probability());
  const double join_min = ct.join_earliest_min() +
                          (ct.has_join_offset_min() ? agents::draw(ct.join_offset_min(), mrng) : 0.0);
  const bool crashes = a.attends && mrng.bernoulli(ct.crash_probability());
  const double crash_after_min = mrng.uniform(0, 90);
  a.join_at_ns =
      a.attends ? std::max(start_ns, cell.scheduled_start_ns + min_to_ns(join_min)) : kNever;
  a.crash_at_ns = crashes ? a.join_at_ns + min_to_ns(crash_after_min) : kNever;
  return a;
}

// Roster member `i` of the cell, planned from its own random stream.
MemberSetup plan_member(const v1::Scenario& s, const v1::CellType& ct, const CellSetup& cell,
                        int i, uint64_t member_no, TimeNs start_ns,
                        const std::shared_ptr<const VoteMap>& votes, Attendance* attendance) {
  const v1::RosterMember& rm = cell.roster.members(i);
  MemberSetup m;
  m.member_no = member_no;
  Rng mrng(s.seed(), StreamKind::kMember, m.member_no);
  const Attendance a = draw_attendance(ct, rm, cell, start_ns, mrng);
  m.profile_pos = profile_position(s, ct.links(a.link).profile());
  agents::MemberPlan& plan = m.plan;
  plan.cell_id = cell.cell_id;
  plan.member_id = rm.member_id();
  plan.standing = rm.standing();
  plan.role = rm.role();
  plan.scheduled_start_ns = cell.scheduled_start_ns;
  plan.join_at_ns = a.join_at_ns;
  plan.crash_at_ns = a.crash_at_ns;
  fill_shared_plan(s, &plan);
  plan.votes = votes;
  add_mass_outages(s, ct, ct.links(a.link).profile(), start_ns, mrng, &m);
  *attendance = a;
  return m;
}

// Floor requests: distinct attending members per item, chosen by the cell.
void assign_floor_requests(const v1::Scenario& s, const v1::CellType& ct,
                           const std::vector<uint32_t>& attending, Rng& cell_rng,
                           CellSetup* cell) {
  int item_index = 0;
  for (const auto& a : s.agendas()) {
    if (a.name() != ct.agenda()) continue;
    for (const auto& item : a.items()) {
      std::vector<uint32_t> pool = attending;
      for (uint32_t k = 0; k < item.floor_requests() && !pool.empty(); ++k) {
        const size_t pick = cell_rng.below(pool.size());
        cell->members[pool[pick]].plan.floor_on_items.insert(item_index);
        pool.erase(pool.begin() + static_cast<std::ptrdiff_t>(pick));
      }
      ++item_index;
    }
  }
}

// The chair absent: the first attending official member (roster order)
// chairs in its place, named chair in the roster before the meeting; with
// none, nobody chairs and the meeting is never opened. `attends` is by
// roster position; `attending` (the non-chairs present) loses the deputy.
// Returns the roster position of the member who holds the chair plan.
int designate_chair(const std::vector<bool>& attends, std::vector<uint32_t>* attending,
                    CellSetup* cell) {
  if (attends.empty() || attends[0]) return 0;
  for (size_t i = 1; i < attends.size(); ++i) {
    v1::RosterMember* rm = cell->roster.mutable_members(static_cast<int>(i));
    if (!attends[i] || rm->standing() != v1::STANDING_OFFICIAL) continue;
    cell->roster.mutable_members(0)->set_role(v1::ROLE_MEMBER);
    rm->set_role(v1::ROLE_CHAIR);
    cell->members[0].plan.role = v1::ROLE_MEMBER;
    cell->members[i].plan.role = v1::ROLE_CHAIR;
    attending->erase(std::remove(attending->begin(), attending->end(), static_cast<uint32_t>(i)),
                     attending->end());
    return static_cast<int>(i);
  }
  return 0;
}

}  // namespace

agents::VoiceSettings voice_settings(const v1::MediaSpec& media) {
  agents::VoiceSettings v;
  v.frame_ms = media.frame_ms();
  v.lookahead_ms = media.voice().codec_lookahead_ms();
  v.jitter_buffer_ms = media.voice().jitter_buffer_ms();
  v.ie = media.voice().codec_ie();
  v.bpl = media.voice().codec_bpl();
  return v;
}

CellSetup plan_cell(const v1::Scenario& s, const CellSlot& slot, TimeNs start_ns) {
  const v1::CellType& ct = s.cell_types(slot.cell_type_pos);
  CellSetup cell;
  cell.cell_id = slot.cell_index + 1;
  cell.cell_type_pos = slot.cell_type_pos;
  cell.node = slot.cell_index % std::max<uint32_t>(1, s.server().nodes());
  Rng cell_rng(s.seed(), StreamKind::kCell, cell.cell_id);
  cell.scheduled_start_ns =
      start_ns + min_to_ns(ct.start_offset_min() + cell_rng.uniform(0, ct.start_window_min()));
  fill_roster(ct, &cell);
  agents::ChairPlan chair = chair_plan(s, ct);
  chair.minute_taker_id = cell.roster.members_size() > 1 ? 2 : 1;
  auto votes = std::make_shared<VoteMap>();
  for (const auto& item : chair.agenda) {
    for (const auto& v : item.votes) (*votes)[v.vote_id] = v;
  }
  const std::shared_ptr<const VoteMap> cell_votes = std::move(votes);
  std::vector<uint32_t> attending;  // roster positions, chair excluded
  std::vector<bool> attends;        // by roster position
  for (int i = 0; i < cell.roster.members_size(); ++i) {
    const v1::RosterMember& rm = cell.roster.members(i);
    Attendance a;
    MemberSetup m =
        plan_member(s, ct, cell, i, slot.first_member_no + i, start_ns, cell_votes, &a);
    if (a.excused) chair.excuse.push_back(rm.member_id());
    if (a.attends && rm.role() != v1::ROLE_CHAIR) attending.push_back(static_cast<uint32_t>(i));
    attends.push_back(a.attends);
    cell.members.push_back(std::move(m));
  }
  const int chair_at = designate_chair(attends, &attending, &cell);
  if (chair_at != 0 && chair.minute_taker_id == cell.roster.members(chair_at).member_id()) {
    chair.minute_taker_id =
        attending.empty() ? 1 : cell.roster.members(static_cast<int>(attending[0])).member_id();
  }
  assign_floor_requests(s, ct, attending, cell_rng, &cell);
  cell.members[static_cast<size_t>(chair_at)].plan.chair = std::move(chair);
  return cell;
}

}  // namespace cellsim::scenario
