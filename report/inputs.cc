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

}  // namespace

bool load_inputs(const std::vector<std::string>& paths, ReportInput* out, std::string* why) {
  if (paths.empty()) {
    *why = "no results folder given";
    return false;
  }
  ReportInput in;
  v1::Results sizing_results;
  std::string sizing_path;
  std::vector<size_t> shards_per_seed;
  std::string scenario, scenario_path;  // of the first run
  for (const std::string& p : paths) {
    v1::Results r;
    if (!read_one(p, &r, why)) return false;
    in.sources.push_back(p);
    if (r.run().mode() == kModeValidate) {
      in.validations.push_back(std::move(r));
      continue;
    }
    if (r.has_sizing()) {
      if (in.has_sizing) {
        *why = "more than one sizing given (" + sizing_path + " and " + p + "): give one";
        return false;
      }
      in.sizing = r.sizing();
      in.has_sizing = true;
      sizing_results = r;
      sizing_path = p;
      continue;
    }
    if (in.seeds.empty()) {
      scenario = r.run().scenario();
      scenario_path = p;
    } else if (r.run().scenario() != scenario) {
      *why = "results of different scenarios: \"" + scenario + "\" in " + scenario_path +
             " and \"" + r.run().scenario() + "\" in " + p +
             "; a report answers for one scenario: give each scenario's results to its own report";
      return false;
    }
    auto it = std::find_if(in.seeds.begin(), in.seeds.end(),
                           [&](const SeedRun& s) { return s.seed == r.run().seed(); });
    if (it == in.seeds.end()) {
      SeedRun s;
      s.seed = r.run().seed();
      s.results = std::move(r);
      s.sources = {p};
      in.seeds.push_back(std::move(s));
      shards_per_seed.push_back(1);
      continue;
    }
    if (!merge_shard(r, &it->results, why)) {
      *why = "cannot merge " + p + " with the other results of seed " + std::to_string(it->seed) +
             " (not shards of one run?): " + *why;
      return false;
    }
    it->sources.push_back(p);
    ++shards_per_seed[it - in.seeds.begin()];
  }
  if (in.has_sizing && !in.seeds.empty() && in.sizing.scenario() != scenario) {
    *why = "the sizing in " + sizing_path + " is of scenario \"" + in.sizing.scenario() +
           "\", the runs of \"" + scenario + "\"; a report answers for one scenario";
    return false;
  }
  in.has_run = !in.seeds.empty();
  if (in.has_run) {
    in.results = in.seeds[0].results;
  } else if (in.has_sizing) {
    in.results = sizing_results;
  } else if (!in.validations.empty()) {
    in.results.mutable_run()->set_scenario(in.validations[0].run().scenario());
  }
  std::vector<bool> recompute;
  for (size_t n : shards_per_seed) recompute.push_back(n > 1);
  use_scenario(&in, recompute);
  *out = std::move(in);
  return true;
}

}  // namespace cellsim::report
