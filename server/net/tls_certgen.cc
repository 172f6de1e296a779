#include "server/net/tls_certgen.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace cellsim::net {
namespace {

// Bits of a certificate's random serial number.
constexpr int kSerialBits = 64;
// A certificate is valid from this long before it was made (clock skew).
constexpr long kBackdateS = 3600;
constexpr long kSecondsPerDay = 24 * 3600;

struct Free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, Free>;
using CertPtr = std::unique_ptr<X509, Free>;
using BioPtr = std::unique_ptr<BIO, Free>;
using BnPtr = std::unique_ptr<BIGNUM, Free>;

std::string ssl_error(const std::string& what) {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  char buf[256] = "unknown error";
  if (e != 0) ERR_error_string_n(e, buf, sizeof buf);
  return what + ": " + buf;
}

bool is_ip_address(const std::string& name) {
  unsigned char addr[16];
  return inet_pton(AF_INET, name.c_str(), addr) == 1 ||
         inet_pton(AF_INET6, name.c_str(), addr) == 1;
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

bool to_pem(X509* cert, EVP_PKEY* key, PemCertKey* out, std::string* why) {
  BioPtr cert_bio(BIO_new(BIO_s_mem()));
  BioPtr key_bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_X509(cert_bio.get(), cert) != 1 ||
      PEM_write_bio_PrivateKey(key_bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    *why = ssl_error("cannot write PEM");
    return false;
  }
  out->cert_pem = bio_text(cert_bio.get());
  out->key_pem = bio_text(key_bio.get());
  return true;
}

bool from_pem(const PemCertKey& in, CertPtr* cert, KeyPtr* key, std::string* why) {
  BioPtr cert_bio(BIO_new_mem_buf(in.cert_pem.data(), static_cast<int>(in.cert_pem.size())));
  BioPtr key_bio(BIO_new_mem_buf(in.key_pem.data(), static_cast<int>(in.key_pem.size())));
  cert->reset(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  key->reset(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!*cert || !*key) {
    *why = ssl_error("the CA is not a PEM certificate and key");
    return false;
  }
  return true;
}

// Adds the extension `nid` = `value` (openssl x509v3_config syntax).
bool add_ext(X509* cert, X509* issuer, int nid, const std::string& value, std::string* why) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  const bool ok = ext && X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  if (!ok) *why = ssl_error("certificate extension " + value);
  return ok;
}

// A certificate for `key`, subject CN=`common_name`, issuer `issuer`'s
// subject (itself when null), valid kTlsCertValidDays; unsigned.
CertPtr new_cert(EVP_PKEY* key, const std::string& common_name, X509* issuer, std::string* why) {
  CertPtr cert(X509_new());
  BnPtr serial(BN_new());
  if (!cert || !serial ||
      BN_rand(serial.get(), kSerialBits, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      !BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) ||
      X509_set_version(cert.get(), 2) != 1 ||
      !X509_gmtime_adj(X509_getm_notBefore(cert.get()), -kBackdateS) ||
      !X509_gmtime_adj(X509_getm_notAfter(cert.get()), kTlsCertValidDays * kSecondsPerDay) ||
      X509_set_pubkey(cert.get(), key) != 1) {
    *why = ssl_error("cannot make a certificate");
    return nullptr;
  }
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("cellsim"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
  return cert;
}

KeyPtr new_key(std::string* why) {
  KeyPtr key(EVP_EC_gen("P-256"));
  if (!key) *why = ssl_error("cannot generate a P-256 key");
  return key;
}

}  // namespace

bool make_tls_ca(const std::string& common_name, PemCertKey* ca, std::string* why) {
  KeyPtr key = new_key(why);
  if (!key) return false;
  CertPtr cert = new_cert(key.get(), common_name, nullptr, why);
  if (!cert) return false;
  X509* c = cert.get();
  if (!add_ext(c, c, NID_basic_constraints, "critical,CA:TRUE", why) ||
      !add_ext(c, c, NID_key_usage, "critical,keyCertSign,cRLSign", why) ||
      !add_ext(c, c, NID_subject_key_identifier, "hash", why)) {
    return false;
  }
  if (X509_sign(c, key.get(), EVP_sha256()) == 0) {
    *why = ssl_error("cannot sign the CA certificate");
    return false;
  }
  return to_pem(c, key.get(), ca, why);
}

bool make_tls_server_cert(const PemCertKey& ca, const std::vector<std::string>& names,
                          PemCertKey* out, std::string* why) {
  if (names.empty()) {
    *why = "a server certificate needs at least one name";
    return false;
  }
  CertPtr ca_cert;
  KeyPtr ca_key;
  if (!from_pem(ca, &ca_cert, &ca_key, why)) return false;
  KeyPtr key = new_key(why);
  if (!key) return false;
  CertPtr cert = new_cert(key.get(), names.front(), ca_cert.get(), why);
  if (!cert) return false;
  std::string san;
  for (const std::string& n : names) {
    san += (san.empty() ? "" : ",") + std::string(is_ip_address(n) ? "IP:" : "DNS:") + n;
  }
  X509* c = cert.get();
  if (!add_ext(c, ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE", why) ||
      !add_ext(c, ca_cert.get(), NID_key_usage, "critical,digitalSignature", why) ||
      !add_ext(c, ca_cert.get(), NID_ext_key_usage, "serverAuth", why) ||
      !add_ext(c, ca_cert.get(), NID_subject_alt_name, san, why) ||
      !add_ext(c, ca_cert.get(), NID_authority_key_identifier, "keyid", why)) {
    return false;
  }
  if (X509_sign(c, ca_key.get(), EVP_sha256()) == 0) {
    *why = ssl_error("cannot sign the server certificate");
    return false;
  }
  return to_pem(c, key.get(), out, why);
}

bool write_pem_file(const std::string& path, const std::string& text, unsigned mode,
                    std::string* why) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) {
    *why = path + ": " + std::strerror(errno);
    return false;
  }
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *why = path + ": " + std::strerror(errno);
      ::close(fd);
      return false;
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) {
    *why = path + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

}  // namespace cellsim::net
