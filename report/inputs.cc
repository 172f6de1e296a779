// The report's inputs (report.h, load_inputs): results folders or files read,
// sorted into runs (shards of one seed merged), a sizing and validations,
// checked to be of one scenario, and completed from the scenario file the
// results name (SLOs after a merge, each cell type's links, titles).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <google/protobuf/util/json_util.h>

#include "metrics/attendance.h"
#include "metrics/recorder.h"
#include "metrics/results_io.h"
#include "metrics/slo.h"
#include "proto/assert.h"
#include "report/report.h"
#include "scenario/loader.h"

namespace cellsim::report {
namespace {

namespace fs = std::filesystem;

constexpr const char* kModeValidate = "validate";

bool has_results_file(const fs::path& dir, fs::path* file) {
  for (const char* name : {metrics::kResultsPbFile, metrics::kResultsJsonFile}) {
    std::error_code ec;
    if (fs::is_regular_file(dir / name, ec)) {
      *file = dir / name;
      return true;
    }
  }
  return false;
}

// Reads a results file that metrics::read_results refuses because it has no
// groups: the results of `cellsim validate` (run.mode "validate"). False if it
// is not one.
bool read_validation(const fs::path& file, v1::Results* r) {
  std::ifstream f(file, std::ios::binary);
  std::stringstream buf;
  buf << f.rdbuf();
  const std::string data = buf.str();
  v1::Results x;
  const size_t first = data.find_first_not_of(" \t\r\n");
  const bool json = first != std::string::npos && data[first] == '{';
  if (json) {
    if (!google::protobuf::util::JsonStringToMessage(data, &x).ok()) return false;
  } else if (data.empty() || !x.ParseFromString(data)) {
    return false;
  }
  if (x.run().mode() != kModeValidate || !x.has_validation()) return false;
  *r = std::move(x);
  return true;
}

bool read_one(const std::string& path, v1::Results* r, std::string* why) {
  std::error_code ec;
  fs::path file = path;
  if (!fs::exists(path, ec)) {
    *why = path + ": no such file or folder";
    return false;
  }
  if (fs::is_directory(path, ec) && !has_results_file(path, &file)) {
    *why = path + ": no results in this folder (neither " + metrics::kResultsPbFile + " nor " +
           metrics::kResultsJsonFile + ")";
    return false;
  }
  if (!metrics::read_results(file.string(), r, why)) {
    if (read_validation(file, r)) return true;
    if (why->find(file.string()) == std::string::npos) *why = file.string() + ": " + *why;
    return false;
  }
  return true;
}

// Reads the scenario the results name (when it is there and is the same
// scenario): the SLOs after a merge, the links of each cell type, the titles.
void use_scenario(ReportInput* in, const std::vector<bool>& recompute_slos) {
  const std::string& file = in->results.run().scenario_file();
  v1::Scenario s;
  std::vector<scenario::LoadError> errors;
  if (file.empty() || !scenario::load_scenario(file, &s, &errors)) return;
  if (s.name() != in->results.run().scenario()) return;
  for (size_t i = 0; i < in->seeds.size() && i < recompute_slos.size(); ++i) {
    if (recompute_slos[i]) metrics::evaluate_slos(s, &in->seeds[i].results);
  }
  for (SeedRun& r : in->other_seeds) {
    if (r.sources.size() > 1) metrics::evaluate_slos(s, &r.results);
  }
  if (!in->seeds.empty()) in->results = in->seeds[0].results;
  for (const v1::CellType& c : s.cell_types()) {
    for (const v1::ProfileShare& p : c.links()) in->links[c.name()].push_back(p.profile());
    in->names.add(metrics::kGroupCellType, c.name(), c.title_vi(), c.title_en());
  }
  for (const v1::NetworkProfile& p : s.profiles()) {
    in->names.add(metrics::kGroupProfile, p.name(), p.title_vi(), p.title_en());
  }
}

// Merges the shard `b` into `a` (same seed), attendance selections too when
// the merge does not carry them.
bool merge_shard(const v1::Results& b, v1::Results* a, std::string* why) {
  v1::Results merged;
  if (!metrics::merge_results(*a, b, &merged, why)) return false;
  if (merged.attendance().empty() && (!a->attendance().empty() || !b.attendance().empty())) {
    std::map<std::string, v1::AttendanceSamples> by_type;
    for (const v1::Results* r : {static_cast<const v1::Results*>(a), &b}) {
      for (const v1::AttendanceSamples& s : r->attendance()) {
        metrics::merge_attendance(s, &by_type[s.cell_type()]);
      }
    }
    for (auto& [type, s] : by_type) *merged.add_attendance() = std::move(s);
  }
  for (v1::Group& g : *merged.mutable_groups()) {  // titles, when the merge drops them
    for (const v1::Results* r : {static_cast<const v1::Results*>(a), &b}) {
      for (const v1::Group& x : r->groups()) {
        if (x.kind() != g.kind() || x.name() != g.name()) continue;
        if (g.title_vi().empty()) g.set_title_vi(x.title_vi());
        if (g.title_en().empty()) g.set_title_en(x.title_en());
      }
    }
  }
  *a = std::move(merged);
  return true;
}

// The inputs as they are read, one path after another.
class Loader {
 public:
  // Sorts the results read from `path` in: a validation, the sizing or a run.
  bool add(const std::string& path, std::string* why) {
    v1::Results r;
    if (!read_one(path, &r, why)) return false;
    in_.sources.push_back(path);
    if (r.run().mode() == kModeValidate) {
      in_.validations.push_back(std::move(r));
      return true;
    }
    if (r.has_sizing()) return add_sizing(path, std::move(r), why);
    return add_run(path, std::move(r), why);
  }

  // Checks the sizing against the runs, picks the results the report shows
  // first and completes them from the scenario.
  bool finish(ReportInput* out, std::string* why) {
    if (in_.has_sizing && !in_.seeds.empty() && in_.sizing.scenario() != scenario_) {
      *why = "the sizing in " + sizing_path_ + " is of scenario \"" + in_.sizing.scenario() +
             "\", the runs of \"" + scenario_ + "\"; a report answers for one scenario";
      return false;
    }
    in_.has_run = !in_.seeds.empty();
    if (in_.has_run) {
      in_.results = in_.seeds[0].results;
    } else if (in_.has_sizing) {
      in_.results = sizing_results_;
    } else if (!in_.validations.empty()) {
      in_.results.mutable_run()->set_scenario(in_.validations[0].run().scenario());
    }
    CELLSIM_ASSERT(shards_per_seed_.size() == in_.seeds.size());
    std::vector<bool> recompute;
    for (size_t n : shards_per_seed_) recompute.push_back(n > 1);
    use_scenario(&in_, recompute);
    *out = std::move(in_);
    return true;
  }

 private:
  bool add_sizing(const std::string& path, v1::Results r, std::string* why) {
    if (in_.has_sizing) {
      *why = "more than one sizing given (" + sizing_path_ + " and " + path + "): give one";
      return false;
    }
    in_.sizing = r.sizing();
    in_.has_sizing = true;
    sizing_results_ = std::move(r);
    sizing_path_ = path;
    return true;
  }

  // A new seed's run, or a further shard of a seed already read: of the
  // first runs' media transport, or of the other one.
  bool add_run(const std::string& path, v1::Results r, std::string* why) {
    if (!same_scenario(path, r, why)) return false;
    const std::string transport = metrics::transport_of(r.run());
    if (in_.seeds.empty()) in_.transport = transport;
    if (transport == in_.transport) return add_seed(path, std::move(r), &in_.seeds, why);
    if (in_.other_transport.empty()) in_.other_transport = transport;
    if (transport != in_.other_transport) {
      *why = path + ": media transport \"" + transport + "\" besides \"" + in_.transport +
             "\" and \"" + in_.other_transport + "\": a report compares two";
      return false;
    }
    return add_seed(path, std::move(r), &in_.other_seeds, why);
  }

  bool add_seed(const std::string& path, v1::Results r, std::vector<SeedRun>* seeds,
                std::string* why) {
    const bool primary = seeds == &in_.seeds;
    auto it = std::find_if(seeds->begin(), seeds->end(),
                           [&](const SeedRun& s) { return s.seed == r.run().seed(); });
    if (it == seeds->end()) {
      SeedRun s;
      s.seed = r.run().seed();
      s.results = std::move(r);
      s.sources = {path};
      seeds->push_back(std::move(s));
      if (primary) shards_per_seed_.push_back(1);
      return true;
    }
    if (!merge_shard(r, &it->results, why)) {
      *why = "cannot merge " + path + " with the other results of seed " +
             std::to_string(it->seed) + " (not shards of one run?): " + *why;
      return false;
    }
    it->sources.push_back(path);
    if (primary) ++shards_per_seed_[it - seeds->begin()];
    return true;
  }

  // True if `r` is of the first run's scenario (or is the first run).
  bool same_scenario(const std::string& path, const v1::Results& r, std::string* why) {
    if (in_.seeds.empty()) {
      scenario_ = r.run().scenario();
      scenario_path_ = path;
      return true;
    }
    if (r.run().scenario() == scenario_) return true;
    *why = "results of different scenarios: \"" + scenario_ + "\" in " + scenario_path_ +
           " and \"" + r.run().scenario() + "\" in " + path +
           "; a report answers for one scenario: give each scenario's results to its own report";
    return false;
  }

  ReportInput in_;
  v1::Results sizing_results_;
  std::string sizing_path_;
  std::vector<size_t> shards_per_seed_;  // parallel to in_.seeds
  std::string scenario_, scenario_path_;  // of the first run
};

}  // namespace

bool load_inputs(const std::vector<std::string>& paths, ReportInput* out, std::string* why) {
  if (paths.empty()) {
    *why = "no results folder given";
    return false;
  }
  Loader loader;
  for (const std::string& p : paths) {
    if (!loader.add(p, why)) return false;
  }
  return loader.finish(out, why);
}

}  // namespace cellsim::report
