#include "live/calibrate.h"

#include <google/protobuf/text_format.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <set>
#include <sstream>
#include <thread>

#include "live/driver.h"
#include "metrics/prometheus_text.h"
#include "metrics/scrape.h"
#include "proto/assert.h"
#include "scenario/loader.h"
#include "server/net/tls.h"
#include "server/net/tls_certgen.h"

namespace cellsim::live {
namespace {

namespace fs = std::filesystem;

constexpr double kSettleS = 0.4;  // after a run, for the server to handle the closes

std::string pad(const std::string& s, size_t w, bool left = false) {
  if (s.size() >= w) return s;
  return left ? s + std::string(w - s.size(), ' ') : std::string(w - s.size(), ' ') + s;
}

std::string fixed(double v, int digits) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(digits) << v;
  return o.str();
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

std::string utc_date() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

}  // namespace

namespace {
// Costs to the nanosecond: the fit is not finer than that.
double to_ns(double us) { return std::round(us * 1000) / 1000; }
}  // namespace

v1::Calibration to_calibration(const CostFit& fit, const std::string& machine,
                               const std::string& source) {
  v1::Calibration c;
  c.set_estimated(false);
  c.set_source(source);
  c.set_machine(machine);
  c.set_default_base_us(to_ns(fit.default_base_us));
  c.set_default_per_output_us(to_ns(fit.per_output_us));
  c.set_fit_error(std::round(fit.fit_error * 1e4) / 1e4);
  c.set_timer_us(to_ns(fit.timer_us));
  for (const auto& [type, us] : fit.base_us) {
    auto* fc = c.add_costs();
    fc->set_type(type);
    fc->set_base_us(to_ns(us));
    fc->set_per_output_us(to_ns(fit.per_output_us));
  }
  return c;
}

std::string runs_table(const std::vector<CalibrationRun>& runs) {
  // The busiest types get their own column; the rest are "other".
  std::map<std::string, double> totals;
  for (const auto& r : runs) {
    for (const auto& [t, n] : r.frames_in) totals[t] += n;
  }
  std::vector<std::string> cols;
  for (const char* t : {"hello", "join_meeting", "heartbeat", "cast_ballot", "media_frame"}) {
    if (totals[t] > 0) cols.push_back(t);
  }
  std::ostringstream o;
  o << pad("run", 14, true) << pad("members", 8);
  for (const auto& c : cols) o << pad(c.size() > 11 ? c.substr(0, 11) : c, 12);
  o << pad("other in", 9) << pad("out", 9) << pad("wall s", 7) << pad("cpu ms", 9)
    << pad("fit ms", 9) << pad("err", 7) << "\n";
  for (const auto& r : runs) {
    o << pad(r.label, 14, true) << pad(std::to_string(r.members), 8);
    double other = 0;
    for (const auto& [t, n] : r.frames_in) {
      if (std::find(cols.begin(), cols.end(), t) == cols.end()) other += n;
    }
    for (const auto& c : cols) {
      const auto it = r.frames_in.find(c);
      o << pad(fixed(it == r.frames_in.end() ? 0 : it->second, 0), 12);
    }
    o << pad(fixed(other, 0), 9) << pad(fixed(r.frames_out, 0), 9) << pad(fixed(r.seconds, 1), 7)
      << pad(fixed(r.cpu_ns / 1e6, 1), 9) << pad(fixed(r.predicted_ns / 1e6, 1), 9)
      << pad(r.cpu_ns > 0 ? fixed(100 * (r.predicted_ns - r.cpu_ns) / r.cpu_ns, 1) + "%" : "-", 7)
      << "\n";
  }
  return o.str();
}

std::string calibration_file_text(const v1::Calibration& cal, const std::string& table) {
  std::ostringstream o;
  o << "# MEASURED calibration for the server capacity model, written by `cellsim calibrate`.\n"
       "# Per-frame CPU costs of cellmeetd (one shard thread) on the machine named below;\n"
       "# Protobuf text format of cellsim.v1.Calibration. Use it with\n"
       "# `cellsim run SCENARIO --calibration FILE`, or a scenario's server.calibration.\n"
       "# base_us: CPU per frame received of that type; per_output_us: per frame sent\n"
       "# (each recipient); default_*: the types not listed; timer_us: per liveness check;\n"
       "# tls_handshake_us: per TLS 1.3 handshake, the server's side (members with tls: true).\n"
       "# fit_error: relative RMS error of the fitted against the measured CPU over the runs:\n"
       "#\n";
  std::istringstream lines(table);
  for (std::string line; std::getline(lines, line);) o << "#   " << line << "\n";
  o << "#\n# fit error " << fixed(100 * cal.fit_error(), 1) << "% (relative RMS over the runs)\n\n";
  std::string text;
  google::protobuf::TextFormat::Printer p;
  p.PrintToString(cal, &text);
  o << text;
  return o.str();
}

// --- /proc and Prometheus ----------------------------------------------------

std::string machine_description() {
  std::string model;
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) model = trim(line.substr(colon + 1));
      break;
    }
  }
  if (model.empty()) model = "unknown CPU";
  const long cores = sysconf(_SC_NPROCESSORS_ONLN);
  utsname u{};
  std::string kernel = "unknown kernel";
  if (uname(&u) == 0) kernel = std::string(u.sysname) + " " + u.release + " (" + u.machine + ")";
  return model + ", " + std::to_string(cores > 0 ? cores : 1) + " cores, " + kernel;
}

std::string machine_slug() {
  std::string model;
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 1);
      break;
    }
  }
  std::string lower;
  for (char c : model) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* drop : {"(r)", "(tm)", " cpu", " processor", "@"}) {
    for (size_t p; (p = lower.find(drop)) != std::string::npos;) {
      lower.erase(p, std::strlen(drop));
      if (std::strcmp(drop, "@") == 0) lower.erase(p);  // the clock speed
    }
  }
  std::string slug;
  for (char c : lower) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      slug += c;
    } else if (!slug.empty() && slug.back() != '-') {
      slug += '-';
    }
  }
  while (!slug.empty() && slug.back() == '-') slug.pop_back();
  // Keep it short: the first three words.
  size_t dashes = 0, cut = slug.size();
  for (size_t i = 0; i < slug.size(); ++i) {
    if (slug[i] == '-' && ++dashes == 3) {
      cut = i;
      break;
    }
  }
  slug.resize(cut);
  if (slug.empty()) slug = "cpu";
  const long cores = sysconf(_SC_NPROCESSORS_ONLN);
  return slug + "-" + std::to_string(cores > 0 ? cores : 1) + "c";
}

// --- The runs ----------------------------------------------------------------

namespace {

// cellmeetd's frame counters, by envelope body name.
struct FrameCounters {
  std::map<std::string, double> in;   // cellmeet_frames_in_total{type}
  std::map<std::string, double> out;  // cellmeet_frames_out_total{type}
};

bool scrape_frame_counters(uint16_t metrics_port, FrameCounters* counters, std::string* why) {
  metrics::PrometheusText text;
  if (!metrics::scrape_local(metrics_port, &text, why)) return false;
  counters->in = metrics::sum_by_label(text, "cellmeet_frames_in_total", "type");
  counters->out = metrics::sum_by_label(text, "cellmeet_frames_out_total", "type");
  return true;
}

}  // namespace

std::vector<std::string> calibration_mixes() {
  return {"heartbeat", "ballot", "reconnect", "mixed", "media"};
}

namespace {

// What sets one mix apart: its heartbeat, its size and its agenda.
struct MixShape {
  uint32_t heartbeat_interval_ms = 2000;
  uint32_t missed_heartbeats = 3;
  uint32_t cells = 10;  // at level 1, scale 1
  uint32_t officials = 19;
  std::string agenda = "cal-plain";
};

// The derived scenario's frame: its name, length and the base's server,
// rules, reconnect and media settings, with a quick chair.
v1::Scenario scenario_frame(const v1::Scenario& base, const std::string& mix, int level,
                            double run_seconds) {
  v1::Scenario s;
  s.set_name(base.name() + "-calibrate-" + mix + "-L" + std::to_string(level));
  s.set_question("Calibration run of cellsim calibrate (" + mix + ", level " +
                 std::to_string(level) + ")");
  s.set_seed(base.seed() + static_cast<uint64_t>(level) * 1000 + mix.size());
  s.set_duration_min(run_seconds / 60);
  s.set_start_unix_s(base.start_unix_s());
  s.set_quorum_deadline_min(run_seconds / 60 / 2);
  *s.mutable_server() = base.server();
  s.mutable_server()->set_nodes(1);
  s.mutable_server()->clear_calibration();
  *s.mutable_rules() = base.rules();
  *s.mutable_reconnect() = base.reconnect();
  s.mutable_reconnect()->set_initial_backoff_ms(200);
  s.mutable_reconnect()->set_max_backoff_ms(1000);
  *s.mutable_media() = base.media();
  s.mutable_chair()->set_open_deadline_min(0.05);
  s.mutable_chair()->set_wait_for_quorum_min(0.02);
  return s;
}

// The link: the base's fastest profile, without loss or outages.
v1::NetworkProfile calibration_link(const v1::Scenario& base) {
  const v1::NetworkProfile* fastest = nullptr;
  for (const auto& p : base.profiles()) {
    if (fastest == nullptr || p.base_one_way_ms() < fastest->base_one_way_ms()) fastest = &p;
  }
  v1::NetworkProfile link;
  if (fastest != nullptr) link = *fastest;
  link.set_name("cal-link");
  link.clear_outages();
  link.clear_loss();
  link.clear_title_vi();
  link.clear_title_en();
  if (link.base_one_way_ms() <= 0) link.set_base_one_way_ms(2);
  if (link.bandwidth_down_kbps() == 0) link.set_bandwidth_down_kbps(100000);
  if (link.bandwidth_up_kbps() == 0) link.set_bandwidth_up_kbps(50000);
  if (link.rto_min_ms() <= 0) link.set_rto_min_ms(200);
  if (!link.has_jitter_ms()) link.mutable_jitter_ms()->mutable_constant()->set_value(1);
  link.mutable_loss()->set_p_good_to_bad(0);
  link.mutable_loss()->set_p_bad_to_good(1);
  return link;
}

// Agendas: plain (no votes), media (one speaker per cell for the whole run:
// MediaFrames relayed to every other member, a broadcast-heavy mix with few
// Hellos) and votes (the vote open for the rest of the run; think times
// spread the ballots over it).
void add_agendas(const std::string& mix, int level, double run_seconds, v1::Scenario* s) {
  constexpr double kVoteItemMin = 0.02;
  auto* plain = s->add_agendas();
  plain->set_name("cal-plain");
  auto* plain_item = plain->add_items();
  plain_item->set_title("plain");
  plain_item->set_duration_min(run_seconds / 60);
  auto* media = s->add_agendas();
  media->set_name("cal-media");
  auto* media_item = media->add_items();
  media_item->set_title("media");
  media_item->set_duration_min(run_seconds / 60);
  media_item->set_floor_requests(12);
  auto* votes = s->add_agendas();
  votes->set_name("cal-votes");
  auto* it = votes->add_items();
  it->set_title("votes");
  it->set_duration_min(kVoteItemMin);
  it->set_floor_requests(mix == "mixed" ? 3 : 0);
  auto* v = it->add_votes();
  v->set_vote_id(1);
  v->set_kind(level % 2 == 0 ? v1::VOTE_KIND_ELECTION : v1::VOTE_KIND_RESOLUTION);
  v->set_subject("calibration");
  v->set_open_s(std::max(4.0, run_seconds));
  v->set_yes_probability(0.8);
  v->set_no_probability(0.1);
}

// The mix's shape; the reconnect mix adds its flaky link (outages past the
// liveness window, 0.6 s: each breaks the connection, and the member comes
// back with a Hello, a resume, not a JoinMeeting) and the media mix its codec.
MixShape mix_shape(const std::string& mix, const v1::NetworkProfile& link, v1::Scenario* s) {
  MixShape m;
  if (mix == "heartbeat") {
    m = {250, 4, 24, 19, "cal-plain"};
  } else if (mix == "ballot") {
    m = {5000, 3, 24, 29, "cal-votes"};
  } else if (mix == "reconnect") {
    m = {300, 2, 24, 15, "cal-plain"};
    v1::NetworkProfile flaky = link;
    flaky.set_name("cal-flaky");
    flaky.mutable_outages()->set_mean_up_s(2);
    flaky.mutable_outages()->mutable_down_s()->mutable_constant()->set_value(1.5);
    *s->add_profiles() = flaky;
  } else if (mix == "media") {
    m = {3000, 3, 6, 19, "cal-media"};
    if (s->media().frame_ms() == 0) s->mutable_media()->set_frame_ms(20);
    if (s->media().bitrate_kbps() == 0) s->mutable_media()->set_bitrate_kbps(24);
  } else {  // mixed
    m = {1000, 6, 30, 11, "cal-votes"};
  }
  return m;
}

// The one cell type: the mix's cells scaled by level and scale, everyone
// attending, joining in the first seconds.
void add_cell_type(const std::string& mix, const MixShape& m, int level, double run_seconds,
                   double scale, v1::Scenario* s) {
  const double scaled = std::round(m.cells * level * scale);
  auto* ct = s->add_cell_types();
  ct->set_name("cal");
  ct->set_count(static_cast<uint32_t>(std::max(1.0, scaled)));
  ct->mutable_members()->set_official(m.officials);
  ct->mutable_members()->set_probationary(1);
  auto* l = ct->add_links();
  l->set_profile(mix == "reconnect" ? "cal-flaky" : "cal-link");
  l->set_share(1);
  ct->set_attend_probability(1);
  ct->set_exempted_attend_probability(0);
  ct->set_excused_probability(0);
  ct->mutable_join_offset_min()->mutable_uniform()->set_min(0);
  ct->mutable_join_offset_min()->mutable_uniform()->set_max(std::min(0.05, run_seconds / 60 / 4));
  ct->set_join_earliest_min(0);
  ct->set_agenda(m.agenda);
  ct->set_start_window_min(std::min(0.02, run_seconds / 60 / 8));
  ct->set_start_offset_min(0);
  ct->set_crash_probability(0);
}

}  // namespace

v1::Scenario calibration_scenario(const v1::Scenario& base, const std::string& mix, int level,
                                  double run_seconds, double scale) {
  CELLSIM_ASSERT(level >= 1);
  CELLSIM_ASSERT(run_seconds > 0 && scale > 0);
  // Members ask for the floor 5-60 s into an item and get it 5 s later
  // (agents/agent.cc): the media mix runs long enough for speakers to speak.
  if (mix == "media") run_seconds = std::max(run_seconds, kMediaRunS);
  v1::Scenario s = scenario_frame(base, mix, level, run_seconds);
  const v1::NetworkProfile link = calibration_link(base);
  *s.add_profiles() = link;
  add_agendas(mix, level, run_seconds, &s);
  const MixShape m = mix_shape(mix, link, &s);
  s.mutable_rules()->set_heartbeat_interval_ms(m.heartbeat_interval_ms);
  s.mutable_rules()->set_missed_heartbeats(m.missed_heartbeats);
  add_cell_type(mix, m, level, run_seconds, scale, &s);
  return s;
}

namespace {

// This thread's CPU time, ns.
uint64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

// One handshake between the two contexts over memory; adds each side's CPU
// (ns) to *server_ns and *client_ns. False with *why.
bool one_handshake(const net::TlsContext& server_ctx, const net::TlsContext& client_ctx,
                   uint64_t* server_ns, uint64_t* client_ns, std::string* why) {
  constexpr int kMaxFlights = 8;  // TLS 1.3 needs 3
  uint64_t t0 = thread_cpu_ns();
  auto client = net::TlsSession::client(client_ctx, "127.0.0.1");
  std::string to_server, to_client, plain;
  client->take_output(&to_server);
  uint64_t t1 = thread_cpu_ns();
  *client_ns += t1 - t0;
  auto server = net::TlsSession::server(server_ctx);
  for (int i = 0; i < kMaxFlights && !(client->established() && server->established()); ++i) {
    t0 = thread_cpu_ns();
    server->feed(to_server, &plain);
    to_server.clear();
    server->take_output(&to_client);
    t1 = thread_cpu_ns();
    *server_ns += t1 - t0;
    client->feed(to_client, &plain);
    to_client.clear();
    client->take_output(&to_server);
    *client_ns += thread_cpu_ns() - t1;
  }
  t0 = thread_cpu_ns();
  const bool ok = server->established() && !server->failed();
  if (!ok) *why = server->failed() ? server->error() : client->error();
  server.reset();
  *server_ns += thread_cpu_ns() - t0;
  return ok;
}

}  // namespace

TlsHandshakeCost measure_tls_handshake(int handshakes) {
  TlsHandshakeCost out;
  net::PemCertKey ca, cert;
  std::shared_ptr<net::TlsContext> server_ctx, client_ctx;
  if (!net::make_tls_ca("cellsim calibrate CA", &ca, &out.error) ||
      !net::make_tls_server_cert(ca, {"127.0.0.1"}, &cert, &out.error) ||
      !(server_ctx = net::TlsContext::server_from_pem(cert.cert_pem, cert.key_pem, &out.error)) ||
      !(client_ctx = net::TlsContext::client_from_pem(ca.cert_pem, &out.error))) {
    return out;
  }
  const int per_round = std::max(1, handshakes / kTlsMeasureRounds);
  std::vector<double> server_us, client_us;
  for (int r = 0; r < kTlsMeasureRounds; ++r) {
    uint64_t server_ns = 0, client_ns = 0;
    for (int i = 0; i < per_round; ++i) {
      if (!one_handshake(*server_ctx, *client_ctx, &server_ns, &client_ns, &out.error)) {
        out.error = "TLS handshake failed: " + out.error;
        return out;
      }
    }
    server_us.push_back(static_cast<double>(server_ns) / 1e3 / per_round);
    client_us.push_back(static_cast<double>(client_ns) / 1e3 / per_round);
  }
  std::sort(server_us.begin(), server_us.end());
  std::sort(client_us.begin(), client_us.end());
  out.handshakes = per_round * kTlsMeasureRounds;
  out.server_us = server_us[server_us.size() / 2];
  out.client_us = client_us[client_us.size() / 2];
  out.ok = true;
  return out;
}

namespace {

// The calibration's working folder in /tmp (removed with everything in it on
// destruction) and the key cellmeetd made in it.
class Workspace {
 public:
  Workspace() = default;
  ~Workspace() {
    if (dir_.empty()) return;
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;

  // Makes the folder, and the key with `server_binary keygen`. False with *error.
  bool create(const std::string& server_binary, std::string* error) {
    char tmpl[] = "/tmp/cellsim-calibrate-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      *error = "cannot create a temporary folder in /tmp";
      return false;
    }
    dir_ = tmpl;
    SpawnOptions quiet;  // keygen prints the key's path; its errors stay on stderr
    quiet.output_file = "/dev/null";
    quiet.keep_stderr = true;
    if (run_child({server_binary, "keygen", "--out", key_file()}, quiet) != 0) {
      *error = "`" + server_binary + " keygen` failed";
      return false;
    }
    std::string why;
    if (!read_key_file(key_file(), &key_, &why)) {
      *error = "reading the key cellmeetd wrote: " + why;
      return false;
    }
    return true;
  }

  const std::string& dir() const { return dir_; }
  std::string key_file() const { return dir_ + "/key"; }
  std::string deployment_file() const { return dir_ + "/deployment.textproto"; }
  const std::string& key() const { return key_; }

 private:
  std::string dir_;
  std::string key_;
};

// The derived scenario is valid, and its rosters are in the deployment file.
bool prepare_run(const v1::Scenario& s, const std::string& deployment, std::string* error) {
  std::vector<scenario::LoadError> errors;
  if (!scenario::validate_scenario(s, &errors)) {
    *error = "the derived scenario " + s.name() +
             " is invalid: " + (errors.empty() ? std::string("?") : errors[0].to_string());
    return false;
  }
  std::ofstream d(deployment);
  d << deployment_text(s);
  if (!d) {
    *error = "cannot write " + deployment;
    return false;
  }
  return true;
}

// `cellmeetd serve`'s flags for the run: one shard thread, ephemeral ports,
// the scenario's rules.
std::vector<std::string> serve_args(const v1::Scenario& s, const Workspace& ws) {
  const auto q = scenario::engine_quorum(s.rules().quorum_fraction());
  return {"--key",
          ws.key_file(),
          "--deployment",
          ws.deployment_file(),
          "--threads",
          "1",
          "--port",
          "0",
          "--metrics-port",
          "0",
          "--heartbeat-interval-ms",
          std::to_string(s.rules().heartbeat_interval_ms()),
          "--missed-heartbeats",
          std::to_string(s.rules().missed_heartbeats()),
          "--quorum",
          std::to_string(q.num) + "/" + std::to_string(q.den)};
}

// The live driver's run against the server, and the CPU window around it.
struct DriveResult {
  LoadOutcome load;
  double window_s = 0;      // the run plus kSettleS
  double connection_s = 0;  // connections up × seconds
  bool stopped = false;     // on_progress said stop
};

DriveResult drive(const CalibrateOptions& o, const v1::Scenario& s, const std::string& label,
                  uint16_t port, const std::string& key) {
  DriveResult d;
  LoadOptions lo;
  lo.target_host = "127.0.0.1";
  lo.target_port = port;
  lo.key = key;
  lo.scenario_file = o.base_scenario_file;
  lo.progress_every_s = 0.25;
  double last_t = 0;
  lo.on_progress = [&](const Progress& p) {
    d.connection_s += static_cast<double>(p.connected) * std::max(0.0, p.elapsed_s - last_t);
    last_t = p.elapsed_s;
    if (o.on_progress && !o.on_progress(p.elapsed_s, p.duration_s, label)) {
      d.stopped = true;
      return false;
    }
    return true;
  };
  const auto w0 = std::chrono::steady_clock::now();
  d.load = run_load(s, lo);
  std::this_thread::sleep_for(std::chrono::duration<double>(kSettleS));
  d.window_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
  return d;
}

// One run's figures: the counters' differences (frames of no real type left
// out), the liveness checks estimated from the connection-seconds, the CPU.
CalibrationRun run_figures(const std::string& label, const v1::Scenario& s, const DriveResult& d,
                           const FrameCounters& before, const FrameCounters& after,
                           uint64_t cpu_ns) {
  CalibrationRun r;
  r.label = label;
  r.members = d.load.members;
  for (const auto& [t, v] : after.in) {
    const auto it = before.in.find(t);
    const double diff = v - (it == before.in.end() ? 0 : it->second);
    if (diff > 0 && t != "unknown" && t != "body_not_set" && t != "none") r.frames_in[t] = diff;
  }
  for (const auto& [t, v] : after.out) {
    const auto it = before.out.find(t);
    r.frames_out += v - (it == before.out.end() ? 0 : it->second);
  }
  const double hb_s = s.rules().heartbeat_interval_ms() / 1000.0;
  const double live_s = hb_s * s.rules().missed_heartbeats();
  r.timer_runs = d.connection_s / std::max(live_s - hb_s, hb_s);
  r.seconds = d.window_s;
  r.cpu_ns = static_cast<double>(cpu_ns);
  return r;
}

std::string run_log_line(const CalibrationRun& r) {
  double in_total = 0;
  for (const auto& [t, v] : r.frames_in) in_total += v;
  std::ostringstream line;
  line << "  " << r.label << ": " << r.members << " members, " << fixed(in_total, 0)
       << " frames in, " << fixed(r.frames_out, 0) << " out, server CPU "
       << fixed(r.cpu_ns / 1e6, 1) << " ms in " << fixed(r.seconds, 1) << " s";
  return line.str();
}

// One (mix, level) run against a fresh server, appended to out->runs. False
// with out->error (out->interrupted too when on_progress stopped it).
bool measure_run(const CalibrateOptions& o, const Workspace& ws, const v1::Scenario& base,
                 const std::string& mix, int level, CalibrateOutcome* out) {
  const v1::Scenario s = calibration_scenario(base, mix, level, o.run_seconds, o.scale);
  if (!prepare_run(s, ws.deployment_file(), &out->error)) return false;
  const std::string label = mix + " L" + std::to_string(level);
  ServerProcess server;
  FrameCounters before, after;
  uint64_t cpu0 = 0, cpu1 = 0;
  if (!server.start(o.server_binary, serve_args(s, ws), ws.dir(), &out->error) ||
      !scrape_frame_counters(server.metrics_port(), &before, &out->error) ||
      !process_cpu_ns(server.pid(), &cpu0, &out->error)) {
    return false;
  }
  if (o.on_log) o.on_log("run " + label + ": " + s.name());
  const DriveResult d = drive(o, s, label, server.port(), ws.key());
  if (!process_cpu_ns(server.pid(), &cpu1, &out->error)) return false;
  if (!d.load.ok) {
    out->error = "run " + label + ": " + d.load.error;
    return false;
  }
  if (d.stopped) {
    out->interrupted = true;
    out->error = "interrupted";
    return false;
  }
  if (!scrape_frame_counters(server.metrics_port(), &after, &out->error)) return false;
  server.stop();
  CalibrationRun r = run_figures(label, s, d, before, after, cpu1 - cpu0);
  if (o.on_log) o.on_log(run_log_line(r));
  out->runs.push_back(std::move(r));
  return true;
}

// What the calibration file says of where its figures come from.
std::string calibration_source(const v1::Scenario& base, const CalibrateOptions& o,
                               const CalibrateOutcome& out, const std::string& date) {
  std::ostringstream source;
  source << "cellsim calibrate, " << date << ": cellmeetd (--threads 1) driven by the live "
         << "driver over loopback in " << out.runs.size() << " runs (" << calibration_mixes().size()
         << " workload mixes x " << o.levels << " load levels, " << fixed(o.run_seconds, 0)
         << " s each, the media mix's " << fixed(std::max(o.run_seconds, kMediaRunS), 0)
         << " s) derived from "
         << (o.base_scenario_file.empty() ? base.name() : o.base_scenario_file)
         << "; server CPU from /proc schedstat (process accounting), frames from its /metrics "
         << "counters; non-negative least squares, every type costing at least the "
         << out.fit.reference << " cost; the engine's liveness checks are folded into the "
         << "per-frame costs (timer_us 0); idle " << fixed(out.fit.idle_us_per_s, 1)
         << " us/s not modelled";
  if (!out.fit.folded.empty()) {
    source << "; folded into the default:";
    for (const auto& t : out.fit.folded) source << " " << t;
  }
  return source.str();
}

std::string tls_source(const TlsHandshakeCost& tls) {
  std::ostringstream source;
  source << "; tls_handshake_us: the server's side of " << tls.handshakes
         << " TLS 1.3 handshakes in process (ECDSA P-256 certificate, memory BIOs, thread CPU "
            "clock, median of "
         << kTlsMeasureRounds << " rounds; client side " << fixed(tls.client_us, 0) << " us)";
  return source.str();
}

// After the runs: the fit, the TLS handshake, the calibration and its file.
// False with out->error.
bool finish(const v1::Scenario& base, const CalibrateOptions& o, CalibrateOutcome* out) {
  out->fit = fit_costs(&out->runs, FitOptions{});
  if (!out->fit.ok) {
    out->error = out->fit.error;
    return false;
  }
  const std::string date = utc_date();  // the runs' end, before the handshakes
  const TlsHandshakeCost tls = measure_tls_handshake(o.tls_handshakes);
  if (!tls.ok) {
    out->error = "measuring the TLS handshake: " + tls.error;
    return false;
  }
  if (o.on_log) {
    o.on_log("  TLS 1.3 handshake: server " + fixed(tls.server_us, 0) + " us, client " +
             fixed(tls.client_us, 0) + " us CPU (" + std::to_string(tls.handshakes) +
             " in process)");
  }
  const std::string source = calibration_source(base, o, *out, date) + tls_source(tls);
  out->calibration = to_calibration(out->fit, machine_description(), source);
  out->calibration.set_tls_handshake_us(tls.server_us);
  out->file_text = calibration_file_text(out->calibration, runs_table(out->runs));
  return true;
}

}  // namespace

CalibrateOutcome calibrate(const v1::Scenario& base, const CalibrateOptions& o) {
  CalibrateOutcome out;
  if (o.server_binary.empty() || ::access(o.server_binary.c_str(), X_OK) != 0) {
    out.error = "no cellmeetd binary at \"" + o.server_binary + "\" (--server PATH)";
    return out;
  }
  if (o.levels < 1 || o.levels > kMaxCalibrationLevels) {
    out.error = "levels must be 1.." + std::to_string(kMaxCalibrationLevels);
    return out;
  }
  Workspace ws;
  if (!ws.create(o.server_binary, &out.error)) return out;
  for (int level = 1; level <= o.levels; ++level) {
    for (const std::string& mix : calibration_mixes()) {
      if (!measure_run(o, ws, base, mix, level, &out)) return out;
    }
  }
  out.ok = finish(base, o, &out);
  CELLSIM_ASSERT(!out.ok ||
                 out.runs.size() == static_cast<size_t>(o.levels) * calibration_mixes().size());
  return out;
}

}  // namespace cellsim::live
