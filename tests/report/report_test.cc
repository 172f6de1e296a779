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

#include "metrics/results_io.h"
#include "report/strings.h"
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
  const ReportInput in = sample_input(true);
  const std::string html = render_html(in, Lang::kVi), md = render_markdown(in, Lang::kVi);
  for (size_t i = 0; i < kMsgCount; ++i) {
    const std::string en(text(Lang::kEn, static_cast<Msg>(i)));
    // The literal part of the string before its first placeholder.
    const std::string head = en.substr(0, en.find('{'));
    if (head.size() < kMinCheckedEnglishChars) continue;
    EXPECT_EQ(html.find(head), std::string::npos) << head;
    EXPECT_EQ(md.find(head), std::string::npos) << head;
  }
}

// Shows: the Vietnamese strings use the Party's own terms, with diacritics.
TEST(ReportTest, VietnameseUsesThePartysTerms) {
  std::string all;
  for (size_t i = 0; i < kMsgCount; ++i) all += std::string(text(Lang::kVi, static_cast<Msg>(i)));
  for (const char* term : {"chi bộ", "đảng viên chính thức", "đảng viên dự bị", "biểu quyết",
                           "bỏ phiếu kín", "biên bản", "đủ số đảng viên dự họp theo quy định",
                           "nghị quyết", "Khả thi", "Khả thi có điều kiện", "Không khả thi"}) {
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
