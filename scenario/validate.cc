#include "scenario/validate.h"

#include <google/protobuf/message.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <string_view>

#include "proto/assert.h"
#include "proto/datagram.h"

namespace cellsim::scenario {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::DynamicCastToGenerated;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using ParseInfoTree = google::protobuf::TextFormat::ParseInfoTree;

constexpr double kShareSumTolerance = 1e-6;
constexpr uint32_t kMinOfficialMembers = 3;  // RULES.md, "Members and their standing"
constexpr size_t kMaxNamesListed = 12;

// The latency metrics an Slo may name (DESIGN.md, "Metrics").
constexpr std::string_view kSloMetrics[] = {"join_latency",      "heartbeat_rtt",
                                            "broadcast_latency", "ballot_latency",
                                            "result_latency",    "time_to_quorum"};

// ---------------------------------------------------------------------------
// Formatting.

std::string num(double v) {
  char buf[64];
  const auto result = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, result.ptr);
}

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

// "; did you mean "x"?" for a near miss, else the names that exist.
std::string suggest(std::string_view wrong, const std::vector<std::string>& names) {
  if (names.empty()) return "; none is defined";
  const auto best = std::min_element(names.begin(), names.end(), [&](const auto& a, const auto& b) {
    return edit_distance(wrong, a) < edit_distance(wrong, b);
  });
  if (edit_distance(wrong, *best) <= std::max<size_t>(2, wrong.size() / 3)) {
    return "; did you mean " + quoted(*best) + "?";
  }
  std::string out = "; defined: ";
  for (size_t i = 0; i < names.size() && i < kMaxNamesListed; ++i) {
    out += (i == 0 ? "" : ", ") + quoted(names[i]);
  }
  if (names.size() > kMaxNamesListed) out += ", ...";
  return out;
}

// ---------------------------------------------------------------------------
// Where things are, and reporting.

// A message in the scenario: its dotted path, where it starts (line 0 when
// unknown) and its parse tree (null when unknown).
struct Node {
  const Message* msg = nullptr;
  std::string path;
  TextPos pos;
  const ParseInfoTree* tree = nullptr;
};

class Checker {
 public:
  Checker(const SourceMap& source, std::vector<LoadError>* errors)
      : source_(source), errors_(errors) {}

  Node root(const Message& m) const {
    return {&m, "", source_.layout != nullptr ? TextPos{1, 1} : TextPos{}, source_.tree};
  }

  const FieldDescriptor* field(const Node& n, std::string_view name) const {
    const FieldDescriptor* f = n.msg->GetDescriptor()->FindFieldByName(std::string(name));
    CELLSIM_ASSERT(f != nullptr && "a field scenario.proto does not have");
    return f;
  }

  // The element `index` of repeated field `name` (index >= 0), or the
  // singular message field `name` (index -1).
  Node child(const Node& n, std::string_view name, int index = -1) const {
    const FieldDescriptor* f = field(n, name);
    const Reflection* r = n.msg->GetReflection();
    const Message& m = index >= 0 ? r->GetRepeatedMessage(*n.msg, f, index)
                                  : r->GetMessage(*n.msg, f);
    const ParseInfoTree* tree = n.tree != nullptr ? n.tree->GetTreeForNested(f, index) : nullptr;
    return {&m, join_path(n.path, name, index), pos_of(n, f, index), tree};
  }

  // Where field `f` of `n` (its element `index`; the first element for a
  // whole repeated field) was written; line 0 if it was not.
  TextPos find(const Node& n, const FieldDescriptor* f, int index) const {
    const int element = f->is_repeated() ? std::max(index, 0) : -1;
    if (n.tree != nullptr && tree_is_reliable(n, f)) {
      const auto loc = n.tree->GetLocation(f, element);
      if (loc.line >= 0) return to_user(loc.line, loc.column);
    }
    if (source_.layout != nullptr) {
      const TextPos p = source_.layout->find(join_path(n.path, f->name(), element));
      if (p.line > 0) return p;
    }
    return {};
  }

  TextPos pos_of(const Node& n, const FieldDescriptor* f, int index) const {
    const TextPos p = find(n, f, index);
    return p.line > 0 ? p : n.pos;
  }

  bool written(const Node& n, const FieldDescriptor* f, int index) const {
    return find(n, f, index).line > 0;
  }

  // An error about the message `n` itself.
  void fail_here(const Node& n, std::string message) {
    errors_->push_back({source_.file, n.pos.line, n.pos.column, n.path, std::move(message)});
  }

  // An error about field `name` of `n` (element `index`, or -1).
  void fail(const Node& n, std::string_view name, int index, std::string message) {
    const TextPos p = pos_of(n, field(n, name), index);
    errors_->push_back(
        {source_.file, p.line, p.column, join_path(n.path, name, index), std::move(message)});
  }

 private:
  // The tree records one position per field occurrence; list syntax puts
  // several elements in one occurrence, and then its indexes are not the
  // elements'. Aligned iff the last element has a position.
  bool tree_is_reliable(const Node& n, const FieldDescriptor* f) const {
    if (!f->is_repeated()) return true;
    const int size = n.msg->GetReflection()->FieldSize(*n.msg, f);
    return size == 0 || n.tree->GetLocation(f, size - 1).line >= 0;
  }

  TextPos to_user(int line0, int column0) const {
    if (source_.layout != nullptr) return source_.layout->to_user(line0, column0);
    return {line0 + 1, column0 + 1};
  }

  const SourceMap& source_;
  std::vector<LoadError>* errors_;
};

// ---------------------------------------------------------------------------
// Per-field rules, wherever the message occurs.

enum class Rule { kProbability, kNonNegative, kPositive, kUnitInterval, kAtLeastOne };

struct FieldRule {
  std::string_view message;
  std::string_view field;
  Rule rule;
};

constexpr FieldRule kFieldRules[] = {
    {"Constant", "value", Rule::kNonNegative},
    {"Uniform", "min", Rule::kNonNegative},
    {"Uniform", "max", Rule::kNonNegative},
    {"Normal", "mean", Rule::kNonNegative},
    {"Normal", "stddev", Rule::kNonNegative},
    {"LogNormal", "median", Rule::kPositive},
    {"LogNormal", "sigma", Rule::kNonNegative},
    {"Exponential", "mean", Rule::kPositive},
    {"Pareto", "scale", Rule::kPositive},
    {"Pareto", "shape", Rule::kPositive},
    {"EmpiricalPoint", "quantile", Rule::kProbability},
    {"EmpiricalPoint", "value", Rule::kNonNegative},
    {"GilbertElliott", "p_good_to_bad", Rule::kProbability},
    {"GilbertElliott", "p_bad_to_good", Rule::kProbability},
    {"GilbertElliott", "loss_good", Rule::kProbability},
    {"GilbertElliott", "loss_bad", Rule::kProbability},
    {"OutageProcess", "mean_up_s", Rule::kNonNegative},
    {"NetworkProfile", "base_one_way_ms", Rule::kNonNegative},
    {"NetworkProfile", "bandwidth_down_kbps", Rule::kPositive},
    {"NetworkProfile", "bandwidth_up_kbps", Rule::kPositive},
    {"NetworkProfile", "rto_min_ms", Rule::kNonNegative},
    {"VoteSpec", "vote_id", Rule::kPositive},
    {"VoteSpec", "open_s", Rule::kPositive},
    {"VoteSpec", "yes_probability", Rule::kProbability},
    {"VoteSpec", "no_probability", Rule::kProbability},
    {"AgendaItem", "duration_min", Rule::kNonNegative},
    {"ProfileShare", "share", Rule::kProbability},
    {"CellType", "count", Rule::kPositive},
    {"CellType", "attend_probability", Rule::kProbability},
    {"CellType", "exempted_attend_probability", Rule::kProbability},
    {"CellType", "excused_probability", Rule::kProbability},
    {"CellType", "start_window_min", Rule::kNonNegative},
    {"CellType", "start_offset_min", Rule::kNonNegative},
    {"CellType", "crash_probability", Rule::kProbability},
    {"CellType", "chair_attend_probability", Rule::kProbability},
    {"ServerSpec", "nodes", Rule::kPositive},
    {"ServerSpec", "cores_per_node", Rule::kPositive},
    {"ServerSpec", "nic_egress_mbps", Rule::kPositive},
    {"RulesSpec", "quorum_fraction", Rule::kUnitInterval},
    {"RulesSpec", "heartbeat_interval_ms", Rule::kPositive},
    {"RulesSpec", "missed_heartbeats", Rule::kPositive},
    {"ReconnectSpec", "initial_backoff_ms", Rule::kNonNegative},
    {"ReconnectSpec", "max_backoff_ms", Rule::kNonNegative},
    {"ReconnectSpec", "multiplier", Rule::kAtLeastOne},
    {"ReconnectSpec", "jitter", Rule::kProbability},
    {"ChairSpec", "open_deadline_min", Rule::kNonNegative},
    {"ChairSpec", "wait_for_quorum_min", Rule::kNonNegative},
    {"OutageEvent", "at_min", Rule::kNonNegative},
    {"OutageEvent", "duration_s", Rule::kPositive},
    {"OutageEvent", "share", Rule::kProbability},
    {"Slo", "quantile", Rule::kUnitInterval},
    {"Slo", "max_ms", Rule::kPositive},
    {"QuorumSlo", "min_attainment", Rule::kProbability},
    {"Scenario", "duration_min", Rule::kPositive},
    {"Scenario", "start_unix_s", Rule::kNonNegative},
    {"Scenario", "quorum_deadline_min", Rule::kNonNegative},
};

const Rule* find_rule(std::string_view message, std::string_view field) {
  for (const FieldRule& r : kFieldRules) {
    if (r.message == message && r.field == field) return &r.rule;
  }
  return nullptr;
}

// The problem with `v` under `rule`, or "" if none.
std::string rule_problem(Rule rule, double v, bool integral) {
  switch (rule) {
    case Rule::kProbability:
      return v >= 0 && v <= 1 ? "" : "must be a probability in [0, 1]";
    case Rule::kNonNegative:
      return v >= 0 ? "" : "must be >= 0";
    case Rule::kPositive:
      return v > 0 ? "" : (integral ? "must be >= 1" : "must be > 0");
    case Rule::kUnitInterval:
      return v > 0 && v <= 1 ? "" : "must be in (0, 1]";
    case Rule::kAtLeastOne:
      return v >= 1 ? "" : "must be >= 1";
  }
  return "";
}

void check_number(Checker& c, const Node& n, const FieldDescriptor* f, int k, double v) {
  const std::string& name = f->name();
  if (!std::isfinite(v)) return c.fail(n, name, k, name + " must be a finite number, got " + num(v));
  const Rule* rule = find_rule(n.msg->GetDescriptor()->name(), name);
  if (rule == nullptr) return;
  const std::string problem =
      rule_problem(*rule, v, f->cpp_type() != FieldDescriptor::CPPTYPE_DOUBLE);
  if (problem.empty()) return;
  if (v == 0 && !c.written(n, f, k)) return c.fail(n, name, k, name + " is missing; it " + problem);
  c.fail(n, name, k, name + " " + problem + ", got " + num(v));
}

std::string enum_values(const google::protobuf::EnumDescriptor* e) {
  std::string out;
  for (int i = 0; i < e->value_count(); ++i) {
    if (e->value(i)->number() == 0) continue;
    out += (out.empty() ? "" : ", ") + e->value(i)->name();
  }
  return out;
}

// Every enum in scenario.proto must name a value, and not the _UNSPECIFIED one.
void check_enum(Checker& c, const Node& n, const FieldDescriptor* f, int k, int v) {
  const auto* e = f->enum_type();
  const std::string& name = f->name();
  if (e->FindValueByNumber(v) == nullptr) {
    return c.fail(n, name, k,
                  name + " " + std::to_string(v) + " is not a " + e->full_name() +
                      " value; use one of " + enum_values(e));
  }
  if (v == 0) c.fail(n, name, k, name + " is missing; use one of " + enum_values(e));
}

// ---------------------------------------------------------------------------
// Per-message checks.

std::string leaf(const std::string& path) { return path.substr(path.rfind('.') + 1); }

// An empty `{}` is a mistake: leaving the field out is how to say "none".
void check_distribution(Checker& c, const Node& n, const v1::Distribution& d) {
  if (d.kind_case() != v1::Distribution::KIND_NOT_SET) return;
  c.fail_here(n, leaf(n.path) +
                     " names no distribution; write one of constant, uniform, normal, "
                     "lognormal, exponential, pareto, empirical");
}

void check_uniform(Checker& c, const Node& n, const v1::Uniform& u) {
  if (u.max() < u.min()) {
    c.fail(n, "max", -1, "max " + num(u.max()) + " is below min " + num(u.min()));
  }
}

void check_empirical_point(Checker& c, const Node& n, const v1::Empirical& e, int i) {
  const Node p = c.child(n, "points", i);
  const double q = e.points(i).quantile();
  const int last = e.points_size() - 1;
  if (i == 0 && q != 0) c.fail(p, "quantile", -1, "the first quantile must be 0, got " + num(q));
  if (i == last && q != 1) c.fail(p, "quantile", -1, "the last quantile must be 1, got " + num(q));
  if (i == 0) return;
  const v1::EmpiricalPoint& prev = e.points(i - 1);
  if (!(q > prev.quantile())) {
    c.fail(p, "quantile", -1,
           "quantile " + num(q) + " must be above the previous one, " + num(prev.quantile()) +
               " (quantiles strictly increase)");
  }
  if (e.points(i).value() < prev.value()) {
    c.fail(p, "value", -1,
           "value " + num(e.points(i).value()) + " is below the previous one, " +
               num(prev.value()) + " (values must not decrease)");
  }
}

void check_empirical(Checker& c, const Node& n, const v1::Empirical& e) {
  if (e.points_size() < 2) {
    return c.fail_here(n, "empirical needs at least 2 points (quantiles 0 and 1), got " +
                              std::to_string(e.points_size()));
  }
  for (int i = 0; i < e.points_size(); ++i) check_empirical_point(c, n, e, i);
}

void check_outage_process(Checker& c, const Node& n, const v1::OutageProcess& o) {
  if (o.mean_up_s() > 0 && !o.has_down_s()) {
    c.fail(n, "down_s", -1, "down_s is missing; outages (mean_up_s > 0) need a down time");
  }
}

// The drop-tail queue's packet bound: at most 65,536 (netem/ tracks each).
constexpr uint32_t kMaxQueueLimitPackets = 1 << 16;

void check_profile(Checker& c, const Node& n, const v1::NetworkProfile& p) {
  if (p.queue_limit_packets() > kMaxQueueLimitPackets) {
    c.fail(n, "queue_limit_packets", -1,
           "queue_limit_packets must be <= " + std::to_string(kMaxQueueLimitPackets) + ", got " +
               std::to_string(p.queue_limit_packets()));
  }
}

void check_vote(Checker& c, const Node& n, const v1::VoteSpec& v) {
  const double yes = v.yes_probability();
  const double no = v.no_probability();
  const bool each_valid = yes >= 0 && yes <= 1 && no >= 0 && no <= 1;  // else reported already
  if (each_valid && yes + no > 1 + kShareSumTolerance) {
    c.fail(n, "no_probability", -1,
           "yes_probability + no_probability is " + num(yes + no) + "; it must be <= 1");
  }
}

void check_agenda(Checker& c, const Node& n, const v1::Agenda& a) {
  if (a.items_size() == 0) {
    c.fail(n, "items", -1, "agenda " + quoted(a.name()) + " has no items");
  }
  std::map<uint64_t, std::string> first;  // vote id -> the vote's path
  for (int i = 0; i < a.items_size(); ++i) {
    const Node item = c.child(n, "items", i);
    for (int j = 0; j < a.items(i).votes_size(); ++j) {
      const uint64_t id = a.items(i).votes(j).vote_id();
      const Node vote = c.child(item, "votes", j);
      const auto [it, fresh] = first.emplace(id, vote.path);
      if (fresh || id == 0) continue;
      c.fail(vote, "vote_id", -1,
             "duplicate vote_id " + std::to_string(id) + " in agenda " + quoted(a.name()) +
                 " (first: " + it->second + ")");
    }
  }
}

void check_members(Checker& c, const Node& n, const v1::CellType& t) {
  const v1::MemberCounts& m = t.members();
  const uint64_t total = uint64_t{m.official()} + m.probationary() + m.exempted() +
                         m.suspended() + m.attached_elsewhere();
  if (total == 0) {
    return c.fail(n, "members", -1, "cell type " + quoted(t.name()) + " has no members");
  }
  if (m.official() < kMinOfficialMembers) {
    c.fail(c.child(n, "members"), "official", -1,
           "official is " + std::to_string(m.official()) +
               "; a cell has at least 3 official members, the chair included (RULES.md)");
  }
}

void check_links(Checker& c, const Node& n, const v1::CellType& t) {
  if (t.links_size() == 0) {
    return c.fail(n, "links", -1,
                  "links is empty; give the share of the members on each network profile");
  }
  double sum = 0;
  for (const v1::ProfileShare& link : t.links()) {
    if (!(link.share() >= 0 && link.share() <= 1)) return;  // reported by its own rule
    sum += link.share();
  }
  if (std::fabs(sum - 1) > kShareSumTolerance) {
    c.fail(n, "links", -1, "link shares sum to " + num(sum) + "; they must sum to 1");
  }
}

void check_cell_type(Checker& c, const Node& n, const v1::CellType& t) {
  check_members(c, n, t);
  check_links(c, n, t);
}

void check_reconnect(Checker& c, const Node& n, const v1::ReconnectSpec& r) {
  if (r.max_backoff_ms() < r.initial_backoff_ms()) {
    c.fail(n, "max_backoff_ms", -1,
           "max_backoff_ms " + num(r.max_backoff_ms()) + " is below initial_backoff_ms " +
               num(r.initial_backoff_ms()));
  }
}

void check_media(Checker& c, const Node& n, const v1::MediaSpec& m) {
  if (m.bitrate_kbps() > 0 && m.frame_ms() == 0) {
    c.fail(n, "frame_ms", -1, "frame_ms must be >= 1 when bitrate_kbps > 0");
  }
  // A datagram carries one frame: header, payload and tag under kMaxDatagramBytes.
  const uint64_t payload_bytes = uint64_t{m.bitrate_kbps()} * m.frame_ms() / 8;
  if (m.transport() == v1::MEDIA_TRANSPORT_DATAGRAM &&
      payload_bytes > wire::kMaxDatagramPayloadBytes) {
    c.fail(n, "transport", -1,
           "a " + num(m.bitrate_kbps()) + " kb/s frame of " + num(m.frame_ms()) + " ms is " +
               num(static_cast<double>(payload_bytes)) +
               " bytes, more than a voice datagram carries (" +
               num(static_cast<double>(wire::kMaxDatagramPayloadBytes)) + ")");
  }
}

// VoiceSpec's ranges (metrics: agents/voice.h).
void check_voice(Checker& c, const Node& n, const v1::VoiceSpec& v) {
  if (v.codec_ie() < 0 || v.codec_ie() > 95) {
    c.fail(n, "codec_ie", -1, "codec_ie " + num(v.codec_ie()) + " is outside [0, 95]");
  }
  if (v.codec_bpl() < 0 || v.codec_bpl() > 100) {
    c.fail(n, "codec_bpl", -1, "codec_bpl " + num(v.codec_bpl()) + " is outside (0, 100]");
  }
  if (v.codec_lookahead_ms() < 0 || v.codec_lookahead_ms() > 1000) {
    c.fail(n, "codec_lookahead_ms", -1,
           "codec_lookahead_ms " + num(v.codec_lookahead_ms()) + " is outside [0, 1000]");
  }
  if (v.jitter_buffer_ms() < 0 || v.jitter_buffer_ms() > 10'000) {
    c.fail(n, "jitter_buffer_ms", -1,
           "jitter_buffer_ms " + num(v.jitter_buffer_ms()) + " is outside [0, 10000]");
  }
  if (v.mos_threshold() != 0 && (v.mos_threshold() < 1 || v.mos_threshold() > 4.5)) {
    c.fail(n, "mos_threshold", -1,
           "mos_threshold " + num(v.mos_threshold()) + " is outside [1, 4.5]");
  }
  if (v.min_share() < 0 || v.min_share() > 1) {
    c.fail(n, "min_share", -1, "min_share " + num(v.min_share()) + " is outside [0, 1]");
  }
}

void check_slo(Checker& c, const Node& n, const v1::Slo& s) {
  const auto known = std::find(std::begin(kSloMetrics), std::end(kSloMetrics), s.metric());
  if (known != std::end(kSloMetrics)) return;
  std::string metrics;
  for (std::string_view m : kSloMetrics) metrics += (metrics.empty() ? "" : ", ") + std::string(m);
  c.fail(n, "metric", -1,
         (s.metric().empty() ? std::string("metric is missing")
                             : "unknown metric " + quoted(s.metric())) +
             "; use one of " + metrics);
}

// ---------------------------------------------------------------------------
// Names: defined once each, and every reference defined.

struct Names {
  std::map<std::string, int> first;  // name -> index of its definition
  std::vector<std::string> in_order;
  bool has(const std::string& name) const { return first.count(name) > 0; }
};

// The names of the elements of the root's repeated field `list`.
Names define_names(Checker& c, const Node& root, std::string_view list, std::string_view what) {
  Names names;
  const Reflection* r = root.msg->GetReflection();
  const int size = r->FieldSize(*root.msg, c.field(root, list));
  for (int i = 0; i < size; ++i) {
    const Node e = c.child(root, list, i);
    const std::string name = e.msg->GetReflection()->GetString(*e.msg, c.field(e, "name"));
    if (name.empty()) {
      c.fail(e, "name", -1, "name is missing; every " + std::string(what) + " needs one");
      continue;
    }
    const auto [it, fresh] = names.first.emplace(name, i);
    if (fresh) {
      names.in_order.push_back(name);
      continue;
    }
    const Node first = c.child(root, list, it->second);
    const TextPos at = c.pos_of(first, c.field(first, "name"), -1);
    c.fail(e, "name", -1,
           "duplicate " + std::string(what) + " name " + quoted(name) + " (first: " + first.path +
               (at.line > 0 ? ", line " + std::to_string(at.line) : "") + ")");
  }
  return names;
}

void check_ref(Checker& c, const Node& n, std::string_view field, int index,
               const std::string& value, const Names& names, std::string_view what) {
  if (names.has(value)) return;
  if (value.empty()) {
    return c.fail(n, field, index,
                  std::string(field) + " is missing; name a " + std::string(what));
  }
  c.fail(n, field, index,
         "unknown " + std::string(what) + " " + quoted(value) + suggest(value, names.in_order));
}

// Something scheduled at `at_min` that the run never reaches.
void check_within_run(Checker& c, const Node& n, std::string_view field, double at_min,
                      double duration_min, std::string_view what) {
  if (duration_min <= 0 || at_min < duration_min) return;
  c.fail(n, field, -1,
         std::string(field) + " " + num(at_min) + " is not before the end of the run (duration_min " +
             num(duration_min) + "): " + std::string(what));
}

void check_cell_type_refs(Checker& c, const Node& root, const v1::Scenario& s,
                          const Names& profiles, const Names& agendas) {
  for (int i = 0; i < s.cell_types_size(); ++i) {
    const v1::CellType& t = s.cell_types(i);
    const Node n = c.child(root, "cell_types", i);
    for (int j = 0; j < t.links_size(); ++j) {
      check_ref(c, c.child(n, "links", j), "profile", -1, t.links(j).profile(), profiles,
                "profile");
    }
    check_ref(c, n, "agenda", -1, t.agenda(), agendas, "agenda");
    check_within_run(c, n, "start_offset_min", t.start_offset_min(), s.duration_min(),
                     "no meeting of this type would start");
  }
}

void check_outage_refs(Checker& c, const Node& root, const v1::Scenario& s,
                       const Names& profiles, const Names& types) {
  for (int i = 0; i < s.outage_events_size(); ++i) {
    const v1::OutageEvent& e = s.outage_events(i);
    const Node n = c.child(root, "outage_events", i);
    for (int j = 0; j < e.cell_types_size(); ++j) {
      check_ref(c, n, "cell_types", j, e.cell_types(j), types, "cell type");
    }
    for (int j = 0; j < e.profiles_size(); ++j) {
      check_ref(c, n, "profiles", j, e.profiles(j), profiles, "profile");
    }
    check_within_run(c, n, "at_min", e.at_min(), s.duration_min(), "the outage would never happen");
  }
}

// SLOs and quorum SLOs: an empty cell_type means all cells.
void check_slo_refs(Checker& c, const Node& root, const v1::Scenario& s, const Names& types) {
  for (int i = 0; i < s.slos_size(); ++i) {
    if (s.slos(i).cell_type().empty()) continue;
    check_ref(c, c.child(root, "slos", i), "cell_type", -1, s.slos(i).cell_type(), types,
              "cell type");
  }
  for (int i = 0; i < s.quorum_slos_size(); ++i) {
    if (s.quorum_slos(i).cell_type().empty()) continue;
    check_ref(c, c.child(root, "quorum_slos", i), "cell_type", -1, s.quorum_slos(i).cell_type(),
              types, "cell type");
  }
}

void check_scenario(Checker& c, const Node& root, const v1::Scenario& s) {
  const Names profiles = define_names(c, root, "profiles", "profile");
  const Names agendas = define_names(c, root, "agendas", "agenda");
  const Names types = define_names(c, root, "cell_types", "cell type");
  check_cell_type_refs(c, root, s, profiles, agendas);
  check_outage_refs(c, root, s, profiles, types);
  check_slo_refs(c, root, s, types);
}

// ---------------------------------------------------------------------------
// The walk: every field of every message, then the message's own check.

template <typename T, void (*Check)(Checker&, const Node&, const T&)>
void typed(Checker& c, const Node& n) {
  Check(c, n, *DynamicCastToGenerated<T>(n.msg));
}

struct MessageCheck {
  std::string_view message;
  void (*check)(Checker&, const Node&);
};

constexpr MessageCheck kMessageChecks[] = {
    {"Distribution", typed<v1::Distribution, check_distribution>},
    {"Uniform", typed<v1::Uniform, check_uniform>},
    {"Empirical", typed<v1::Empirical, check_empirical>},
    {"OutageProcess", typed<v1::OutageProcess, check_outage_process>},
    {"NetworkProfile", typed<v1::NetworkProfile, check_profile>},
    {"VoteSpec", typed<v1::VoteSpec, check_vote>},
    {"Agenda", typed<v1::Agenda, check_agenda>},
    {"CellType", typed<v1::CellType, check_cell_type>},
    {"ReconnectSpec", typed<v1::ReconnectSpec, check_reconnect>},
    {"MediaSpec", typed<v1::MediaSpec, check_media>},
    {"VoiceSpec", typed<v1::VoiceSpec, check_voice>},
    {"Slo", typed<v1::Slo, check_slo>},
    {"Scenario", typed<v1::Scenario, check_scenario>},
};

void walk(Checker& c, const Node& n);

void visit(Checker& c, const Node& n, const FieldDescriptor* f, int k) {
  const Message& m = *n.msg;
  const Reflection* r = m.GetReflection();
  const bool rep = k >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_MESSAGE:
      if (rep || r->HasField(m, f)) walk(c, c.child(n, f->name(), k));
      return;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return check_number(c, n, f, k, rep ? r->GetRepeatedDouble(m, f, k) : r->GetDouble(m, f));
    case FieldDescriptor::CPPTYPE_UINT32:
      return check_number(c, n, f, k, rep ? r->GetRepeatedUInt32(m, f, k) : r->GetUInt32(m, f));
    case FieldDescriptor::CPPTYPE_UINT64:
      return check_number(c, n, f, k,
                          static_cast<double>(rep ? r->GetRepeatedUInt64(m, f, k) : r->GetUInt64(m, f)));
    case FieldDescriptor::CPPTYPE_INT64:
      return check_number(c, n, f, k,
                          static_cast<double>(rep ? r->GetRepeatedInt64(m, f, k) : r->GetInt64(m, f)));
    case FieldDescriptor::CPPTYPE_INT32:
      return check_number(c, n, f, k, rep ? r->GetRepeatedInt32(m, f, k) : r->GetInt32(m, f));
    case FieldDescriptor::CPPTYPE_ENUM:
      return check_enum(c, n, f, k, rep ? r->GetRepeatedEnumValue(m, f, k) : r->GetEnumValue(m, f));
    default:
      return;  // strings and bools: checked by their message's check, if at all
  }
}

void walk(Checker& c, const Node& n) {
  const Descriptor* d = n.msg->GetDescriptor();
  const Reflection* r = n.msg->GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (!f->is_repeated()) {
      visit(c, n, f, -1);
      continue;
    }
    const int size = r->FieldSize(*n.msg, f);
    for (int k = 0; k < size; ++k) visit(c, n, f, k);
  }
  for (const MessageCheck& check : kMessageChecks) {
    if (check.message == d->name()) check.check(c, n);
  }
}

}  // namespace

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

void validate(const v1::Scenario& s, const SourceMap& source, std::vector<LoadError>* errors) {
  Checker c(source, errors);
  walk(c, c.root(s));
}

namespace {

// Whether a defaulted setting is unset: 0, and (when known) not written.
class Unset {
 public:
  explicit Unset(const WrittenFn& written) : written_(written) {}
  bool operator()(double value, const std::string& path) const {
    return value == 0 && !(written_ && written_(path));
  }

 private:
  const WrittenFn& written_;
};

void default_server(v1::ServerSpec* server, const Unset& unset) {
  if (unset(server->nodes(), "server.nodes")) server->set_nodes(kDefaultServerNodes);
  if (unset(server->cores_per_node(), "server.cores_per_node")) {
    server->set_cores_per_node(kDefaultCoresPerNode);
  }
  if (unset(server->nic_egress_mbps(), "server.nic_egress_mbps")) {
    server->set_nic_egress_mbps(kDefaultNicEgressMbps);
  }
}

void default_rules(v1::RulesSpec* rules, const Unset& unset) {
  if (unset(rules->quorum_fraction(), "rules.quorum_fraction")) {
    rules->set_quorum_fraction(kDefaultQuorumFraction);
  }
  if (unset(rules->heartbeat_interval_ms(), "rules.heartbeat_interval_ms")) {
    rules->set_heartbeat_interval_ms(kDefaultHeartbeatIntervalMs);
  }
  if (unset(rules->missed_heartbeats(), "rules.missed_heartbeats")) {
    rules->set_missed_heartbeats(kDefaultMissedHeartbeats);
  }
}

void default_reconnect(v1::ReconnectSpec* r, const Unset& unset) {
  if (unset(r->initial_backoff_ms(), "reconnect.initial_backoff_ms")) {
    r->set_initial_backoff_ms(kDefaultInitialBackoffMs);
  }
  if (unset(r->max_backoff_ms(), "reconnect.max_backoff_ms")) {
    r->set_max_backoff_ms(kDefaultMaxBackoffMs);
  }
  if (unset(r->multiplier(), "reconnect.multiplier")) r->set_multiplier(kDefaultBackoffMultiplier);
  if (unset(r->jitter(), "reconnect.jitter")) r->set_jitter(kDefaultBackoffJitter);
}

void default_chair_and_media(v1::Scenario* s, const Unset& unset) {
  v1::ChairSpec* chair = s->mutable_chair();
  if (unset(chair->open_deadline_min(), "chair.open_deadline_min")) {
    chair->set_open_deadline_min(kDefaultOpenDeadlineMin);
  }
  if (unset(chair->wait_for_quorum_min(), "chair.wait_for_quorum_min")) {
    chair->set_wait_for_quorum_min(kDefaultWaitForQuorumMin);
  }
  v1::MediaSpec* media = s->mutable_media();
  if (unset(media->bitrate_kbps(), "media.bitrate_kbps")) {
    media->set_bitrate_kbps(kDefaultMediaBitrateKbps);
  }
  if (unset(media->frame_ms(), "media.frame_ms")) media->set_frame_ms(kDefaultMediaFrameMs);
  if (media->transport() == v1::MEDIA_TRANSPORT_UNSPECIFIED) {
    media->set_transport(v1::MEDIA_TRANSPORT_IN_BAND);
  }
  v1::VoiceSpec* v = media->mutable_voice();
  if (unset(v->codec_ie(), "media.voice.codec_ie")) v->set_codec_ie(kDefaultCodecIe);
  if (unset(v->codec_bpl(), "media.voice.codec_bpl")) v->set_codec_bpl(kDefaultCodecBpl);
  if (unset(v->codec_lookahead_ms(), "media.voice.codec_lookahead_ms")) {
    v->set_codec_lookahead_ms(kDefaultCodecLookaheadMs);
  }
  if (unset(v->jitter_buffer_ms(), "media.voice.jitter_buffer_ms")) {
    v->set_jitter_buffer_ms(kDefaultJitterBufferMs);
  }
  if (unset(v->mos_threshold(), "media.voice.mos_threshold")) {
    v->set_mos_threshold(kDefaultMosThreshold);
  }
  if (unset(v->min_share(), "media.voice.min_share")) v->set_min_share(kDefaultVoiceMinShare);
}

// The defaults inside repeated messages: profiles, votes, outage events.
void default_elements(v1::Scenario* s, const Unset& unset) {
  for (int i = 0; i < s->profiles_size(); ++i) {
    v1::NetworkProfile* p = s->mutable_profiles(i);
    if (unset(p->rto_min_ms(), join_path(join_path("", "profiles", i), "rto_min_ms", -1))) {
      p->set_rto_min_ms(kDefaultRtoMinMs);
    }
  }
  for (int a = 0; a < s->agendas_size(); ++a) {
    for (int i = 0; i < s->agendas(a).items_size(); ++i) {
      const std::string item = join_path(join_path("", "agendas", a), "items", i);
      v1::AgendaItem* it = s->mutable_agendas(a)->mutable_items(i);
      for (int v = 0; v < it->votes_size(); ++v) {
        v1::VoteSpec* vote = it->mutable_votes(v);
        if (unset(vote->open_s(), join_path(join_path(item, "votes", v), "open_s", -1))) {
          vote->set_open_s(kDefaultVoteOpenS);
        }
      }
    }
  }
  for (v1::OutageEvent& e : *s->mutable_outage_events()) {
    if (e.share() == 0) e.set_share(kDefaultOutageShare);  // the schema: 0 means 1
  }
}

}  // namespace

void apply_defaults_unless_written(v1::Scenario* s, const WrittenFn& written) {
  const Unset unset(written);
  if (unset(static_cast<double>(s->start_unix_s()), "start_unix_s")) {
    s->set_start_unix_s(kDefaultStartUnixS);
  }
  if (unset(s->quorum_deadline_min(), "quorum_deadline_min")) {
    s->set_quorum_deadline_min(kDefaultQuorumDeadlineMin);
  }
  default_server(s->mutable_server(), unset);
  default_rules(s->mutable_rules(), unset);
  default_reconnect(s->mutable_reconnect(), unset);
  default_chair_and_media(s, unset);
  default_elements(s, unset);
}

}  // namespace cellsim::scenario
