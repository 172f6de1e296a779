#include "server/engine/token.h"

#include "proto/assert.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>


namespace cellsim::engine {
namespace {

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  const unsigned char* ok =
      HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &mac_len);
  CELLSIM_ASSERT(ok != nullptr && mac_len == kMacBytes);
  (void)ok;
  return std::string(reinterpret_cast<const char*>(mac), mac_len);
}

bool equal_ct(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void put_u64(uint64_t v, std::string* out) {
  for (int i = 7; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t get_u64(std::string_view s) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(s[i]);
  return v;
}

std::string resume_material(uint64_t cell_id, uint64_t member_id, uint64_t session_id,
                            uint64_t run_id) {
  std::string m = "resume";
  put_u64(cell_id, &m);
  put_u64(member_id, &m);
  put_u64(session_id, &m);
  put_u64(run_id, &m);
  return m;
}

TokenCheck fail(v1::ErrorCode code, std::string reason) {
  TokenCheck r;
  r.error = code;
  r.reason = std::move(reason);
  return r;
}

}  // namespace

std::string mint_token(std::string_view key, const v1::TokenClaims& claims) {
  v1::Token token;
  token.set_claims(claims.SerializeAsString());
  token.set_mac(hmac_sha256(key, token.claims()));
  return token.SerializeAsString();
}

TokenCheck verify_token(std::string_view key, std::string_view token_bytes,
                        uint64_t hello_cell_id, uint64_t hello_member_id, int64_t now_ms) {
  v1::Token token;
  if (token_bytes.empty()) return fail(v1::ERROR_TOKEN_INVALID, "token missing");
  if (!token.ParseFromArray(token_bytes.data(), static_cast<int>(token_bytes.size()))) {
    return fail(v1::ERROR_TOKEN_INVALID, "token does not parse");
  }
  if (!equal_ct(token.mac(), hmac_sha256(key, token.claims()))) {
    return fail(v1::ERROR_TOKEN_INVALID, "token signature does not verify");
  }
  TokenCheck r;
  if (!r.claims.ParseFromString(token.claims())) {
    return fail(v1::ERROR_TOKEN_INVALID, "token claims do not parse");
  }
  if (r.claims.cell_id() != hello_cell_id) {
    return fail(v1::ERROR_TOKEN_WRONG_CELL, "token is for cell " +
                                                std::to_string(r.claims.cell_id()) +
                                                ", not cell " + std::to_string(hello_cell_id));
  }
  if (r.claims.member_id() != hello_member_id) {
    return fail(v1::ERROR_TOKEN_INVALID, "token is for another member");
  }
  if (r.claims.expires_at_ms() <= now_ms) {
    return fail(v1::ERROR_TOKEN_EXPIRED, "token expired at " +
                                             std::to_string(r.claims.expires_at_ms()) +
                                             " ms, now " + std::to_string(now_ms) + " ms");
  }
  return r;
}

std::string mint_resume(std::string_view key, uint64_t cell_id, uint64_t member_id,
                        uint64_t session_id, uint64_t run_id) {
  std::string out;
  put_u64(session_id, &out);
  put_u64(run_id, &out);
  out += hmac_sha256(key, resume_material(cell_id, member_id, session_id, run_id));
  return out;
}

ResumeCheck verify_resume(std::string_view key, std::string_view resume, uint64_t cell_id,
                          uint64_t member_id) {
  ResumeCheck r;
  if (resume.size() != 16 + kMacBytes) return r;
  r.session_id = get_u64(resume.substr(0, 8));
  r.run_id = get_u64(resume.substr(8, 8));
  const std::string want =
      hmac_sha256(key, resume_material(cell_id, member_id, r.session_id, r.run_id));
  r.valid = equal_ct(resume.substr(16), want);
  return r;
}

}  // namespace cellsim::engine
