#include "metrics/results_io.h"

#include "metrics/attendance.h"

#include <fcntl.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <tuple>
#include <utility>
#include <vector>

#include "metrics/histogram.h"
#include "metrics/recorder.h"

namespace cellsim::metrics {
namespace {

namespace fs = std::filesystem;
namespace pb = ::google::protobuf;

bool fail(std::string* why, std::string msg) {
  if (why != nullptr) *why = std::move(msg);
  return false;
}

std::string errno_text(int err) { return std::strerror(err); }

// Writes `data` to `path` through `path`.tmp, fsync and rename.
bool write_atomically(const fs::path& path, const std::string& data, std::string* why) {
  const fs::path tmp = fs::path(path).concat(".tmp");
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return fail(why, "cannot create " + tmp.string() + ": " + errno_text(errno));
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return fail(why, "cannot write " + tmp.string() + ": " + errno_text(err));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return fail(why, "cannot write " + tmp.string() + ": " + errno_text(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return fail(why,
                "cannot rename " + tmp.string() + " to " + path.string() + ": " + errno_text(err));
  }
  return true;
}

// Reads a whole file; on failure says why (naming it).
bool read_file(const fs::path& path, std::string* data, std::string* why) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(why, "cannot read " + path.string() + ": " + errno_text(errno));
  data->clear();
  char buf[64 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return fail(why, "cannot read " + path.string() + ": " + errno_text(err));
    }
    if (n == 0) break;
    data->append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return true;
}

bool looks_like_json(const fs::path& path, const std::string& data) {
  if (path.extension() == ".json") return true;
  if (path.extension() == ".pb") return false;
  const size_t first = data.find_first_not_of(" \t\r\n");
  return first != std::string::npos && data[first] == '{';
}

std::string group_label(const v1::Group& g) {
  return g.kind() == kGroupOverall ? std::string("group overall")
                                   : "group " + g.kind() + " \"" + g.name() + "\"";
}

// Adds every integer field of `from` into `to` (same message type).
bool add_counters(const pb::Message& from, pb::Message* to, std::string* why) {
  const pb::Descriptor* d = from.GetDescriptor();
  const pb::Reflection* r = from.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const pb::FieldDescriptor* f = d->field(i);
    if (f->is_repeated()) return fail(why, "cannot merge repeated field " + f->full_name());
    switch (f->cpp_type()) {
      case pb::FieldDescriptor::CPPTYPE_UINT64:
        r->SetUInt64(to, f, r->GetUInt64(*to, f) + r->GetUInt64(from, f));
        break;
      case pb::FieldDescriptor::CPPTYPE_INT64:
        r->SetInt64(to, f, r->GetInt64(*to, f) + r->GetInt64(from, f));
        break;
      case pb::FieldDescriptor::CPPTYPE_UINT32:
        r->SetUInt32(to, f, r->GetUInt32(*to, f) + r->GetUInt32(from, f));
        break;
      default:
        return fail(why, "cannot merge non-integer field " + f->full_name());
    }
  }
  return true;
}

bool merge_histograms(const v1::Histogram& a, const v1::Histogram& b, v1::Histogram* out,
                      std::string* why) {
  Histogram ha, hb;
  if (!Histogram::from_proto(a, &ha, why) || !Histogram::from_proto(b, &hb, why)) return false;
  if (!ha.merge(hb)) {
    return fail(why, "histogram layouts differ (" + std::to_string(a.lowest_discernible()) + ".." +
                         std::to_string(a.highest_trackable()) + " " + a.unit() + ", " +
                         std::to_string(a.significant_digits()) + " digits vs " +
                         std::to_string(b.lowest_discernible()) + ".." +
                         std::to_string(b.highest_trackable()) + " " + b.unit() + ", " +
                         std::to_string(b.significant_digits()) + " digits)");
  }
  ha.to_proto(out);
  return true;
}

// Adds the metrics `from` into `to`, matched by name (kept sorted by name).
bool merge_latencies(const pb::RepeatedPtrField<v1::LatencyMetric>& from,
                     pb::RepeatedPtrField<v1::LatencyMetric>* to, const std::string& label,
                     std::string* why) {
  std::map<std::string, v1::LatencyMetric> latencies;
  for (const v1::LatencyMetric& m : *to) latencies.emplace(m.name(), m);
  for (const v1::LatencyMetric& m : from) {
    auto [it, inserted] = latencies.emplace(m.name(), m);
    if (inserted) continue;
    std::string hwhy;
    if (!merge_histograms(it->second.histogram(), m.histogram(), it->second.mutable_histogram(),
                          &hwhy)) {
      return fail(why, label + ", " + m.name() + ": " + hwhy);
    }
    it->second.set_censored(it->second.censored() + m.censored());
  }
  to->Clear();
  for (auto& [name, m] : latencies) *to->Add() = std::move(m);
  return true;
}

// Adds `g`'s batches into `acc`'s: the same (seed, index) merge, others are
// kept; sorted by (seed, index).
bool merge_batches(const v1::Group& g, v1::Group* acc, std::string* why) {
  std::map<std::pair<uint64_t, uint32_t>, v1::CellBatch> batches;
  for (const v1::CellBatch& b : acc->batches()) batches.emplace(std::pair(b.seed(), b.index()), b);
  for (const v1::CellBatch& b : g.batches()) {
    auto [it, inserted] = batches.emplace(std::pair(b.seed(), b.index()), b);
    if (inserted) continue;
    const std::string label = group_label(g) + ", batch " + std::to_string(b.index());
    if (!merge_latencies(b.latencies(), it->second.mutable_latencies(), label, why)) return false;
  }
  acc->clear_batches();
  for (auto& [key, b] : batches) *acc->add_batches() = std::move(b);
  return true;
}

// Adds `g`'s voice figures into `acc`'s (the same threshold; batches by
// (seed, index) as merge_batches()).
bool merge_voice(const v1::VoiceStats& v, v1::VoiceStats* acc, const std::string& label,
                 std::string* why) {
  if (acc->intervals() > 0 && v.intervals() > 0 &&
      acc->mos_threshold_milli() != v.mos_threshold_milli()) {
    return fail(why, label + ": voice figures with different MOS thresholds (" +
                         std::to_string(acc->mos_threshold_milli() / 1000.0) + " and " +
                         std::to_string(v.mos_threshold_milli() / 1000.0) + ")");
  }
  if (acc->intervals() > 0 && v.intervals() > 0 &&
      acc->target_share_milli() != v.target_share_milli()) {
    return fail(why, label + ": voice figures with different target shares");
  }
  if (acc->intervals() == 0) {
    acc->set_mos_threshold_milli(v.mos_threshold_milli());
    acc->set_target_share_milli(v.target_share_milli());
  }
  v1::Histogram mos;
  std::string hwhy;
  if (!acc->has_mos_milli()) {
    mos = v.mos_milli();
  } else if (!merge_histograms(acc->mos_milli(), v.mos_milli(), &mos, &hwhy)) {
    return fail(why, label + ", voice MOS: " + hwhy);
  }
  std::map<std::pair<uint64_t, uint32_t>, v1::VoiceBatch> batches;
  for (const v1::VoiceBatch& b : acc->batches()) batches.emplace(std::pair(b.seed(), b.index()), b);
  for (const v1::VoiceBatch& b : v.batches()) {
    auto [it, inserted] = batches.emplace(std::pair(b.seed(), b.index()), b);
    if (inserted) continue;
    it->second.set_speech_ms(it->second.speech_ms() + b.speech_ms());
    it->second.set_speech_ms_at_threshold(it->second.speech_ms_at_threshold() +
                                          b.speech_ms_at_threshold());
  }
  const uint32_t threshold = acc->mos_threshold_milli();
  acc->set_intervals(acc->intervals() + v.intervals());
  acc->set_frames_sent(acc->frames_sent() + v.frames_sent());
  acc->set_frames_played(acc->frames_played() + v.frames_played());
  acc->set_frames_late(acc->frames_late() + v.frames_late());
  acc->set_speech_ms(acc->speech_ms() + v.speech_ms());
  acc->set_speech_ms_at_threshold(acc->speech_ms_at_threshold() + v.speech_ms_at_threshold());
  acc->set_mouth_to_ear_us_frames(acc->mouth_to_ear_us_frames() + v.mouth_to_ear_us_frames());
  acc->set_burst_r_milli_frames(acc->burst_r_milli_frames() + v.burst_r_milli_frames());
  acc->set_mos_threshold_milli(threshold);
  *acc->mutable_mos_milli() = std::move(mos);
  acc->clear_batches();
  for (auto& [key, b] : batches) *acc->add_batches() = std::move(b);
  return true;
}

// What the voice figures promise: played + late ≤ sent, at-threshold ≤
// speech time (in total and per batch), batches unique and below
// kCellBatches, a valid MOS histogram.
bool validate_voice(const v1::VoiceStats& v, const std::string& label, std::string* why) {
  if (v.frames_played() + v.frames_late() > v.frames_sent()) {
    return fail(why, label + ": voice frames played (" + std::to_string(v.frames_played()) +
                         ") and late (" + std::to_string(v.frames_late()) +
                         ") are more than those sent (" + std::to_string(v.frames_sent()) + ")");
  }
  if (v.speech_ms_at_threshold() > v.speech_ms()) {
    return fail(why, label + ": voice speech_ms_at_threshold is more than speech_ms");
  }
  std::set<std::pair<uint64_t, uint32_t>> keys;
  for (const v1::VoiceBatch& b : v.batches()) {
    if (!keys.emplace(b.seed(), b.index()).second || b.index() >= Recorder::kCellBatches ||
        b.speech_ms_at_threshold() > b.speech_ms()) {
      return fail(why, label + ": voice batch " + std::to_string(b.index()) + " of seed " +
                           std::to_string(b.seed()) +
                           " repeats, is out of range or has more time at the threshold than "
                           "speech time");
    }
  }
  if (v.has_mos_milli()) {
    Histogram h;
    std::string hwhy;
    if (!Histogram::from_proto(v.mos_milli(), &h, &hwhy)) {
      return fail(why, label + ", voice MOS: invalid histogram: " + hwhy);
    }
  }
  return true;
}

}  // namespace

bool merge_group(const v1::Group& g, v1::Group* acc, std::string* why) {
  if (acc->title_vi().empty()) acc->set_title_vi(g.title_vi());
  if (acc->title_en().empty()) acc->set_title_en(g.title_en());
  acc->set_members(acc->members() + g.members());
  acc->set_cells(acc->cells() + g.cells());
  if (!merge_latencies(g.latencies(), acc->mutable_latencies(), group_label(g), why)) return false;
  if (!merge_batches(g, acc, why)) return false;

  std::string cwhy;
  if (g.has_quorum() && !add_counters(g.quorum(), acc->mutable_quorum(), &cwhy)) {
    return fail(why, group_label(g) + ": " + cwhy);
  }
  if (g.has_traffic() && !add_counters(g.traffic(), acc->mutable_traffic(), &cwhy)) {
    return fail(why, group_label(g) + ": " + cwhy);
  }
  if (g.has_voice() && !merge_voice(g.voice(), acc->mutable_voice(), group_label(g), why)) {
    return false;
  }
  return true;
}

namespace {

int kind_rank(const std::string& kind) {
  if (kind == kGroupOverall) return 0;
  if (kind == kGroupCellType) return 1;
  if (kind == kGroupProfile) return 2;
  return 3;
}

// Sort key of a shard name "i/N": numeric when it parses.
std::tuple<bool, uint64_t, uint64_t, std::string> shard_key(const std::string& s) {
  uint64_t i = 0, n = 0;
  const size_t slash = s.find('/');
  bool ok = slash != std::string::npos;
  if (ok) {
    const char* b = s.data();
    const char* e = b + s.size();
    auto r1 = std::from_chars(b, b + slash, i);
    auto r2 = std::from_chars(b + slash + 1, e, n);
    ok = r1.ec == std::errc() && r1.ptr == b + slash && r2.ec == std::errc() && r2.ptr == e;
  }
  if (!ok) i = n = 0;
  return {!ok, i, n, s};
}

std::string join_hosts(const std::string& a, const std::string& b) {
  std::set<std::string> hosts;
  for (const std::string* s : {&a, &b}) {
    size_t start = 0;
    while (start <= s->size()) {
      size_t comma = s->find(',', start);
      if (comma == std::string::npos) comma = s->size();
      if (comma > start) hosts.insert(s->substr(start, comma - start));
      start = comma + 1;
    }
  }
  std::string out;
  for (const std::string& h : hosts) {
    if (!out.empty()) out += ',';
    out += h;
  }
  return out;
}

}  // namespace

std::string transport_of(const v1::RunInfo& run) {
  return run.media_transport().empty() ? std::string(kTransportInBand) : run.media_transport();
}

namespace {

bool merge_run(const v1::RunInfo& a, const v1::RunInfo& b, v1::RunInfo* out, std::string* why) {
  auto differ = [why](const char* what, const std::string& x, const std::string& y) {
    return fail(why, std::string("cannot merge results of different ") + what + ": \"" + x +
                         "\" and \"" + y + "\"");
  };
  if (a.scenario() != b.scenario()) return differ("scenarios", a.scenario(), b.scenario());
  if (a.seed() != b.seed()) {
    return differ("seeds", std::to_string(a.seed()), std::to_string(b.seed()));
  }
  if (a.mode() != b.mode()) return differ("modes", a.mode(), b.mode());
  if (a.link_mode() != b.link_mode()) return differ("link modes", a.link_mode(), b.link_mode());
  if (transport_of(a) != transport_of(b)) {
    return differ("media transports", transport_of(a), transport_of(b));
  }
  if (a.cellsim_version() != b.cellsim_version()) {
    return differ("cellsim versions", a.cellsim_version(), b.cellsim_version());
  }
  if (a.calibration() != b.calibration()) {
    return differ("calibrations", a.calibration(), b.calibration());
  }
  if (a.shard_count() != b.shard_count()) {
    return differ("shard counts", std::to_string(a.shard_count()), std::to_string(b.shard_count()));
  }
  for (const std::string& s : a.shards()) {
    if (std::find(b.shards().begin(), b.shards().end(), s) != b.shards().end()) {
      return fail(why, "cannot merge: shard " + s + " is in both results");
    }
  }

  out->Clear();
  out->set_scenario(a.scenario());
  if (a.scenario_file().empty() || b.scenario_file().empty()) {
    out->set_scenario_file(a.scenario_file().empty() ? b.scenario_file() : a.scenario_file());
  } else {
    out->set_scenario_file(std::min(a.scenario_file(), b.scenario_file()));
  }
  out->set_seed(a.seed());
  out->set_mode(a.mode());
  out->set_link_mode(a.link_mode());
  // Files from before the field stay without it (empty means in_band).
  if (!a.media_transport().empty() || !b.media_transport().empty()) {
    out->set_media_transport(transport_of(a));
  }
  out->set_cellsim_version(a.cellsim_version());
  out->set_calibration(a.calibration());
  std::vector<std::string> shards(a.shards().begin(), a.shards().end());
  shards.insert(shards.end(), b.shards().begin(), b.shards().end());
  std::sort(shards.begin(), shards.end(),
            [](const std::string& x, const std::string& y) { return shard_key(x) < shard_key(y); });
  for (std::string& s : shards) out->add_shards(std::move(s));
  out->set_shard_count(a.shard_count());
  out->set_partial(a.partial() || b.partial());
  out->set_virtual_ns(std::max(a.virtual_ns(), b.virtual_ns()));
  out->set_events(a.events() + b.events());
  out->set_frames(a.frames() + b.frames());
  out->set_members(a.members() + b.members());
  out->set_cells(a.cells() + b.cells());
  out->set_wall_s(std::max(a.wall_s(), b.wall_s()));
  out->set_finished_unix_s(std::max(a.finished_unix_s(), b.finished_unix_s()));
  out->set_peak_rss_bytes(std::max(a.peak_rss_bytes(), b.peak_rss_bytes()));
  out->set_host(join_hosts(a.host(), b.host()));
  return true;
}

}  // namespace

bool write_results(const std::string& dir, const v1::Results& results, std::string* why) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail(why, "cannot create directory " + dir + ": " + ec.message());
  if (!fs::is_directory(dir, ec)) return fail(why, dir + " is not a directory");

  std::string binary;
  if (!results.SerializeToString(&binary)) {
    return fail(why, "cannot serialize results for " + (fs::path(dir) / kResultsPbFile).string());
  }
  pb::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string json;
  const auto status = pb::util::MessageToJsonString(results, &json, options);
  if (!status.ok()) {
    return fail(why, "cannot write " + (fs::path(dir) / kResultsJsonFile).string() + ": " +
                         status.ToString());
  }
  if (json.empty() || json.back() != '\n') json += '\n';
  return write_atomically(fs::path(dir) / kResultsPbFile, binary, why) &&
         write_atomically(fs::path(dir) / kResultsJsonFile, json, why);
}

bool read_results(const std::string& path, v1::Results* out, std::string* why) {
  std::error_code ec;
  fs::path file(path);
  const fs::file_status st = fs::status(file, ec);
  if (!fs::exists(st)) {
    return fail(why, "cannot read results " + path + ": no such file or directory");
  }
  if (fs::is_directory(st)) {
    file /= kResultsPbFile;
    if (!fs::exists(file, ec)) {
      return fail(why, "cannot read results: directory " + path + " has no " + kResultsPbFile);
    }
  }
  std::string data;
  if (!read_file(file, &data, why)) return false;

  v1::Results results;
  const std::string name = file.string();
  if (looks_like_json(file, data)) {
    const auto status = pb::util::JsonStringToMessage(data, &results);
    if (!status.ok()) {
      return fail(why, name + ": not cellsim results (JSON): " + status.ToString());
    }
  } else {
    if (data.empty()) return fail(why, name + ": not cellsim results (empty file)");
    if (!results.ParseFromString(data)) {
      return fail(why, name + ": not cellsim results (not a binary results message)");
    }
  }
  const bool validation = results.has_validation() && results.groups_size() == 0;
  if (!validation && (results.groups_size() == 0 || results.groups(0).kind() != kGroupOverall)) {
    return fail(why, name + ": not cellsim results (no overall group first)");
  }
  std::string vwhy;
  if (!validate_results(results, &vwhy)) return fail(why, name + ": invalid results: " + vwhy);
  *out = std::move(results);
  return true;
}

bool validate_results(const v1::Results& results, std::string* why) {
  std::set<std::pair<std::string, std::string>> seen;
  for (const v1::Group& g : results.groups()) {
    if (g.kind() != kGroupOverall && g.kind() != kGroupCellType && g.kind() != kGroupProfile) {
      return fail(why, "group kind \"" + g.kind() + "\" (name \"" + g.name() +
                           "\") is not overall, cell_type or profile");
    }
    if (g.kind() == kGroupOverall && !g.name().empty()) {
      return fail(why, "the overall group is named \"" + g.name() + "\"");
    }
    if (!seen.emplace(g.kind(), g.name()).second) {
      return fail(why, group_label(g) + " appears twice");
    }
    std::set<std::string> names;
    for (const v1::LatencyMetric& m : g.latencies()) {
      if (!names.insert(m.name()).second) {
        return fail(why, group_label(g) + ": metric " + m.name() + " appears twice");
      }
      if (!m.has_histogram()) return fail(why, group_label(g) + ", " + m.name() + ": no histogram");
      Histogram h;
      std::string hwhy;
      if (!Histogram::from_proto(m.histogram(), &h, &hwhy)) {
        return fail(why, group_label(g) + ", " + m.name() + ": invalid histogram: " + hwhy);
      }
    }
    if (g.has_quorum()) {
      const v1::QuorumStats& q = g.quorum();
      const std::pair<const char*, std::pair<uint64_t, uint64_t>> shares[] = {
          {"meetings_quorate_by_deadline", {q.meetings_quorate_by_deadline(), q.meetings()}},
          {"meetings_quorate_by_deadline_chair",
           {q.meetings_quorate_by_deadline_chair(), q.meetings()}},
          {"meetings_ever_quorate", {q.meetings_ever_quorate(), q.meetings()}},
          {"votes_valid", {q.votes_valid(), q.votes_held()}},
          {"minutes_complete", {q.minutes_complete(), q.meetings_closed()}}};
      for (const auto& [name, kn] : shares) {
        if (kn.first > kn.second) {
          return fail(why, group_label(g) + ": quorum." + name + " " + std::to_string(kn.first) +
                               " is more than the trials it counts (" + std::to_string(kn.second) +
                               ")");
        }
      }
    }
    if (g.has_voice() && !validate_voice(g.voice(), group_label(g), why)) return false;
    std::set<std::pair<uint64_t, uint32_t>> batch_keys;
    for (const v1::CellBatch& b : g.batches()) {
      if (!batch_keys.emplace(b.seed(), b.index()).second) {
        return fail(why, group_label(g) + ": batch " + std::to_string(b.index()) + " of seed " +
                             std::to_string(b.seed()) + " appears twice");
      }
      std::set<std::string> batch_metrics;
      for (const v1::LatencyMetric& m : b.latencies()) {
        if (!batch_metrics.insert(m.name()).second) {
          return fail(why, group_label(g) + ", batch " + std::to_string(b.index()) + ": metric " +
                               m.name() + " appears twice");
        }
      }
      if (b.index() >= Recorder::kCellBatches) {
        return fail(why, group_label(g) + ": batch index " + std::to_string(b.index()) +
                             " is not below " + std::to_string(Recorder::kCellBatches));
      }
      for (const v1::LatencyMetric& m : b.latencies()) {
        Histogram h;
        std::string hwhy;
        if (!Histogram::from_proto(m.histogram(), &h, &hwhy)) {
          return fail(why, group_label(g) + ", batch " + std::to_string(b.index()) + ", " +
                               m.name() + ": invalid histogram: " + hwhy);
        }
      }
    }
  }
  std::set<uint32_t> nodes;
  for (const v1::ServerStats& s : results.servers()) {
    if (!nodes.insert(s.node()).second) {
      return fail(why, "server node " + std::to_string(s.node()) + " appears twice");
    }
    if (s.has_queue_wait()) {
      Histogram h;
      std::string hwhy;
      if (!Histogram::from_proto(s.queue_wait(), &h, &hwhy)) {
        return fail(why, "server node " + std::to_string(s.node()) +
                             ", queue_wait: invalid histogram: " + hwhy);
      }
    }
  }
  return true;
}

bool merge_results(const v1::Results& a, const v1::Results& b, v1::Results* out, std::string* why) {
  std::string vwhy;
  if (!validate_results(a, &vwhy)) return fail(why, "cannot merge: first results: " + vwhy);
  if (!validate_results(b, &vwhy)) return fail(why, "cannot merge: second results: " + vwhy);
  if (a.has_sizing() || b.has_sizing()) {
    return fail(why, "cannot merge: results of `cellsim size` are a search, not shards of one run");
  }
  if (a.has_validation() || b.has_validation()) {
    return fail(why, "cannot merge: results of `cellsim validate` compare two runs, they are not "
                     "shards of one run");
  }

  v1::Results merged;
  if (!merge_run(a.run(), b.run(), merged.mutable_run(), why)) return false;

  using Key = std::tuple<int, std::string, std::string>;
  std::map<Key, v1::Group> groups;
  for (const v1::Results* r : {&a, &b}) {
    for (const v1::Group& g : r->groups()) {
      const Key key{kind_rank(g.kind()), g.kind(), g.name()};
      auto it = groups.find(key);
      if (it == groups.end()) {
        v1::Group& acc = groups[key];
        acc.set_kind(g.kind());
        acc.set_name(g.name());
        it = groups.find(key);
      }
      std::string gwhy;
      if (!merge_group(g, &it->second, &gwhy)) return fail(why, "cannot merge: " + gwhy);
    }
  }
  for (auto& [key, g] : groups) *merged.add_groups() = std::move(g);

  std::vector<const v1::ServerStats*> servers;
  for (const v1::ServerStats& s : a.servers()) servers.push_back(&s);
  for (const v1::ServerStats& s : b.servers()) servers.push_back(&s);
  std::sort(servers.begin(), servers.end(), [](const v1::ServerStats* x, const v1::ServerStats* y) {
    return x->node() < y->node();
  });
  for (size_t i = 0; i < servers.size(); ++i) {
    if (i > 0 && servers[i]->node() == servers[i - 1]->node()) {
      return fail(why, "cannot merge: server node " + std::to_string(servers[i]->node()) +
                           " is in both results (shards own whole nodes)");
    }
    *merged.add_servers() = *servers[i];
  }

  std::map<std::string, v1::AttendanceSamples> attendance;  // by cell type name
  for (const v1::Results* r : {&a, &b}) {
    for (const v1::AttendanceSamples& s : r->attendance()) merge_attendance(s, &attendance[s.cell_type()]);
  }
  for (auto& [name, s] : attendance) *merged.add_attendance() = std::move(s);
  *out = std::move(merged);
  return true;
}

}  // namespace cellsim::metrics
