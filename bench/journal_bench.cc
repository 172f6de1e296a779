// The journal's cost (DESIGN.md, "Acknowledged means durable"): an
// in-process cellmeetd (net::Server, two shards) with the journal
// (minutes_dir on a real disk) and without it (minutes_dir empty), measured
// in the same run with interleaved repetitions.
//
// Workload, per cell (kCells cells, one client thread each, closed loop):
// the chair opens a vote, the kMembers members cast their ballots at once
// (one burst: several ballots can share a group commit), each reads its
// BallotAck, the chair closes the vote; kRounds times. Show-of-hands votes
// put each ballot in the shard's log; secret votes rewrite the vote's ballot
// box instead (tmp file, fsync, rename, and an fsync of the folder).
//
// Counters (Google Benchmark; the summary at the end prints the medians of
// the repetitions and the cost of the journal):
//   acks_per_s           BallotAcks + chair commands answered, per second
//   ballot_ack_p50_us/p99_us  CastBallot sent -> its BallotAck read
//   command_p50_us/p99_us     OpenVote/CloseVote sent -> VoteOpened/VoteClosed
//   commits_per_s        journal group commits per second (metrics:
//                        cellmeet_journal_commit_seconds_count)
//   records_per_commit   log records written per commit (the log read back)
//   commit_mean_us       mean wall time of a commit (write + fsync)
//
//   journal_bench [--benchmark_repetitions=N]   (default: 5, interleaved)
//   JOURNAL_BENCH_DIR=DIR: where the journal lives (default /tmp; the
//   filesystem type is printed: tmpfs would not measure a disk).
#include <benchmark/benchmark.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/net/journal.h"
#include "server/net/server.h"
#include "tests/net/net_fixture.h"
#include "tests/net/test_client.h"

namespace {

namespace v1 = ::cellsim::v1;
namespace net = ::cellsim::net;
namespace nt = ::cellsim::net::testing;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kCells = 4;     // two per shard
constexpr uint64_t kMembers = 8;   // voters per cell, plus the chair (member 1)
constexpr int kRounds = 120;       // votes per cell per repetition
constexpr int kTimeoutMs = 10'000;
const std::string kKey(32, 'j');

std::string base_dir() {
  if (const char* d = std::getenv("JOURNAL_BENCH_DIR")) return d;
  return "/tmp";
}

std::string fs_type(const std::string& path) {
  struct statfs s {};
  if (::statfs(path.c_str(), &s) != 0) return "unknown";
  switch (static_cast<unsigned long>(s.f_type)) {
    case 0xEF53: return "ext4";
    case 0x01021994: return "tmpfs";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x794c7630: return "overlayfs";
    default: return "f_type 0x" + [&] {
      char b[32];
      std::snprintf(b, sizeof b, "%lx", static_cast<unsigned long>(s.f_type));
      return std::string(b);
    }();
  }
}

v1::Deployment deployment() {
  v1::Deployment d;
  for (uint64_t c = 1; c <= kCells; ++c) {
    auto* r = d.add_cells();
    r->set_cell_id(c);
    r->set_name("bench cell " + std::to_string(c));
    for (uint64_t m = 1; m <= kMembers + 1; ++m) {
      auto* mem = r->add_members();
      mem->set_member_id(m);
      mem->set_name("member " + std::to_string(m));
      mem->set_standing(v1::STANDING_OFFICIAL);
      mem->set_role(m == 1 ? v1::ROLE_CHAIR : v1::ROLE_MEMBER);
    }
  }
  return d;
}

// Reads until a frame with `want`; false on an Error, EOF or timeout.
bool await(nt::TestClient& c, v1::Envelope::BodyCase want, uint64_t rid, v1::Envelope* out) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(kTimeoutMs);
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0 || c.read(out, static_cast<int>(left)) != nt::TestClient::Read::kFrame) {
      return false;
    }
    if (out->body_case() == want && (rid == 0 || out->request_id() == rid)) return true;
    if (out->body_case() == v1::Envelope::kError) return false;
  }
}

struct CellResult {
  std::vector<int64_t> ballot_ns, command_ns;
  std::string error;
};

// One cell's clients: [1] the chair, [2 .. kMembers + 1] the voters; the
// request ids so far, and scratch frames (`out` keeps the last frame read,
// for the error messages).
struct CellClients {
  uint64_t cell = 0;
  std::vector<std::unique_ptr<nt::TestClient>> c =
      std::vector<std::unique_ptr<nt::TestClient>>(kMembers + 2);
  uint64_t rid = 0;
  v1::Envelope env, out;
  std::vector<Clock::time_point> sent = std::vector<Clock::time_point>(kMembers + 2);
  std::vector<uint64_t> rids = std::vector<uint64_t>(kMembers + 2);
};

// Connects every member, says Hello and joins the meeting.
bool login_all(uint16_t port, CellClients* k) {
  for (uint64_t m = 1; m <= kMembers + 1; ++m) {
    k->c[m] = std::make_unique<nt::TestClient>();
    const std::string token = nt::make_token(kKey, k->cell, m, v1::STANDING_OFFICIAL,
                                             m == 1 ? v1::ROLE_CHAIR : v1::ROLE_MEMBER);
    k->env.Clear();
    k->env.set_request_id(++k->rid);
    k->env.mutable_join_meeting();
    if (!k->c[m]->connect(port) ||
        !k->c[m]->send(nt::hello_envelope(k->cell, m, token, ++k->rid)) ||
        !await(*k->c[m], v1::Envelope::kWelcome, 0, &k->out) || !k->c[m]->send(k->env) ||
        !await(*k->c[m], v1::Envelope::kMeetingState, k->env.request_id(), &k->out)) {
      return false;
    }
  }
  return true;
}

// The chair sends k->env and reads `want`; the time it took goes to *ns.
bool chair_command(CellClients* k, v1::Envelope::BodyCase want, std::vector<int64_t>* ns) {
  const auto t0 = Clock::now();
  if (!k->c[1]->send(k->env) || !await(*k->c[1], want, 0, &k->out)) return false;
  ns->push_back((Clock::now() - t0).count());
  return true;
}

// Every voter casts a ballot at once, then each reads its BallotAck.
bool ballot_burst(int round, CellClients* k, CellResult* res) {
  for (uint64_t m = 2; m <= kMembers + 1; ++m) {
    k->env.Clear();
    k->env.set_request_id(k->rids[m] = ++k->rid);
    auto* b = k->env.mutable_cast_ballot();
    b->set_vote_id(static_cast<uint64_t>(round));
    b->set_choice(static_cast<v1::Choice>(1 + (m + round) % 3));
    b->set_ballot_id(m * 1000 + round);
    k->sent[m] = Clock::now();
    if (!k->c[m]->send(k->env)) {
      res->error = "CastBallot send failed";
      return false;
    }
  }
  for (uint64_t m = 2; m <= kMembers + 1; ++m) {
    if (!await(*k->c[m], v1::Envelope::kBallotAck, k->rids[m], &k->out)) {
      res->error = "no BallotAck: " + k->out.ShortDebugString();
      return false;
    }
    res->ballot_ns.push_back((Clock::now() - k->sent[m]).count());
  }
  return true;
}

// One vote: OpenVote, the burst of ballots, CloseVote counting them all.
bool vote_round(int round, bool secret, CellClients* k, CellResult* res) {
  k->env.Clear();
  k->env.mutable_open_vote()->set_vote_id(static_cast<uint64_t>(round));
  k->env.mutable_open_vote()->set_kind(secret ? v1::VOTE_KIND_ELECTION : v1::VOTE_KIND_RESOLUTION);
  if (!chair_command(k, v1::Envelope::kVoteOpened, &res->command_ns)) {
    res->error = "OpenVote failed: " + k->out.ShortDebugString();
    return false;
  }
  if (!ballot_burst(round, k, res)) return false;
  k->env.Clear();
  k->env.mutable_close_vote()->set_vote_id(static_cast<uint64_t>(round));
  if (!chair_command(k, v1::Envelope::kVoteClosed, &res->command_ns)) {
    res->error = "CloseVote failed: " + k->out.ShortDebugString();
    return false;
  }
  if (k->out.vote_closed().voters_size() != static_cast<int>(kMembers)) {
    res->error = "VoteClosed does not count every ballot";
    return false;
  }
  return true;
}

// One cell's client side: connects its members, opens the meeting, waits at
// `start`, then runs kRounds votes.
void run_cell(uint16_t port, uint64_t cell, bool secret, std::atomic<int>* ready,
              std::atomic<bool>* go, CellResult* res) {
  CellClients k;
  k.cell = cell;
  if (!login_all(port, &k)) {
    res->error = "login/join failed";
    ready->fetch_add(1);
    return;
  }
  k.env.Clear();
  k.env.mutable_open_meeting()->set_reason("journal bench");
  if (!k.c[1]->send(k.env) || !await(*k.c[1], v1::Envelope::kMeetingState, 0, &k.out)) {
    res->error = "OpenMeeting failed";
  }
  ready->fetch_add(1);
  while (!go->load()) std::this_thread::yield();
  if (!res->error.empty()) return;
  res->ballot_ns.reserve(kRounds * kMembers);
  for (int round = 1; round <= kRounds; ++round) {
    if (!vote_round(round, secret, &k, res)) return;
  }
}

double percentile_us(std::vector<int64_t>* v, double p) {
  if (v->empty()) return 0;
  const size_t k = std::min(v->size() - 1, static_cast<size_t>(p * static_cast<double>(v->size())));
  std::nth_element(v->begin(), v->begin() + static_cast<ptrdiff_t>(k), v->end());
  return static_cast<double>((*v)[k]) / 1000.0;
}

double metric(uint16_t metrics_port, const std::string& name) {
  const auto m = nt::parse_metrics(nt::http_get(metrics_port, "/metrics"));
  auto it = m.find(name);
  return it == m.end() ? 0.0 : it->second;
}

size_t journal_records(const std::string& minutes_dir) {
  net::JournalContents contents;
  std::string why;
  if (!net::read_journal(minutes_dir, kKey, &contents, &why)) return 0;
  return contents.records.size();
}

// Medians for the summary: name -> counter -> values of the repetitions.
std::mutex g_mu;
std::map<std::string, std::map<std::string, std::vector<double>>> g_runs;

// The journal's folder for one repetition (created empty), or "" without a journal.
std::string fresh_journal_dir(bool journal) {
  if (!journal) return "";
  const std::string dir = base_dir() + "/cellsim_journal_bench_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

net::ServerOptions server_options(const std::string& minutes_dir) {
  net::ServerOptions o;
  o.listen_address = "127.0.0.1";
  o.metrics_address = "127.0.0.1";
  o.threads = 2;
  o.key = kKey;
  o.deployment = deployment();
  o.minutes_dir = minutes_dir;
  return o;
}

// The journal's own figures over the measured time: group commits, their
// seconds, and the log records written.
struct JournalFigures {
  double commits = 0, commit_s = 0;
  size_t records = 0;
};

// The counters of a repetition; false (with *error) if a cell failed.
bool repetition_counters(const std::vector<CellResult>& results, double elapsed,
                         const JournalFigures& j, std::map<std::string, double>* c,
                         std::string* error) {
  std::vector<int64_t> ballots, commands;
  for (const auto& r : results) {
    if (!r.error.empty()) {
      *error = r.error;
      return false;
    }
    ballots.insert(ballots.end(), r.ballot_ns.begin(), r.ballot_ns.end());
    commands.insert(commands.end(), r.command_ns.begin(), r.command_ns.end());
  }
  (*c)["acks_per_s"] = static_cast<double>(ballots.size() + commands.size()) / elapsed;
  (*c)["ballot_acks_per_s"] = static_cast<double>(ballots.size()) / elapsed;
  (*c)["ballot_ack_p50_us"] = percentile_us(&ballots, 0.50);
  (*c)["ballot_ack_p99_us"] = percentile_us(&ballots, 0.99);
  (*c)["command_p50_us"] = percentile_us(&commands, 0.50);
  (*c)["command_p99_us"] = percentile_us(&commands, 0.99);
  (*c)["commits_per_s"] = j.commits / elapsed;
  (*c)["records_per_commit"] = j.commits > 0 ? static_cast<double>(j.records) / j.commits : 0;
  (*c)["commit_mean_us"] = j.commits > 0 ? j.commit_s / j.commits * 1e6 : 0;
  return true;
}

void BM_JournalBallots(benchmark::State& state) {
  const bool journal = state.range(0) != 0;
  const bool secret = state.range(1) != 0;
  const std::string dir = fresh_journal_dir(journal);
  net::Server server(server_options(dir));
  std::string why;
  if (!server.start(&why)) {
    state.SkipWithError(("server: " + why).c_str());
    return;
  }
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<CellResult> results(kCells);
  std::vector<std::thread> threads;
  for (uint64_t cell = 1; cell <= kCells; ++cell) {
    threads.emplace_back(run_cell, server.port(), cell, secret, &ready, &go, &results[cell - 1]);
  }
  while (ready.load() < static_cast<int>(kCells)) std::this_thread::yield();
  const double commits0 = metric(server.metrics_port(), "cellmeet_journal_commit_seconds_count");
  const double commit_s0 = metric(server.metrics_port(), "cellmeet_journal_commit_seconds_sum");
  const size_t records0 = journal ? journal_records(dir) : 0;
  double elapsed = 0;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    go.store(true);
    for (auto& t : threads) t.join();
    elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    state.SetIterationTime(elapsed);
  }
  JournalFigures j;
  j.commits = metric(server.metrics_port(), "cellmeet_journal_commit_seconds_count") - commits0;
  j.commit_s = metric(server.metrics_port(), "cellmeet_journal_commit_seconds_sum") - commit_s0;
  j.records = journal ? journal_records(dir) - records0 : 0;
  server.stop();
  if (journal) std::filesystem::remove_all(dir);
  std::map<std::string, double> c;
  if (!repetition_counters(results, elapsed, j, &c, &why)) {
    state.SkipWithError(why.c_str());
    return;
  }
  for (const auto& [k, v] : c) state.counters[k] = v;
  std::lock_guard<std::mutex> l(g_mu);
  const std::string key = std::string("journal_bench/ballots/journal:") + (journal ? "1" : "0") +
                          "/secret:" + (secret ? "1" : "0");
  for (const auto& [k, v] : c) g_runs[key][k].push_back(v);
}

BENCHMARK(BM_JournalBallots)
    ->Name("journal_bench/ballots")
    ->ArgNames({"journal", "secret"})
    ->ArgsProduct({{1, 0}, {0, 1}})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  // Defaults (a flag given on the command line wins): 5 interleaved repetitions.
  std::vector<char*> args(argv, argv + argc);
  std::vector<std::string> extra = {"--benchmark_repetitions=5",
                                    "--benchmark_enable_random_interleaving=true",
                                    "--benchmark_report_aggregates_only=true"};
  for (auto& e : extra) {
    const std::string key = e.substr(0, e.find('='));
    bool given = false;
    for (int i = 1; i < argc; ++i) given = given || std::string(argv[i]).rfind(key, 0) == 0;
    if (!given) args.insert(args.begin() + 1, e.data());
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  std::cout << "journal_bench: journal under " << base_dir() << " (" << fs_type(base_dir())
            << "), " << kCells << " cells x " << kMembers << " voters, " << kRounds
            << " votes per cell per repetition, 2 shards" << std::endl;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  std::cout << "\njournal_bench: medians of the repetitions (journal on " << fs_type(base_dir())
            << ")\n";
  std::printf("%-44s %10s %9s %9s %9s %9s %10s %8s %9s\n", "benchmark", "acks/s", "ballot50",
              "ballot99", "cmd50", "cmd99", "commits/s", "rec/cmt", "commit_us");
  for (const auto& [name, counters] : g_runs) {
    auto md = [&](const char* k) { return median(counters.at(k)); };
    std::printf("%-44s %10.0f %9.0f %9.0f %9.0f %9.0f %10.0f %8.2f %9.0f\n", name.c_str(),
                md("acks_per_s"), md("ballot_ack_p50_us"), md("ballot_ack_p99_us"),
                md("command_p50_us"), md("command_p99_us"), md("commits_per_s"),
                md("records_per_commit"), md("commit_mean_us"));
  }
  for (const char* kind : {"0", "1"}) {
    const std::string on = std::string("journal_bench/ballots/journal:1/secret:") + kind;
    const std::string off = std::string("journal_bench/ballots/journal:0/secret:") + kind;
    auto find = [&](const std::string& prefix) -> const std::map<std::string, std::vector<double>>* {
      for (const auto& [name, c] : g_runs) {
        if (name.rfind(prefix, 0) == 0) return &c;
      }
      return nullptr;
    };
    const auto* a = find(on);
    const auto* b = find(off);
    if (a == nullptr || b == nullptr) continue;
    std::printf("%s votes: the journal keeps %.0f%% of the acks/s; ballot ack p99 %.0f us -> %.0f us\n",
                std::string(kind) == "1" ? "secret" : "show-of-hands",
                100.0 * median(a->at("acks_per_s")) / median(b->at("acks_per_s")),
                median(b->at("ballot_ack_p99_us")), median(a->at("ballot_ack_p99_us")));
  }
  return 0;
}
