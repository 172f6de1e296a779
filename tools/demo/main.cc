// cellmeet-demo: holds the demo meeting (tools/demo/demo_meeting.h) against a
// running cellmeetd and prints what happens and the minutes.
//
//   cellmeet-demo --target HOST:PORT --key FILE [--tls-ca FILE [--tls-name NAME]]
//   cellmeet-demo --write-deployment FILE     (the demo cell's roster, for cellmeetd)
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>

#include <google/protobuf/text_format.h>

#include "server/net/config.h"
#include "tools/demo/demo_meeting.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

int usage(const std::string& problem) {
  if (!problem.empty()) std::cerr << "cellmeet-demo: " << problem << "\n";
  std::cerr << "usage: cellmeet-demo --target HOST:PORT --key FILE [--step-timeout-ms N]\n"
               "                     [--tls-ca FILE [--tls-name NAME]]\n"
               "       cellmeet-demo --write-deployment FILE\n"
               "Holds the demo meeting of cell 1001 (12 members) against cellmeetd.\n"
               "--tls-ca FILE: TLS 1.3, the server's certificate verified against the CA\n"
               "certificates in FILE (PEM) for the target's address, or --tls-name.\n";
  return problem.empty() ? kExitOk : kExitUsage;
}

bool split_target(const std::string& t, std::string* host, uint16_t* port) {
  const auto colon = t.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  *host = t.substr(0, colon);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  char* end = nullptr;
  const long p = std::strtol(t.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || p <= 0 || p > 65535) return false;
  *port = static_cast<uint16_t>(p);
  return true;
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
  std::string target, key_file, tls_ca;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string v;
    if (a == "--help" || a == "-h") return usage("");
    if (a == "--write-deployment") {
      if (!value(&v)) return usage("--write-deployment needs a FILE");
      return write_deployment(v);
    }
    if (a == "--target") {
      if (!value(&target) || !split_target(target, &o.host, &o.port)) {
        return usage("--target needs HOST:PORT with a port in 1..65535");
      }
    } else if (a == "--key") {
      if (!value(&key_file)) return usage("--key needs a FILE");
    } else if (a == "--tls-ca") {
      if (!value(&tls_ca) || tls_ca.empty()) return usage("--tls-ca needs a FILE");
    } else if (a == "--tls-name") {
      if (!value(&o.tls_server_name) || o.tls_server_name.empty()) {
        return usage("--tls-name needs a NAME");
      }
    } else if (a == "--step-timeout-ms") {
      char* end = nullptr;
      long ms = value(&v) ? std::strtol(v.c_str(), &end, 10) : -1;
      if (ms < 1 || ms > 600000 || end == nullptr || *end != '\0') {
        return usage("--step-timeout-ms needs a number in 1..600000");
      }
      o.step_timeout_ms = static_cast<int>(ms);
    } else {
      return usage("unknown argument " + a);
    }
  }
  if (o.port == 0 || key_file.empty()) return usage("--target and --key are required");
  if (!o.tls_server_name.empty() && tls_ca.empty()) return usage("--tls-name needs --tls-ca");
  std::string why;
  if (!tls_ca.empty() && !(o.tls = cellsim::net::TlsContext::client_from_file(tls_ca, &why))) {
    return usage("--tls-ca: " + why);
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
