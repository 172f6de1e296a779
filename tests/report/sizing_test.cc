// `cellsim size` (report/sizing.h) on a node whose capacity is solved by hand,
// and the helpers it rests on.
#include "report/sizing.h"

#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <iostream>
#include <sstream>
#include <vector>

#include "report/report.h"
#include "scenario/loader.h"

namespace cellsim::report {
namespace {

const std::string kFixtures = std::string(CELLSIM_SOURCE_DIR) + "/tests/report/";

v1::Scenario load_fixture() {
  v1::Scenario s;
  std::vector<scenario::LoadError> errors;
  EXPECT_TRUE(scenario::load_scenario(kFixtures + "mdc-node.textproto", &s, &errors));
  for (const auto& e : errors) ADD_FAILURE() << e.to_string();
  return s;
}

v1::Calibration load_calibration() {
  std::ifstream in(kFixtures + "mdc-node.calibration.textproto");
  std::stringstream text;
  text << in.rdbuf();
  v1::Calibration cal;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text.str(), &cal));
  return cal;
}

// Shows: `size` finds the capacity of a node solved by hand.
//
// The node (tests/report/mdc-node.textproto with its calibration) is one core
// serving jobs first come, first served (sim/core_queue.h). Every frame is
// free but a heartbeat, which costs S = 20 ms; each member sends one every
// T = 10 s and a cell has m = 5 members, so a cell offers m S / T = 0.01 of
// the core and N cells load it to rho = N / 100. The SLO is heartbeat_rtt p99
// <= 1000 ms, where the round trip is 10 ms of link + the wait + S.
//
//  * Upper bound: for rho > 1 the backlog grows by (rho - 1) s each second, so
//    over the ~540 s the members are connected the late heartbeats wait
//    (rho - 1) × 540 s; past rho = 1 + 1/540 (N > 100.2) the p99 exceeds
//    1 s. So N* <= 100.
//  * Lower bound: were arrivals Poisson and service exponential (M/M/1), the
//    wait's tail is P(W > t) = rho e^{-(1 - rho) t / S}; p99 <= 970 ms needs
//    ln(100 rho) <= 48.5 (1 - rho), i.e. rho <= 0.907. Here service is constant
//    (M/D/1 waits are about half M/M/1's) and arrivals are 5 N periodic
//    streams with random phases, smoother than Poisson: waits are shorter
//    still, so N* >= 91.
//
// Hence 91 <= N* <= 100, and the smooth arrivals put it near 100: the
// search must return a point in [91, 100] with the first failing point it
// saw above it within its resolution (2%, at least one cell).
TEST(SizingTest, FindsTheHandSolvedCapacity) {
  SizeOptions o;
  o.replications = 3;
  o.total_cells = 1000;
  o.peak_share = 0.6;
  o.on_point = [](const v1::CapacityPoint& p) {
    std::cout << "  " << p.cells_per_node() << " cells/node: " << (p.all_met() ? "held" : "failed")
              << ", heartbeat p99 " << p.slos(0).mean() << " ms [" << p.slos(0).lo() << ", " << p.slos(0).hi() << "]"
              << "\n";
  };
  const SizeOutcome out = size(load_fixture(), load_calibration(), o);
  ASSERT_TRUE(out.ok) << out.error;
  const v1::Sizing& z = out.results.sizing();
  EXPECT_GE(z.max_cells_per_node(), 91u);
  EXPECT_LE(z.max_cells_per_node(), 100u);
  uint32_t first_fail = 0;
  for (const v1::CapacityPoint& p : z.curve()) {
    if (!p.all_met() && p.cells_per_node() > z.max_cells_per_node() && first_fail == 0) {
      first_fail = p.cells_per_node();
    }
  }
  EXPECT_GT(first_fail, 0u);
  EXPECT_LE(first_fail - z.max_cells_per_node(),
            std::max<uint32_t>(1, static_cast<uint32_t>(0.02 * z.max_cells_per_node())));
  // The rollout: 600 cells at the peak.
  EXPECT_EQ(z.peak_cells(), 600u);
  const uint32_t nodes = (600 + z.max_cells_per_node() - 1) / z.max_cells_per_node();
  EXPECT_EQ(z.nodes_needed(), nodes);
  EXPECT_EQ(z.nodes_n_plus_1(), nodes + 1);
  EXPECT_EQ(z.cores_total(), nodes + 1);
  EXPECT_GT(z.memory_gib_per_node(), 0);
  // The report reads it.
  ReportInput in;
  in.results = out.results;
  in.sizing = z;
  in.has_sizing = in.has_run = true;
  const std::string md = render_markdown(in, Lang::kEn);
  EXPECT_NE(md.find(std::string(text(Lang::kEn, Msg::kSizeNodes))), std::string::npos);
  EXPECT_EQ(md.find(std::string(text(Lang::kEn, Msg::kCapacityAbsent))), std::string::npos);
}

// Shows: an objective the links break at every load (join p99 <= 1 ms over
// a 10 ms link: missed already with one cell on the node) is link-bound: it
// is reported with its figures but left out of the search, which still finds
// the hand-solved capacity from the server-bound heartbeat objective.
TEST(SizingTest, LinkBoundObjectivesAreLeftOutOfTheSearch) {
  v1::Scenario s = load_fixture();
  v1::Slo* impossible = s.add_slos();
  impossible->set_metric("join_latency");
  impossible->set_quantile(0.99);
  impossible->set_max_ms(1);
  SizeOptions o;
  o.replications = 3;
  o.total_cells = 1000;
  o.peak_share = 0.6;
  const SizeOutcome out = size(s, load_calibration(), o);
  ASSERT_TRUE(out.ok) << out.error;
  const v1::Sizing& z = out.results.sizing();
  ASSERT_FALSE(z.curve().empty());
  ASSERT_EQ(z.curve(0).slos_size(), 2);
  EXPECT_EQ(link_bound_slos(z), std::vector<int>{1});
  for (const v1::CapacityPoint& p : z.curve()) {
    EXPECT_FALSE(p.slos(1).met()) << p.cells_per_node();  // still recorded, never met
    EXPECT_GT(p.slos(1).mean(), 1.0);
  }
  EXPECT_GE(z.max_cells_per_node(), 91u);
  EXPECT_LE(z.max_cells_per_node(), 100u);
  EXPECT_GT(z.nodes_needed(), 0u);
  // The report says which objective the links set, with its figure.
  ReportInput in;
  in.results = out.results;
  in.sizing = z;
  in.has_sizing = in.has_run = true;
  for (Lang l : {Lang::kEn, Lang::kVi}) {
    const std::string md = render_markdown(in, l);
    std::cout << md.substr(md.find(std::string(text(l, Msg::kSecSizing))), 1800) << "\n";
    EXPECT_NE(md.find(std::string(text(l, Msg::kSizeLinkBound))), std::string::npos);
    EXPECT_NE(md.find(std::string(text(l, Msg::kSizeServerBound))), std::string::npos);
    EXPECT_NE(md.find(std::string(text(l, Msg::kLinkBoundHeading))), std::string::npos);
    EXPECT_NE(md.find(std::string(text(l, Msg::kSizeNodes))), std::string::npos);
  }
}

// Shows: when every objective is link-bound, no objective can decide the
// load: the search stops at the smallest point and answers none.
TEST(SizingTest, OnlyLinkBoundObjectivesGiveNoAnswer) {
  v1::Scenario s = load_fixture();
  s.clear_slos();
  v1::Slo* impossible = s.add_slos();
  impossible->set_metric("join_latency");
  impossible->set_quantile(0.99);
  impossible->set_max_ms(1);
  SizeOptions o;
  o.replications = 2;
  const SizeOutcome out = size(s, load_calibration(), o);
  ASSERT_TRUE(out.ok) << out.error;
  const v1::Sizing& z = out.results.sizing();
  EXPECT_EQ(z.curve_size(), 1);
  EXPECT_EQ(z.max_cells_per_node(), 0u);
  EXPECT_FALSE(z.capped());
  EXPECT_EQ(link_bound_slos(z), std::vector<int>{0});
  ReportInput in;
  in.results = out.results;
  in.sizing = z;
  in.has_sizing = in.has_run = true;
  EXPECT_NE(render_markdown(in, Lang::kEn).find(std::string(text(Lang::kEn, Msg::kSizeNone))),
            std::string::npos);
}

// Shows: scaling keeps the mix and gives every type a cell.
TEST(SizingTest, ScalesCellTypesToTheNode) {
  v1::Scenario s;
  s.mutable_server()->set_nodes(4);
  for (uint32_t n : {2600u, 1400u, 500u}) s.add_cell_types()->set_count(n);
  const v1::Scenario x = scale_to_node(s, 100);
  EXPECT_EQ(x.server().nodes(), 1u);
  EXPECT_EQ(x.cell_types(0).count() + x.cell_types(1).count() + x.cell_types(2).count(), 100u);
  EXPECT_NEAR(x.cell_types(0).count(), 100.0 * 2600 / 4500, 1.5);
  const v1::Scenario y = scale_to_node(s, 3);
  for (const auto& c : y.cell_types()) EXPECT_EQ(c.count(), 1u);
}

}  // namespace
}  // namespace cellsim::report
