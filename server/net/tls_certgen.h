// Certificates made at run time with the OpenSSL 3 API, in PEM: a CA, and a
// server certificate it signs for given names (IP addresses and DNS names as
// subject alternative names). For the tests (no keys are committed) and for
// the live driver's embedded cellmeetd; not a CA for production use.
//
// Keys are ECDSA P-256, signatures SHA-256; certificates are valid from an
// hour ago for kTlsCertValidDays.
//
// Thread-safety: the functions are reentrant.
#ifndef CELLSIM_SERVER_NET_TLS_CERTGEN_H_
#define CELLSIM_SERVER_NET_TLS_CERTGEN_H_

#include <string>
#include <vector>

namespace cellsim::net {

// How long a generated certificate is valid.
inline constexpr int kTlsCertValidDays = 30;

// A certificate and its private key, PEM text.
struct PemCertKey {
  std::string cert_pem;
  std::string key_pem;
};

// A self-signed CA named `common_name`. False with why.
bool make_tls_ca(const std::string& common_name, PemCertKey* ca, std::string* why);

// A server certificate signed by `ca` for `names` (each an IP address, e.g.
// "127.0.0.1", or a DNS name, e.g. "localhost"). False with why.
bool make_tls_server_cert(const PemCertKey& ca, const std::vector<std::string>& names,
                          PemCertKey* cert, std::string* why);

// Writes `text` to `path` with file mode `mode` (0600 for keys). False with why.
bool write_pem_file(const std::string& path, const std::string& text, unsigned mode,
                    std::string* why);

}  // namespace cellsim::net

#endif  // CELLSIM_SERVER_NET_TLS_CERTGEN_H_
