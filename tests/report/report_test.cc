// The report (report/report.h) in both languages from hand-made results:
// every section present, charts as inline SVG, nothing fetched from outside,
// no fixed English string left in the Vietnamese output; and `cellsim
// report` on folders without readable results: a clear message naming the
// folder or file, exit 2.
#include "report/report.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "metrics/histogram.h"
#include "metrics/recorder.h"
#include "metrics/results_io.h"
#include "report/strings.h"
#include "report/svg.h"
#include "report/words.h"
#include "tests/report/fixtures.h"

namespace cellsim::report {
namespace {

namespace fs = std::filesystem;

constexpr Lang kLangs[] = {Lang::kVi, Lang::kEn};
constexpr Msg kSectionTitles[] = {Msg::kSecVerdicts, Msg::kSecRules,     Msg::kSecSlos,
                                  Msg::kSecTimeToQuorum, Msg::kSecLatency, Msg::kSecServers,
                                  Msg::kSecSizing,   Msg::kSecCapacity,   Msg::kSecAttendance,
                                  Msg::kSecDataGaps, Msg::kSecBasis};
// Fixed English strings shorter than this may legitimately recur in Vietnamese
// output (units, "p{0}", file names); longer ones must not.
constexpr size_t kMinCheckedEnglishChars = 8;

v1::Sizing sample_sizing() {
  v1::Sizing z;
  z.set_scenario("hand-made");
  z.set_replications(3);
  z.set_cores_per_node(2);
  z.set_max_cells_per_node(40);
  z.set_bend_cells_per_node(30);
  z.set_total_cells(1000);
  z.set_peak_share(0.5);
  z.set_peak_cells(500);
  z.set_nodes_needed(13);
  z.set_nodes_n_plus_1(14);
  z.set_cores_total(28);
  z.set_egress_mbps_per_node(12.5);
  z.set_memory_gib_per_node(0.25);
  z.set_headroom(1.5);
  z.set_memory_bytes_per_member(65536);
  z.set_calibration("built-in estimate");
  for (uint32_t cells : {10u, 20u, 40u, 80u}) {
    v1::CapacityPoint* p = z.add_curve();
    p->set_cells_per_node(cells);
    p->set_replications(3);
    p->set_all_met(cells <= 40);
    p->set_utilisation_mean(cells / 100.0);
    v1::SloEstimate* e = p->add_slos();
    e->set_description("join_latency p99 <= 2000 ms (all cells)");
    e->set_mean(cells * 40.0);
    e->set_limit(2000);
    e->set_met(cells <= 40);
    // Link-bound: missed at every point, the smallest included.
    v1::SloEstimate* link = p->add_slos();
    link->set_description("join_latency p99 <= 2000 ms (cell type slow-link)");
    link->set_mean(9000);
    link->set_ci95_half_width(300);
    link->set_limit(2000);
  }
  return z;
}

ReportInput sample_input(bool with_sizing) {
  ReportInput in;
  in.results = testing::three_types();
  in.has_run = true;
  in.sources = {"hand-made"};
  if (with_sizing) {
    in.sizing = sample_sizing();
    in.has_sizing = true;
  }
  return in;
}

// Results of `cellsim validate`: two rows, the second outside tolerance
// unless `all_within`.
v1::Results validation_results(bool all_within) {
  v1::Results r;
  r.mutable_run()->set_scenario("tiny");
  r.mutable_run()->set_mode("validate");
  r.mutable_run()->set_seed(42);
  v1::Validation* v = r.mutable_validation();
  v->set_scenario("tiny");
  v->set_seed(42);
  v->set_calibration("calibration/measured.textproto (machine: test)");
  v->set_latency_tolerance(0.2);
  v->set_share_tolerance(0.05);
  v->set_members(60);
  v->set_cells(4);
  v1::ValidationRow* a = v->add_rows();
  a->set_metric("join_latency");
  a->set_group("overall");
  a->set_stat("p99");
  a->set_sim(110);
  a->set_live(100);
  a->set_difference(0.1);
  a->set_within_tolerance(true);
  v1::ValidationRow* b = v->add_rows();
  b->set_metric("quorum_attainment");
  b->set_group("steady");
  b->set_stat("share");
  b->set_sim(0.95);
  b->set_live(all_within ? 0.96 : 0.85);
  b->set_difference(all_within ? -0.01 : 0.10);
  b->set_within_tolerance(all_within);
  v->set_within_tolerance(all_within);
  return r;
}

// Everything the report can show: two seeds (seed 8 breaks "steady"'s
// tally), titles, attendance traces, a validation, sizing with a link-bound
// objective.
ReportInput full_input() {
  ReportInput in = sample_input(true);
  testing::add_titles(&in.results);
  testing::add_attendance(&in.results);
  v1::Results second = in.results;
  second.mutable_run()->set_seed(8);
  for (v1::Group& g : *second.mutable_groups()) {
    if (g.name() == "steady") g.mutable_quorum()->set_ballots_counted(2399);
  }
  for (v1::AttendanceSamples& a : *second.mutable_attendance()) {
    for (v1::AttendanceTrace& t : *a.mutable_sample()) t.set_sample_key(t.sample_key() + 1000);
  }
  in.seeds = {{7, in.results, {"seed-7"}}, {8, second, {"seed-8"}}};
  in.validations.push_back(validation_results(false));
  in.links = {{"slow-link", {"fibre", "vsat"}}};
  return in;
}

// Shows: every section is present, in both languages and both formats, with
// its title from the language's table.
TEST(ReportTest, EverySectionInBothLanguages) {
  for (bool sizing : {false, true}) {
    const ReportInput in = sample_input(sizing);
    for (Lang l : kLangs) {
      const std::string html = render_html(in, l), md = render_markdown(in, l);
      for (const char* id : kSectionIds) {
        EXPECT_NE(html.find("<section id=\"" + std::string(id) + "\">"), std::string::npos) << id;
      }
      for (Msg m : kSectionTitles) {
        const std::string title(text(l, m));
        EXPECT_NE(html.find("<h2>" + title + "</h2>"), std::string::npos) << title;
        EXPECT_NE(md.find("## " + title + "\n"), std::string::npos) << title;
      }
      for (Msg m : {Msg::kVerdictFeasible, Msg::kVerdictNotFeasible}) {
        EXPECT_NE(md.find(std::string(text(l, m))), std::string::npos);
      }
      EXPECT_NE(html.find(std::string(text(l, Msg::kAttendanceAbsent))), std::string::npos);
      EXPECT_EQ(md.find(std::string(text(l, Msg::kSizingAbsent))) == std::string::npos, sizing);
    }
  }
}

// Shows: with every input (seeds, titles, attendance, validation, sizing),
// every section is there in both languages, each seed is named, and every
// chart is an inline SVG with marks drawn.
TEST(ReportTest, FullInputEverySection) {
  const ReportInput in = full_input();
  for (Lang l : kLangs) {
    const std::string html = render_html(in, l), md = render_markdown(in, l);
    for (const char* id : kSectionIds) {
      EXPECT_NE(html.find("<section id=\"" + std::string(id) + "\">"), std::string::npos) << id;
    }
    EXPECT_NE(md.find(std::string(text(l, Msg::kColDecidedBy))), std::string::npos);
    EXPECT_NE(md.find(format(l, Msg::kSeedsRule, {"2", "7, 8"})), std::string::npos);
    EXPECT_NE(md.find(std::string(text(l, Msg::kIntervalNote))), std::string::npos);
    EXPECT_NE(md.find(std::string(text(l, Msg::kQuorumSemantics))), std::string::npos);
    EXPECT_NE(md.find(std::string(text(l, Msg::kFirstLead))), std::string::npos);
    EXPECT_NE(md.find(format(l, Msg::kColObservedSeed, {"8"})), std::string::npos);
    EXPECT_NE(md.find(format(l, Msg::kBasisChartsSeed, {"7"})), std::string::npos);
    EXPECT_EQ(md.find(std::string(text(l, Msg::kAttendanceAbsent))), std::string::npos);
    EXPECT_EQ(md.find(std::string(text(l, Msg::kValidationNone))), std::string::npos);
    EXPECT_NE(md.find(std::string(text(l, Msg::kValidationHeading))), std::string::npos);
    EXPECT_NE(md.find(std::string(text(l, Msg::kNoGaps))), std::string::npos);
    size_t svgs = 0;
    for (size_t at = html.find("<svg"); at != std::string::npos; at = html.find("<svg", at + 1)) {
      ++svgs;
      const std::string chart = html.substr(at, html.find("</svg>", at) - at);
      EXPECT_TRUE(chart.find("<polyline") != std::string::npos ||
                  chart.find("<rect") != std::string::npos)
          << chart.substr(0, 200);
    }
    // Time to quorum, join latency (the only latency the fixture has), servers,
    // capacity, attendance of each of the 3 types.
    EXPECT_EQ(svgs, 1u + 1u + 1u + 1u + 3u);
  }
}

// Shows: over two seeds the verdict is judged on the seeds pooled: "steady"
// (tally broken in seed 8) is not feasible, decided by the tally; the
// quorum shares carry their interval over both seeds' meetings.
TEST(ReportTest, VerdictOverSeedsIsPooled) {
  const std::string md = render_markdown(full_input(), Lang::kEn);
  std::cout << md.substr(0, md.find("## How the verdict"));
  EXPECT_NE(md.find("| Steady cells | Not feasible | tally integrity: 4,800 ballots acknowledged, "
                    "4,799 counted | - |"),
            std::string::npos);
  EXPECT_NE(md.find("| 160 | 100.0% (97.7%\u2013100.0%) |"), std::string::npos);
}

// Shows: cell types and profiles appear by their title in the report's
// language, and by their identifier when they have none.
TEST(ReportTest, TitlesInTheReportsLanguage) {
  const ReportInput in = full_input();
  const std::string vi = render_markdown(in, Lang::kVi), en = render_markdown(in, Lang::kEn);
  EXPECT_NE(vi.find("| Chi bộ ổn định |"), std::string::npos);
  EXPECT_EQ(vi.find("Steady cells"), std::string::npos);
  EXPECT_NE(en.find("| Steady cells |"), std::string::npos);
  EXPECT_EQ(en.find("Chi bộ ổn định"), std::string::npos);
  for (const std::string* md : {&vi, &en}) {
    EXPECT_NE(md->find("| thin-quorum |"), std::string::npos);  // no title: the identifier
    EXPECT_EQ(md->find("| steady |"), std::string::npos);
  }
  EXPECT_NE(vi.find("| Vệ tinh VSAT |"), std::string::npos);  // a profile in the latency tables
  EXPECT_NE(en.find("than VSAT satellite"), std::string::npos);  // and in a condition
  // The SLO table names the type by its title alone.
  EXPECT_NE(en.find("(Cells on slow links)"), std::string::npos);
  EXPECT_NE(en.find("(cell type thin-quorum)"), std::string::npos);
}

// Shows: attendance over time: one chart per cell type with the typical
// meeting (the sample's median by quorate share: cell 102 of 100..104) and
// the worst, the quorum line, close times and a truncated trace marked.
TEST(ReportTest, AttendanceTypicalAndWorst) {
  ReportInput in = sample_input(false);
  testing::add_attendance(&in.results);
  for (Lang l : kLangs) {
    const std::string html = render_html(in, l), md = render_markdown(in, l);
    for (const char* type : {"steady", "thin-quorum", "slow-link"}) {
      EXPECT_NE(html.find(xml_escape(format(l, Msg::kAttendanceChartTitle, {type}))),
                std::string::npos) << type;
    }
    EXPECT_NE(md.find(format(l, Msg::kCellLabel, {"102"})), std::string::npos);
    EXPECT_EQ(md.find(format(l, Msg::kCellLabel, {"100"}) + ":"), std::string::npos);
    EXPECT_NE(md.find(format(l, Msg::kCellLabel, {"7"}) + ":"), std::string::npos);
    EXPECT_NE(md.find(std::string(text(l, Msg::kNeverClosed))), std::string::npos);
    EXPECT_NE(md.find(format(l, Msg::kMarkerTruncated,
                             {std::string(text(l, Msg::kWorstMeeting)), fmt_fixed(l, 20, 1)})),
              std::string::npos);
    EXPECT_NE(md.find(format(l, Msg::kClosedAt, {fmt_fixed(l, 110, 1)})), std::string::npos);
    EXPECT_NE(html.find("stroke-dasharray=\"6 4\""), std::string::npos);  // the quorum line
    EXPECT_EQ(html.find(std::string(text(l, Msg::kAttendanceAbsent))), std::string::npos);
  }
  std::cout << render_markdown(in, Lang::kEn).substr(
      render_markdown(in, Lang::kEn).find("## Attendance"), 2500);
}

// Shows: a validation is shown in "what the figures rest on": every row and
// the verdict; without one, the report says the simulator is not validated here.
TEST(ReportTest, ValidationInTheBasis) {
  ReportInput in = sample_input(false);
  for (bool within : {false, true}) {
    in.validations = {validation_results(within)};
    for (Lang l : kLangs) {
      const std::string md = render_markdown(in, l);
      const std::string basis = md.substr(md.find("## " + std::string(text(l, Msg::kSecBasis))));
      EXPECT_NE(basis.find(std::string(text(l, Msg::kValidationHeading))), std::string::npos);
      EXPECT_NE(basis.find(std::string(text(l, Msg::kColWithinTolerance))), std::string::npos);
      EXPECT_NE(basis.find(fmt_ms(l, 110) + " ms"), std::string::npos);
      EXPECT_NE(basis.find(fmt_share(l, within ? 0.96 : 0.85)), std::string::npos);
      if (within) {
        EXPECT_NE(basis.find(format(l, Msg::kValidationOk, {"2"})), std::string::npos);
      } else {
        EXPECT_NE(basis.find(format(l, Msg::kValidationFail, {"1", "2"})), std::string::npos);
      }
      if (l == Lang::kEn && !within) std::cout << basis;
    }
  }
  in.validations.clear();
  EXPECT_NE(render_markdown(in, Lang::kEn).find(std::string(text(Lang::kEn, Msg::kValidationNone))),
            std::string::npos);
}

// Shows: a validation over seeds says which link mode and how many seeds
// (and which) it used, and shows each side's spread across the seeds and
// which rows were not judged (the verdict counts only the judged ones), in
// both languages; one written before --seeds
// and --link reads as one seed in frame mode, without spread columns.
TEST(ReportTest, ValidationOverSeedsShowsLinkModeSeedsAndSpread) {
  ReportInput in = sample_input(false);
  v1::Results r = validation_results(true);
  v1::Validation* v = r.mutable_validation();
  v->set_seeds(3);
  v->set_link_mode("packet");
  v->set_min_samples(200);
  v1::ValidationRow* a = v->mutable_rows(0);
  a->set_sim_min(104);
  a->set_sim_max(131);
  a->set_live_min(97);
  a->set_live_max(109);
  a->set_sim_seeds(3);
  a->set_live_seeds(3);
  v1::ValidationRow* b = v->mutable_rows(1);
  b->set_few_samples(true);
  b->set_sim_min(0.9);
  b->set_sim_max(1.0);
  b->set_live_min(0.92);
  b->set_live_max(0.97);
  b->set_sim_seeds(3);
  b->set_live_seeds(3);
  in.validations = {r};
  for (Lang l : kLangs) {
    const std::string md = render_markdown(in, l);
    const std::string basis = md.substr(md.find("## " + std::string(text(l, Msg::kSecBasis))));
    EXPECT_NE(basis.find(format(l, Msg::kValidationSeeds,
                                {std::string(text(l, Msg::kLinkModePacket)), "3", "42", "44",
                                 "200"})),
              std::string::npos)
        << basis;
    EXPECT_NE(basis.find(std::string(text(l, Msg::kColSimSpread))), std::string::npos);
    EXPECT_NE(basis.find(std::string(text(l, Msg::kColLiveSpread))), std::string::npos);
    EXPECT_NE(basis.find(fmt_ms(l, 104) + " ms – " + fmt_ms(l, 131) + " ms"), std::string::npos)
        << basis;
    EXPECT_NE(basis.find(fmt_share(l, 0.92) + " – " + fmt_share(l, 0.97)), std::string::npos);
    EXPECT_NE(basis.find(std::string(text(l, Msg::kNotJudged))), std::string::npos);
    // The verdict counts the judged rows only.
    EXPECT_NE(basis.find(format(l, Msg::kValidationOk, {"1"})), std::string::npos) << basis;
    if (l == Lang::kVi) std::cout << basis;
  }
  in.validations = {validation_results(true)};  // no seeds, no link mode recorded
  for (Lang l : kLangs) {
    const std::string md = render_markdown(in, l);
    EXPECT_NE(md.find(format(l, Msg::kValidationSeeds, {std::string(text(l, Msg::kLinkModeFrame)),
                                                         "1", "42", "42", "20"})),
              std::string::npos);
    EXPECT_EQ(md.find(std::string(text(l, Msg::kColSimSpread))), std::string::npos);
  }
}

// Shows: the page is self-contained: inline SVG charts, no script, no
// external URL, no link or image reference.
TEST(ReportTest, HtmlIsSelfContained) {
  for (Lang l : kLangs) {
    const std::string html = render_html(sample_input(true), l);
    EXPECT_NE(html.find("<svg"), std::string::npos);
    EXPECT_NE(html.find("<polyline"), std::string::npos);  // CDF and capacity curve
    EXPECT_NE(html.find("<rect"), std::string::npos);      // bars
    for (const char* banned : {"http://", "https://", "<script", "<link", "<img", "src=", "@import",
                               "url("}) {
      EXPECT_EQ(html.find(banned), std::string::npos) << banned;
    }
    EXPECT_NE(html.find("<meta charset=\"utf-8\">"), std::string::npos);
    EXPECT_NE(html.find(std::string("lang=\"") + lang_code(l) + "\""), std::string::npos);
  }
}

// Shows: every fixed string is translated (the tables differ entry by entry)
// and no fixed English string of any length appears in the Vietnamese output.
TEST(ReportTest, VietnameseHasNoUntranslatedEnglish) {
  for (size_t i = 0; i < kMsgCount; ++i) {
    const Msg m = static_cast<Msg>(i);
    EXPECT_NE(text(Lang::kVi, m), text(Lang::kEn, m)) << "Msg " << i << ": " << text(Lang::kEn, m);
  }
  for (const ReportInput& in : {sample_input(true), full_input()}) {
    const std::string html = render_html(in, Lang::kVi), md = render_markdown(in, Lang::kVi);
    for (size_t i = 0; i < kMsgCount; ++i) {
      const std::string en(text(Lang::kEn, static_cast<Msg>(i)));
      // Every literal part of the string between its placeholders.
      for (size_t from = 0; from < en.size();) {
        const size_t open = en.find('{', from);
        const std::string part = en.substr(from, open == std::string::npos ? open : open - from);
        from = open == std::string::npos ? en.size() : en.find('}', open) + 1;
        if (part.size() < kMinCheckedEnglishChars) continue;
        EXPECT_EQ(html.find(part), std::string::npos) << part;
        EXPECT_EQ(md.find(part), std::string::npos) << part;
      }
    }
  }
}

// Shows: the Vietnamese strings use the Party's own terms, with diacritics.
TEST(ReportTest, VietnameseUsesThePartysTerms) {
  std::string all;
  for (size_t i = 0; i < kMsgCount; ++i) all += std::string(text(Lang::kVi, static_cast<Msg>(i)));
  for (const char* term : {"chi bộ", "đảng viên chính thức", "đảng viên dự bị", "biểu quyết",
                           "bỏ phiếu kín", "biên bản", "đủ số đảng viên dự họp theo quy định",
                           "nghị quyết", "Khả thi", "Chưa đủ cơ sở kết luận", "Không khả thi"}) {
    EXPECT_NE(all.find(term), std::string::npos) << term;
  }
  const std::string html = render_html(sample_input(false), Lang::kVi);
  EXPECT_NE(html.find("Không khả thi"), std::string::npos);
  EXPECT_NE(html.find("đủ số đảng viên dự họp theo quy định"), std::string::npos);
}

// Shows: numbers follow the language (vi: 1.234,5 and 97,4%).
TEST(ReportTest, NumbersFollowTheLanguage) {
  EXPECT_EQ(fmt_fixed(Lang::kEn, 1234.5, 1), "1,234.5");
  EXPECT_EQ(fmt_fixed(Lang::kVi, 1234.5, 1), "1.234,5");
  EXPECT_EQ(fmt_share(Lang::kVi, 0.974), "97,4%");
  EXPECT_EQ(fmt_int(Lang::kEn, 1234567), "1,234,567");
}

// --- `cellsim report` on bad folders --------------------------------------

struct CommandResult {
  int exit_code = -1;
  std::string output;
};

CommandResult run_cellsim(const std::string& args) {
  const std::string cmd = std::string(CELLSIM_BINARY) + " " + args + " 2>&1";
  CommandResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[512];
  while (fgets(buf, sizeof buf, p) != nullptr) r.output += buf;
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

fs::path temp_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("cellsim-report-test-" + std::to_string(getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// Shows: an empty folder is refused with exit 2, naming the folder.
TEST(ReportCommandTest, EmptyFolderIsAnError) {
  const fs::path d = temp_dir("empty");
  const CommandResult r = run_cellsim("report " + d.string() + " --out " + (d / "out").string());
  std::cout << r.output;
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find(d.string()), std::string::npos);
  EXPECT_NE(r.output.find("no results"), std::string::npos);
}

// Shows: a results file that is not results is refused with exit 2, naming the file.
TEST(ReportCommandTest, UnreadableResultsAreAnError) {
  const fs::path d = temp_dir("garbage");
  std::ofstream(d / "results.pb") << "this is not a results file";
  const CommandResult r = run_cellsim("report " + d.string());
  std::cout << r.output;
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find((d / "results.pb").string()), std::string::npos);
}

// Shows: a missing folder is refused with exit 2, naming it.
TEST(ReportCommandTest, MissingFolderIsAnError) {
  const fs::path d = temp_dir("x") / "does-not-exist";
  const CommandResult r = run_cellsim("report " + d.string());
  std::cout << r.output;
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find(d.string()), std::string::npos);
}

// Writes results to DIR/results.pb as they are (no validation).
void write_raw(const fs::path& dir, const v1::Results& r) {
  fs::create_directories(dir);
  std::ofstream(dir / "results.pb", std::ios::binary) << r.SerializeAsString();
}

// Shows: results of one seed are shards and merge (two shards: counts add);
// another seed is another run, judged on its own; a validation file is not
// a run.
TEST(ReportInputsTest, ShardsMergeSeedsStaySeparateValidationIsNotARun) {
  const fs::path d = temp_dir("seeds");
  v1::Results shard0 = testing::three_types(), shard1 = testing::three_types();
  shard0.mutable_run()->set_shard_count(2);
  shard0.mutable_run()->set_shards(0, "0/2");
  shard1.mutable_run()->set_shard_count(2);
  shard1.mutable_run()->set_shards(0, "1/2");
  shard1.mutable_servers(0)->set_node(1);
  testing::add_attendance(&shard0);
  v1::Results other_seed = testing::three_types();
  other_seed.mutable_run()->set_seed(8);
  write_raw(d / "s0", shard0);
  write_raw(d / "s1", shard1);
  write_raw(d / "seed8", other_seed);
  write_raw(d / "validate", validation_results(true));
  ReportInput in;
  std::string why;
  ASSERT_TRUE(load_inputs({(d / "s0").string(), (d / "seed8").string(), (d / "validate").string(),
                           (d / "s1").string()},
                          &in, &why))
      << why;
  ASSERT_EQ(in.seeds.size(), 2u);
  EXPECT_EQ(in.seeds[0].seed, 7u);
  EXPECT_EQ(in.seeds[1].seed, 8u);
  EXPECT_EQ(in.seeds[0].results.run().shards_size(), 2);
  EXPECT_EQ(in.seeds[0].results.groups(0).quorum().meetings(), 120u);  // 60 + 60
  EXPECT_EQ(in.seeds[0].results.attendance_size(), 3);  // kept through the merge
  EXPECT_EQ(in.seeds[1].results.groups(0).quorum().meetings(), 60u);
  EXPECT_EQ(in.validations.size(), 1u);
  EXPECT_TRUE(in.has_run);
  EXPECT_EQ(in.results.run().seed(), 7u);
  const std::string md = render_markdown(in, Lang::kEn);
  EXPECT_NE(md.find("| Seed | 7, 8 |"), std::string::npos);
  EXPECT_NE(md.find(format(Lang::kEn, Msg::kValidationOk, {"2"})), std::string::npos);
}

// Voice figures on cell type `name`: ten batches of a minute of speech,
// `heard_ms` of each at MOS >= 3.6.
void set_voice(v1::Results* r, const std::string& name, uint64_t heard_ms) {
  for (v1::Group& g : *r->mutable_groups()) {
    if (g.kind() != metrics::kGroupCellType || g.name() != name) continue;
    v1::VoiceStats* v = g.mutable_voice();
    v->Clear();
    v->set_mos_threshold_milli(3600);
    v->set_target_share_milli(900);
    metrics::Histogram h(metrics::mos_layout());
    for (uint32_t b = 0; b < 10; ++b) {
      v1::VoiceBatch* vb = v->add_batches();
      vb->set_seed(r->run().seed());
      vb->set_index(b);
      vb->set_speech_ms(60'000);
      vb->set_speech_ms_at_threshold(heard_ms);
      v->set_intervals(v->intervals() + 1);
      v->set_frames_sent(v->frames_sent() + 3000);
      v->set_frames_played(v->frames_played() + 3000 * heard_ms / 60'000);
      v->set_speech_ms(v->speech_ms() + 60'000);
      v->set_speech_ms_at_threshold(v->speech_ms_at_threshold() + heard_ms);
      v->set_mouth_to_ear_us_frames(v->mouth_to_ear_us_frames() + 3000ull * 300'000);
      h.record(heard_ms > 30'000 ? 4000 : 2000, 3000);
    }
    h.to_proto(v->mutable_mos_milli());
  }
}

// Shows: results of both media transports of one scenario load as two sets
// of seeds, and the report sets them side by side per cell type — verdict,
// the business's p99s, voice heard, MOS p10, mouth-to-ear, loss — and lists
// the verdicts that change ("steady" hears 10% in-band, 98% as datagrams);
// a third transport is refused by name; one transport alone says so.
TEST(ReportInputsTest, TwoTransportsSideBySide) {
  const fs::path d = temp_dir("transports");
  v1::Results in_band = testing::three_types(), datagram = testing::three_types();
  set_voice(&in_band, "steady", 6'000);
  set_voice(&datagram, "steady", 59'000);
  datagram.mutable_run()->set_media_transport(metrics::kTransportDatagram);
  write_raw(d / "in_band", in_band);
  write_raw(d / "datagram", datagram);
  ReportInput in;
  std::string why;
  ASSERT_TRUE(load_inputs({(d / "in_band").string(), (d / "datagram").string()}, &in, &why)) << why;
  EXPECT_EQ(in.transport, metrics::kTransportInBand);
  EXPECT_EQ(in.other_transport, metrics::kTransportDatagram);
  ASSERT_EQ(in.seeds.size(), 1u);
  ASSERT_EQ(in.other_seeds.size(), 1u);
  for (Lang l : kLangs) {
    const std::string md = render_markdown(in, l);
    const size_t at = md.find("## " + std::string(text(l, Msg::kSecTransports)) + "\n");
    ASSERT_NE(at, std::string::npos);
    const std::string sec = md.substr(at, md.find("\n## ", at + 1) - at);
    EXPECT_NE(sec.find(std::string(text(l, Msg::kTransportInBand))), std::string::npos) << sec;
    EXPECT_NE(sec.find(std::string(text(l, Msg::kTransportDatagram))), std::string::npos);
    EXPECT_NE(sec.find(std::string(text(l, Msg::kColHeard))), std::string::npos);
    EXPECT_NE(sec.find(fmt_share(l, 0.1)), std::string::npos) << "in-band heard share";
    EXPECT_NE(sec.find(fmt_share(l, 59.0 / 60)), std::string::npos) << "datagram heard share";
    EXPECT_NE(sec.find(format(l, Msg::kTransportChange,
                              {"steady", verdict_label(l, Verdict::kNotFeasible),
                               verdict_label(l, Verdict::kFeasible)})),
              std::string::npos)
        << sec;
    EXPECT_EQ(sec.find(format(l, Msg::kTransportsOnlyOne,
                              {std::string(text(l, Msg::kTransportInBand)), "datagram"})),
              std::string::npos);
  }
  v1::Results third = testing::three_types();
  third.mutable_run()->set_media_transport("carrier-pigeon");
  write_raw(d / "third", third);
  EXPECT_FALSE(load_inputs(
      {(d / "in_band").string(), (d / "datagram").string(), (d / "third").string()}, &in, &why));
  EXPECT_NE(why.find("carrier-pigeon"), std::string::npos) << why;

  ReportInput alone;
  ASSERT_TRUE(load_inputs({(d / "in_band").string()}, &alone, &why)) << why;
  const std::string md = render_markdown(alone, Lang::kEn);
  EXPECT_NE(md.find(format(Lang::kEn, Msg::kTransportsOnlyOne,
                           {std::string(text(Lang::kEn, Msg::kTransportInBand)), "datagram"})),
            std::string::npos);
}

// Shows: results of different scenarios in one report are refused, naming
// both scenarios and folders (exit 2 from the command).
TEST(ReportInputsTest, DifferentScenariosAreRefused) {
  const fs::path d = temp_dir("scenarios");
  v1::Results a = testing::three_types(), b = testing::three_types();
  b.mutable_run()->set_scenario("another-scenario");
  b.mutable_run()->set_seed(8);
  write_raw(d / "a", a);
  write_raw(d / "b", b);
  ReportInput in;
  std::string why;
  EXPECT_FALSE(load_inputs({(d / "a").string(), (d / "b").string()}, &in, &why));
  std::cout << why << "\n";
  EXPECT_NE(why.find("different scenarios"), std::string::npos);
  EXPECT_NE(why.find("another-scenario"), std::string::npos);
  EXPECT_NE(why.find((d / "b").string()), std::string::npos);
  const CommandResult r =
      run_cellsim("report " + (d / "a").string() + " " + (d / "b").string() + " --out " +
                  (d / "out").string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("different scenarios"), std::string::npos);
  // A sizing of another scenario is refused too.
  v1::Results z = testing::three_types();
  z.mutable_sizing()->set_scenario("another-scenario");
  write_raw(d / "z", z);
  EXPECT_FALSE(load_inputs({(d / "a").string(), (d / "z").string()}, &in, &why));
  EXPECT_NE(why.find("another-scenario"), std::string::npos);
}

// Shows: the command writes both files in the language asked, from results on
// disk (json accepted too).
TEST(ReportCommandTest, WritesHtmlAndMarkdown) {
  const fs::path d = temp_dir("ok");
  std::string why;
  ASSERT_TRUE(metrics::write_results((d / "run").string(), testing::three_types(), &why)) << why;
  fs::remove(d / "run" / "results.pb");  // only the JSON twin left
  for (const char* lang : {"vi", "en"}) {
    const CommandResult r = run_cellsim("report " + (d / "run").string() + " --lang " + lang +
                                        " --out " + (d / "out").string());
    std::cout << r.output;
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_TRUE(fs::exists(d / "out" / (std::string("report.") + lang + ".html")));
    EXPECT_TRUE(fs::exists(d / "out" / (std::string("report.") + lang + ".md")));
  }
  EXPECT_EQ(run_cellsim("report " + d.string() + " --lang fr").exit_code, 2);
}

}  // namespace
}  // namespace cellsim::report
