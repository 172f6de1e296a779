// cellmeet-demo: holds the demo meeting (tools/demo/demo_meeting.h) against a
// running cellmeetd and prints what happens and the minutes.
//
//   cellmeet-demo --target HOST:PORT --key FILE [--tls-ca FILE [--tls-name NAME]]
//   cellmeet-demo --help | --version
//   cellmeet-demo --write-deployment FILE     (the demo cell's roster, for cellmeetd)
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>

#include <google/protobuf/text_format.h>

#include "cli/flags.h"
#include "server/net/config.h"
#include "tools/demo/demo_meeting.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;

constexpr int kMaxStepTimeoutMs = 600'000;

constexpr char kDemoAbout[] =
    "Holds the demo meeting of cell 1001 (12 members) against cellmeetd and prints what\n"
    "happens and the minutes. --tls-ca FILE: TLS 1.3, the server's certificate verified\n"
    "against the CA certificates in FILE (PEM) for the target's address, or --tls-name.";

struct DemoArgs {
  std::string target, key_file, tls_ca, write_deployment;
  uint32_t step_timeout_ms = 0;
};

void add_demo_flags(cellsim::cli::Flags& f, DemoArgs* a, cellsim::demo::DemoOptions* o) {
  f.host_port("--target", &a->target, "the cellmeetd to meet on");
  f.text("--key", &a->key_file, "the server's key file (hex)");
  f.u32("--step-timeout-ms", &a->step_timeout_ms, 1, kMaxStepTimeoutMs,
        "how long each step may wait for the server");
  f.text("--tls-ca", &a->tls_ca, "CA certificates (PEM): TLS 1.3");
  f.text("--tls-name", &o->tls_server_name, "the name the server's certificate must carry");
  f.text("--write-deployment", &a->write_deployment,
         "write the demo cell's roster (a cellmeetd --deployment file) and exit");
  f.footer("exit: 0 the meeting was held, 1 it failed, 2 bad command line.");
}

int write_deployment(const std::string& path) {
  cellsim::v1::Deployment d;
  *d.add_cells() = cellsim::demo::demo_roster();
  std::string text;
  google::protobuf::TextFormat::PrintToString(d, &text);
  std::ofstream out(path);
  out << "# The demo cell (cellmeet-demo --write-deployment): cellsim.v1.Deployment\n" << text;
  if (!out) {
    std::cerr << "cellmeet-demo: cannot write " << path << "\n";
    return kExitFailed;
  }
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  cellsim::demo::DemoOptions o;
  DemoArgs a;
  cellsim::cli::Flags f("cellmeet-demo", kDemoAbout);
  add_demo_flags(f, &a, &o);
  if (auto rc = f.parse(argc, argv)) return *rc;
  if (!a.write_deployment.empty()) return write_deployment(a.write_deployment);
  if (a.target.empty() || a.key_file.empty()) {
    return f.usage_error("--target and --key are required");
  }
  if (!o.tls_server_name.empty() && a.tls_ca.empty()) {
    return f.usage_error("--tls-name needs --tls-ca");
  }
  cellsim::cli::split_host_port(a.target, &o.host, &o.port);
  if (a.step_timeout_ms != 0) o.step_timeout_ms = static_cast<int>(a.step_timeout_ms);
  const std::string& tls_ca = a.tls_ca;
  const std::string& key_file = a.key_file;
  std::string why;
  if (!tls_ca.empty() && !(o.tls = cellsim::net::TlsContext::client_from_file(tls_ca, &why))) {
    return f.usage_error("--tls-ca: " + why);
  }
  if (!cellsim::net::load_key_file(key_file, &o.key, &why)) {
    std::cerr << "cellmeet-demo: " << why << "\n";
    return kExitFailed;
  }
  o.log = &std::cout;
  const auto r = cellsim::demo::run_demo_meeting(o);
  if (!r.ok) {
    std::cerr << "cellmeet-demo: FAILED: " << r.error << "\n";
    return kExitFailed;
  }
  std::cout << "\n";
  cellsim::demo::print_minutes(r.minutes, std::cout);
  std::cout << "\nDemo meeting complete: quorum reached, " << r.votes.size()
            << " votes held, minutes complete.\n";
  return kExitOk;
}
