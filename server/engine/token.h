// Member tokens: HMAC-SHA256 over the serialized claims (cell, member,
// standing, role, expiry) with a per-deployment key; and resume tokens, an
// HMAC binding a session id to its cell and member.
//
// Pure functions over bytes: no clock (the caller passes `now_ms`), no
// randomness. Thread-safe.
#ifndef CELLSIM_SERVER_ENGINE_TOKEN_H_
#define CELLSIM_SERVER_ENGINE_TOKEN_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "cellsim/v1/wire.pb.h"

namespace cellsim::engine {

namespace v1 = ::cellsim::v1;

inline constexpr size_t kMacBytes = 32;
// Smallest key accepted, bytes.
inline constexpr size_t kMinKeyBytes = 16;

// Returns a serialized v1::Token for `claims`.
std::string mint_token(std::string_view key, const v1::TokenClaims& claims);

struct TokenCheck {
  v1::ErrorCode error = v1::ERROR_CODE_UNSPECIFIED;  // unspecified when good
  std::string reason;
  v1::TokenClaims claims;  // valid only when error is unspecified
  bool ok() const { return error == v1::ERROR_CODE_UNSPECIFIED; }
};

// Checks a serialized token's MAC, then the claims against the Hello's cell
// and member and the expiry. Cell mismatch is ERROR_TOKEN_WRONG_CELL.
TokenCheck verify_token(std::string_view key, std::string_view token_bytes,
                        uint64_t hello_cell_id, uint64_t hello_member_id, int64_t now_ms);

// A resume token: 8 bytes of session id, 8 of run id, then
// HMAC(key, "resume" cell member session run).
std::string mint_resume(std::string_view key, uint64_t cell_id, uint64_t member_id,
                        uint64_t session_id, uint64_t run_id);

struct ResumeCheck {
  bool valid = false;       // the MAC verifies for this cell and member
  uint64_t session_id = 0;  // the session it names
  uint64_t run_id = 0;      // the server run that issued it
};

// Checks a resume token for this cell and member.
ResumeCheck verify_resume(std::string_view key, std::string_view resume, uint64_t cell_id,
                          uint64_t member_id);

}  // namespace cellsim::engine

#endif  // CELLSIM_SERVER_ENGINE_TOKEN_H_
