#include "metrics/summary.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <string>

#include "metrics/histogram.h"
#include "metrics/recorder.h"
#include "metrics/slo.h"
#include "metrics/voice_stats.h"

namespace cellsim::metrics {
namespace {

__attribute__((format(printf, 1, 2))) std::string fmt(const char* format, ...) {
  char buf[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(buf, sizeof buf, format, args);
  va_end(args);
  return buf;
}

std::string ms(int64_t us) {
  const double v = static_cast<double>(us) / 1000.0;
  if (v >= 10000) return fmt("%.0f", v);
  if (v >= 100) return fmt("%.1f", v);
  return fmt("%.3f", v);
}

// A quantile as printed: HdrHistogram's highest equivalent value, but never
// above the exact maximum.
int64_t quantile_us(const Histogram& h, double q) {
  return std::min(h.value_at_quantile(q), h.max());
}

std::string pct(uint64_t num, uint64_t den) {
  if (den == 0) return "-";
  return fmt("%.1f%%", 100.0 * static_cast<double>(num) / static_cast<double>(den));
}

std::string u(uint64_t v) { return std::to_string(v); }

std::string group_title(const v1::Group& g) {
  if (g.kind() == kGroupOverall) return "overall";
  if (g.kind() == kGroupCellType) return "cell type " + g.name();
  if (g.kind() == kGroupProfile) return "profile " + g.name();
  return g.kind() + " " + g.name();
}

void print_run(const v1::RunInfo& run, std::ostream& out) {
  std::string line = "cellsim results: scenario " +
                     (run.scenario().empty() ? "-" : run.scenario()) + ", seed " + u(run.seed()) +
                     ", mode " + (run.mode().empty() ? "-" : run.mode());
  if (run.shards_size() > 0) {
    line += ", shards";
    for (const std::string& s : run.shards()) line += " " + s;
  }
  if (!run.media_transport().empty()) line += ", media " + run.media_transport();
  if (run.partial()) line += "   ** PARTIAL: interrupted **";
  out << line << "\n";
  out << fmt(
      "  virtual %.1f min, events %llu, frames %llu, members %llu, cells %llu, wall %.1f s\n",
      static_cast<double>(run.virtual_ns()) / 60e9, static_cast<unsigned long long>(run.events()),
      static_cast<unsigned long long>(run.frames()), static_cast<unsigned long long>(run.members()),
      static_cast<unsigned long long>(run.cells()), run.wall_s());
}

// Mean bit rate of `bytes` per member over the run, kb/s.
double kbps_per_member(uint64_t bytes, uint64_t members, uint64_t run_ns) {
  if (members == 0 || run_ns == 0) return 0;
  return static_cast<double>(bytes) * 8e6 / static_cast<double>(run_ns) /
         static_cast<double>(members);
}

// Voice quality as the group's members heard it (voice_stats.h).
void print_voice(const v1::VoiceStats& v, std::ostream& out) {
  const auto opt = [](std::optional<double> x, const char* f) {
    return x ? fmt(f, *x) : std::string("-");
  };
  const std::optional<double> share = voice_share_heard(v);
  out << "  voice     heard at MOS >= " << fmt("%.1f", v.mos_threshold_milli() / 1000.0) << ": "
      << (share ? fmt("%.1f%%", 100 * *share) : std::string("-")) << " of "
      << fmt("%.1f", static_cast<double>(v.speech_ms()) / 60000.0) << " min of speech; MOS p10 "
      << opt(voice_mos_quantile(v, 0.1), "%.2f") << ", p50 "
      << opt(voice_mos_quantile(v, 0.5), "%.2f") << "\n";
  out << "            mouth-to-ear " << opt(voice_mouth_to_ear_ms(v), "%.0f")
      << " ms mean; frames lost " << opt(voice_loss_percent(v), "%.2f") << "% (late "
      << opt(voice_late_percent(v), "%.2f") << "%), BurstR " << opt(voice_burst_r(v), "%.2f")
      << "; " << v.intervals() << " intervals heard\n";
}

void print_group(const v1::Group& g, uint64_t run_ns, std::ostream& out) {
  out << "\n== " << group_title(g) << ": " << g.members() << " members";
  if (g.kind() != kGroupProfile) out << ", " << g.cells() << " cells";
  out << "\n";
  out << fmt("  %-20s %12s %10s %10s %10s %10s\n", "latency ms", "samples", "p50", "p99", "max",
             "censored");
  for (const v1::LatencyMetric& m : g.latencies()) {
    Histogram h;
    std::string why;
    if (!Histogram::from_proto(m.histogram(), &h, &why)) {
      out << fmt("  %-20s invalid histogram: %s\n", m.name().c_str(), why.c_str());
    } else if (h.empty()) {
      out << fmt("  %-20s %12s %10s %10s %10s %10s\n", m.name().c_str(), "0", "-", "-", "-",
                 u(m.censored()).c_str());
    } else {
      out << fmt("  %-20s %12s %10s %10s %10s %10s\n", m.name().c_str(),
                 u(h.total_count()).c_str(), ms(quantile_us(h, 0.5)).c_str(),
                 ms(quantile_us(h, 0.99)).c_str(), ms(h.max()).c_str(), u(m.censored()).c_str());
    }
  }
  if (g.has_quorum()) {
    const v1::QuorumStats& q = g.quorum();
    out << "  quorum    attainment " << pct(q.meetings_quorate_by_deadline(), q.meetings()) << " ("
        << q.meetings_quorate_by_deadline() << "/" << q.meetings() << " by deadline), held "
        << pct(q.quorate_time_ns(), q.meeting_time_ns()) << " of time, " << q.quorum_losses()
        << " losses\n";
    out << "  votes     validity " << pct(q.votes_valid(), q.votes_held()) << " ("
        << q.votes_valid() << "/" << q.votes_held() << " with quorum), " << q.votes_passed()
        << " passed; minutes complete " << q.minutes_complete() << "/" << q.meetings_closed()
        << "\n";
    if (q.ballots_acked() <= q.ballots_counted()) {
      out << "  tally     ok: ballots acked " << q.ballots_acked() << ", counted "
          << q.ballots_counted() << " (every acknowledged ballot counted)\n";
    } else {
      out << "  tally     !!! TALLY MISMATCH: ballots acked " << q.ballots_acked() << " > counted "
          << q.ballots_counted() << " !!!\n";
    }
  }
  if (g.has_voice() && g.voice().intervals() > 0) print_voice(g.voice(), out);
  const v1::TrafficStats& t = g.traffic();
  out << "  links     disconnects " << t.disconnects() << ", reconnects " << t.reconnects()
      << ", failed joins " << t.failed_joins() << ", connects " << t.connects() << "\n";
  out << fmt("  traffic   kb/s per member, mean: up %.3f, down %.3f; media sent %.3f, received %.3f\n",
             kbps_per_member(t.bytes_up(), g.members(), run_ns),
             kbps_per_member(t.bytes_down(), g.members(), run_ns),
             kbps_per_member(t.media_bytes_sent(), g.members(), run_ns),
             kbps_per_member(t.media_bytes(), g.members(), run_ns));
}

void print_servers(const v1::Results& results, std::ostream& out) {
  if (results.servers_size() == 0) return;
  out << "\n== servers\n";
  out << fmt("  %4s %5s %6s %11s %11s %10s %11s %10s %11s %5s\n", "node", "cores", "util %",
             "frames in", "frames out", "egress MiB", "egress Mb/s", "peak queue", "wait p99 ms",
             "cells");
  for (const v1::ServerStats& s : results.servers()) {
    const double capacity = static_cast<double>(s.elapsed_ns()) * s.cores();
    const std::string util =
        capacity > 0 ? fmt("%.1f", 100.0 * static_cast<double>(s.busy_ns()) / capacity) : "-";
    std::string wait = "-";
    Histogram h;
    if (s.has_queue_wait() && Histogram::from_proto(s.queue_wait(), &h, nullptr) && !h.empty()) {
      wait = ms(quantile_us(h, 0.99));
    }
    const double egress_mbps = s.elapsed_ns() > 0 ? static_cast<double>(s.egress_bytes()) * 8e3 /
                                                        static_cast<double>(s.elapsed_ns())
                                                  : 0;
    out << fmt("  %4u %5u %6s %11s %11s %10.1f %11.2f %10s %11s %5s\n", s.node(), s.cores(),
               util.c_str(), u(s.frames_in()).c_str(), u(s.frames_out()).c_str(),
               static_cast<double>(s.egress_bytes()) / (1024.0 * 1024.0), egress_mbps,
               u(s.peak_queue_frames()).c_str(), wait.c_str(), u(s.cells()).c_str());
    if (s.process_cpu_ns() > 0 || s.peak_connections() > 0) {
      out << fmt("       measured: CPU %.2f s (%.1f%% of a core), peak %s connections, "
                 "ingress %.1f MiB\n",
                 static_cast<double>(s.process_cpu_ns()) / 1e9,
                 s.elapsed_ns() > 0 ? 100.0 * static_cast<double>(s.process_cpu_ns()) /
                                          static_cast<double>(s.elapsed_ns())
                                    : 0.0,
                 u(s.peak_connections()).c_str(),
                 static_cast<double>(s.ingress_bytes()) / (1024.0 * 1024.0));
    }
  }
}

void print_slos(const v1::Results& results, std::ostream& out) {
  if (results.slos_size() == 0) return;
  int met = 0;
  for (const v1::SloResult& s : results.slos()) met += s.met() ? 1 : 0;
  out << "\n== SLOs: " << met << " of " << results.slos_size() << " met"
      << (met == results.slos_size() ? "" : "  ** FAILED **") << "\n";
  for (const v1::SloResult& s : results.slos()) {
    const std::string observed =
        is_quorum_slo(s) ? fmt("%.1f%%", 100.0 * s.observed()) : fmt("%.3f ms", s.observed());
    out << fmt("  %s  %-62s observed %s\n", s.met() ? "PASS" : "FAIL", s.description().c_str(),
               observed.c_str());
  }
}

}  // namespace

void print_summary(const v1::Results& results, std::ostream& out) {
  print_run(results.run(), out);
  for (const v1::Group& g : results.groups()) print_group(g, results.run().virtual_ns(), out);
  print_servers(results, out);
  print_slos(results, out);
}

}  // namespace cellsim::metrics
