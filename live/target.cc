#include "live/target.h"

#include <fstream>

#include "proto/assert.h"

namespace cellsim::live {
namespace {

// The TLS flags' combinations (LoadOptions has their meaning); "" when
// they are allowed.
std::string check_tls(const TargetSpec& t) {
  const bool files = !t.tls_cert.empty() || !t.tls_key.empty();
  if (t.tls_generate) {
    if (!t.target.empty()) {
      return "--tls (a generated certificate) is for the embedded server; with --target give "
             "--tls-ca";
    }
    if (!t.tls_ca.empty() || files) return "--tls excludes --tls-ca, --tls-cert and --tls-key";
    return "";
  }
  if ((files || !t.tls_name.empty()) && t.tls_ca.empty()) {
    return "--tls-cert, --tls-key and --tls-name need --tls-ca FILE";
  }
  if (!t.target.empty() && files) {
    return "--tls-cert and --tls-key are for the embedded server (a target has its own)";
  }
  if (t.target.empty() && !t.tls_ca.empty() && (t.tls_cert.empty() || t.tls_key.empty())) {
    return "--tls-ca with the embedded server needs --tls-cert FILE --tls-key FILE (or use --tls)";
  }
  return "";
}

}  // namespace

bool resolve_target(const TargetSpec& t, LoadOptions* o, std::string* why) {
  if (!t.target.empty() && t.key_file.empty()) {
    *why = "--target needs --key FILE (the server's HMAC key)";
    return false;
  }
  if (t.target.empty() && !t.key_file.empty()) {
    *why = "--key is only for --target (the embedded server's key is generated)";
    return false;
  }
  if (std::string tls = check_tls(t); !tls.empty()) {
    *why = tls;
    return false;
  }
  o->tls_ca_file = t.tls_ca;
  o->tls_cert_file = t.tls_cert;
  o->tls_key_file = t.tls_key;
  o->tls_server_name = t.tls_name;
  o->tls_generate = t.tls_generate;
  if (t.target.empty()) return true;
  CELLSIM_ASSERT(!t.host.empty() && t.port != 0);
  o->target_host = t.host;
  o->target_port = t.port;
  if (!read_key_file(t.key_file, &o->key, why)) {
    *why = "--key: " + *why;
    return false;
  }
  return true;
}

bool write_deployment_file(const v1::Scenario& s, const std::string& path, std::string* why) {
  std::ofstream out(path);
  out << deployment_text(s);
  out.close();
  if (out) return true;
  *why = "cannot write " + path;
  return false;
}

}  // namespace cellsim::live
