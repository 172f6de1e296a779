// The section "transports" (report.h): how the meeting's business and voice
// quality differ between the two media transports, per cell type, each
// transport's seeds pooled (confidence.h, pool_seeds) and judged apart.
#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "metrics/results_io.h"
#include "metrics/voice_stats.h"
#include "report/confidence.h"
#include "report/sections.h"
#include "report/words.h"

namespace cellsim::report {
namespace {

// The latencies shown: the meeting's business.
constexpr const char* kBusinessMetrics[] = {"join_latency", "broadcast_latency", "ballot_latency",
                                            "result_latency"};

// One transport's runs, pooled and judged.
struct TransportRuns {
  std::string transport;
  v1::Results pooled;
  std::vector<CellTypeVerdict> verdicts;
  bool ok = false;
};

TransportRuns pool(const std::string& transport, const std::vector<SeedRun>& seeds,
                   const CellTypeLinks& links) {
  TransportRuns t;
  t.transport = transport;
  std::vector<const v1::Results*> runs;
  for (const SeedRun& s : seeds) runs.push_back(&s.results);
  std::string why;
  if (runs.empty() || !pool_seeds(runs, &t.pooled, &why)) return t;
  for (const v1::SloResult& s : runs[0]->slos()) *t.pooled.add_slos() = s;
  t.verdicts = judge(t.pooled, links, runs.size());
  t.ok = true;
  return t;
}

std::string transport_label(Lang l, const std::string& transport) {
  return t(l, transport == metrics::kTransportDatagram ? Msg::kTransportDatagram
                                                       : Msg::kTransportInBand);
}

const v1::Group* group_of(const v1::Results& r, const char* kind, const std::string& name) {
  for (const v1::Group& g : r.groups()) {
    if (g.kind() == kind && g.name() == name) return &g;
  }
  return nullptr;
}

const CellTypeVerdict* verdict_of(const TransportRuns& t, const std::string& name) {
  for (const CellTypeVerdict& v : t.verdicts) {
    if (v.cell_type == name) return &v;
  }
  return nullptr;
}

std::string opt_text(std::optional<double> v, Lang l, int decimals, bool share = false) {
  if (!v) return "-";
  return share ? fmt_share(l, *v) : fmt_fixed(l, *v, decimals);
}

std::vector<std::string> row(const View& view, Lang l, const TransportRuns& t,
                             const std::string& type) {
  std::vector<std::string> r = {view.type_name(l, type), transport_label(l, t.transport)};
  const CellTypeVerdict* v = verdict_of(t, type);
  r.push_back(v != nullptr ? verdict_label(l, v->verdict) : "-");
  const v1::Group* g = group_of(t.pooled, metrics::kGroupCellType, type);
  for (const char* m : kBusinessMetrics) {
    double ms = 0;
    r.push_back(g != nullptr && group_quantile_ms(*g, m, 0.99, &ms) ? fmt_ms(l, ms) : "-");
  }
  const v1::VoiceStats none;
  const v1::VoiceStats& vs = g != nullptr && g->has_voice() ? g->voice() : none;
  r.push_back(opt_text(metrics::voice_share_heard(vs), l, 1, true));
  r.push_back(opt_text(metrics::voice_mos_quantile(vs, 0.1), l, 2));
  r.push_back(opt_text(metrics::voice_mouth_to_ear_ms(vs), l, 0));
  const std::optional<double> loss = metrics::voice_loss_percent(vs);
  r.push_back(loss ? fmt_fixed(l, *loss, 2) + "%" : "-");
  return r;
}

// The MOS threshold the runs used (the first group with voice), default 3.6.
double mos_threshold(const TransportRuns& t) {
  for (const v1::Group& g : t.pooled.groups()) {
    if (g.has_voice() && g.voice().mos_threshold_milli() > 0) {
      return g.voice().mos_threshold_milli() / 1000.0;
    }
  }
  return 3.6;
}

void add_changes(Doc& d, const View& view, Lang l, const TransportRuns& a, const TransportRuns& b) {
  para(d, format(l, Msg::kTransportsChanges,
                 {transport_label(l, b.transport), transport_label(l, a.transport)}));
  std::vector<std::string> changes;
  for (const CellTypeVerdict& va : a.verdicts) {
    const CellTypeVerdict* vb = verdict_of(b, va.cell_type);
    if (vb == nullptr || vb->verdict == va.verdict) continue;
    changes.push_back(format(l, Msg::kTransportChange,
                             {view.type_name(l, va.cell_type), verdict_label(l, va.verdict),
                              verdict_label(l, vb->verdict)}));
  }
  if (changes.empty()) changes.push_back(t(l, Msg::kTransportNoChange));
  list(d, changes);
}

// Voice quality per network profile (the listeners on it) and transport.
void add_profiles(Doc& d, const View& view, Lang l, const std::vector<TransportRuns>& runs) {
  std::vector<std::string> profiles;
  for (const TransportRuns& r : runs) {
    for (const v1::Group& g : r.pooled.groups()) {
      if (g.kind() != metrics::kGroupProfile || !g.has_voice()) continue;
      if (std::find(profiles.begin(), profiles.end(), g.name()) == profiles.end()) {
        profiles.push_back(g.name());
      }
    }
  }
  if (profiles.empty()) return;
  para(d, t(l, Msg::kTransportsByProfile));
  Block tb = table({t(l, Msg::kColProfile), t(l, Msg::kColTransport), t(l, Msg::kColHeard),
                    t(l, Msg::kColMosP10), t(l, Msg::kColMouthToEar), t(l, Msg::kColVoiceLoss)});
  for (const std::string& p : profiles) {
    for (const TransportRuns& r : runs) {
      const v1::Group* g = group_of(r.pooled, metrics::kGroupProfile, p);
      if (!r.ok || g == nullptr || !g->has_voice()) continue;
      const v1::VoiceStats& vs = g->voice();
      const std::optional<double> loss = metrics::voice_loss_percent(vs);
      tb.rows.push_back({view.profile_name(l, p), transport_label(l, r.transport),
                         opt_text(metrics::voice_share_heard(vs), l, 1, true),
                         opt_text(metrics::voice_mos_quantile(vs, 0.1), l, 2),
                         opt_text(metrics::voice_mouth_to_ear_ms(vs), l, 0),
                         loss ? fmt_fixed(l, *loss, 2) + "%" : "-"});
      tb.row_class.push_back("");
    }
  }
  d.push_back(tb);
}

}  // namespace

void add_glance_transports(Doc& d, const View& view, Lang l) {
  const ReportInput& in = *view.in;
  if (in.other_seeds.empty()) return;
  const std::string first =
      in.transport.empty() ? std::string(metrics::kTransportInBand) : in.transport;
  const TransportRuns other = pool(in.other_transport, in.other_seeds, in.links);
  if (!other.ok) return;
  std::string changes;
  for (const CellTypeVerdict& v : view.verdicts) {
    const CellTypeVerdict* o = verdict_of(other, v.cell_type);
    if (o == nullptr || o->verdict == v.verdict) continue;
    if (!changes.empty()) changes += "; ";
    changes += format(l, Msg::kTransportChange,
                      {view.type_name(l, v.cell_type), verdict_label(l, v.verdict),
                       verdict_label(l, o->verdict)});
  }
  changes = changes.empty() ? std::string(t(l, Msg::kTransportNoChange)) : changes + ".";
  para(d, format(l, Msg::kFirstTransports,
                 {transport_label(l, first), transport_label(l, in.other_transport),
                  fmt_int(l, in.other_seeds.size()), changes}));
}

void add_transports(Doc& d, const View& view, Lang l) {
  section(d, "transports", t(l, Msg::kSecTransports));
  const ReportInput& in = *view.in;
  const std::string first =
      in.transport.empty() ? std::string(metrics::kTransportInBand) : in.transport;
  std::vector<TransportRuns> runs = {pool(first, view.seeds, in.links)};
  if (!in.other_seeds.empty()) runs.push_back(pool(in.other_transport, in.other_seeds, in.links));
  para(d, format(l, Msg::kTransportsIntro, {fmt_fixed(l, mos_threshold(runs[0]), 1)}));
  if (runs.size() == 1) {
    const std::string other = first == metrics::kTransportDatagram ? metrics::kTransportInBand
                                                                   : metrics::kTransportDatagram;
    para(d, format(l, Msg::kTransportsOnlyOne, {transport_label(l, first), other}));
  }
  std::vector<std::string> header = {t(l, Msg::kColCellType), t(l, Msg::kColTransport),
                                     t(l, Msg::kColVerdict)};
  for (const char* m : kBusinessMetrics) {
    header.push_back(format(l, Msg::kColP99Of, {metric_label(l, m)}));
  }
  for (Msg m : {Msg::kColHeard, Msg::kColMosP10, Msg::kColMouthToEar, Msg::kColVoiceLoss}) {
    header.push_back(t(l, m));
  }
  Block tb = table(header);
  for (const CellTypeVerdict& v : view.verdicts) {
    for (const TransportRuns& r : runs) {
      if (!r.ok) continue;
      tb.rows.push_back(row(view, l, r, v.cell_type));
      const CellTypeVerdict* rv = verdict_of(r, v.cell_type);
      tb.row_class.push_back(verdict_class(rv != nullptr ? rv->verdict : v.verdict));
    }
  }
  d.push_back(tb);
  add_profiles(d, view, l, runs);
  if (runs.size() == 2 && runs[0].ok && runs[1].ok) add_changes(d, view, l, runs[0], runs[1]);
  end_section(d);
}

}  // namespace cellsim::report
