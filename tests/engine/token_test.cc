// Member and resume tokens (server/engine/token.h): what verifies, and the
// error each kind of bad token gets.
#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <random>
#include <string>

#include "server/engine/token.h"

namespace cellsim::engine {
namespace {

constexpr std::string_view kKey = "token-test-key-0123456789abcdef";
constexpr std::string_view kOtherKey = "another-key-0123456789abcdef!!";
constexpr int64_t kNowMs = 1'767'225'600'000;

v1::TokenClaims claims(uint64_t cell = 7, uint64_t member = 3,
                       int64_t expires_at_ms = kNowMs + 60'000) {
  v1::TokenClaims c;
  c.set_cell_id(cell);
  c.set_member_id(member);
  c.set_standing(v1::STANDING_PROBATIONARY);
  c.set_role(v1::ROLE_CHAIR);
  c.set_expires_at_ms(expires_at_ms);
  return c;
}

// A minted token verifies and gives back exactly the claims it was minted with.
TEST(Token, MintVerifyOk) {
  const std::string t = mint_token(kKey, claims());
  const TokenCheck r = verify_token(kKey, t, 7, 3, kNowMs);
  ASSERT_TRUE(r.ok()) << r.reason;
  EXPECT_EQ(r.claims.SerializeAsString(), claims().SerializeAsString());
  EXPECT_EQ(r.claims.standing(), v1::STANDING_PROBATIONARY);
  EXPECT_EQ(r.claims.role(), v1::ROLE_CHAIR);
}

// Flipping any single byte of the MAC makes the token invalid.
TEST(Token, FlippedMacByteInvalid) {
  v1::Token token;
  ASSERT_TRUE(token.ParseFromString(mint_token(kKey, claims())));
  ASSERT_EQ(token.mac().size(), kMacBytes);
  for (size_t i = 0; i < kMacBytes; ++i) {
    v1::Token bad = token;
    bad.mutable_mac()->at(i) ^= 0x01;
    const TokenCheck r = verify_token(kKey, bad.SerializeAsString(), 7, 3, kNowMs);
    EXPECT_EQ(r.error, v1::ERROR_TOKEN_INVALID) << "byte " << i;
  }
  v1::Token short_mac = token;
  short_mac.mutable_mac()->pop_back();
  EXPECT_EQ(verify_token(kKey, short_mac.SerializeAsString(), 7, 3, kNowMs).error,
            v1::ERROR_TOKEN_INVALID);
}

// Claims changed after minting (a forged standing or role) do not verify.
TEST(Token, TamperedClaimsInvalid) {
  v1::Token token;
  ASSERT_TRUE(token.ParseFromString(mint_token(kKey, claims())));
  v1::TokenClaims forged = claims();
  forged.set_standing(v1::STANDING_OFFICIAL);
  token.set_claims(forged.SerializeAsString());
  EXPECT_EQ(verify_token(kKey, token.SerializeAsString(), 7, 3, kNowMs).error,
            v1::ERROR_TOKEN_INVALID);
}

// A token minted with another key is invalid.
TEST(Token, OtherKeyInvalid) {
  const std::string t = mint_token(kOtherKey, claims());
  EXPECT_EQ(verify_token(kKey, t, 7, 3, kNowMs).error, v1::ERROR_TOKEN_INVALID);
}

// A token is good until its expiry and expired from that millisecond on.
TEST(Token, Expired) {
  const std::string t = mint_token(kKey, claims(7, 3, kNowMs));
  EXPECT_TRUE(verify_token(kKey, t, 7, 3, kNowMs - 1).ok());
  EXPECT_EQ(verify_token(kKey, t, 7, 3, kNowMs).error, v1::ERROR_TOKEN_EXPIRED);
  EXPECT_EQ(verify_token(kKey, t, 7, 3, kNowMs + 3'600'000).error, v1::ERROR_TOKEN_EXPIRED);
}

// A token for another cell than the Hello names is ERROR_TOKEN_WRONG_CELL.
TEST(Token, OtherCellWrongCell) {
  const std::string t = mint_token(kKey, claims(8, 3));
  EXPECT_EQ(verify_token(kKey, t, 7, 3, kNowMs).error, v1::ERROR_TOKEN_WRONG_CELL);
}

// A token for another member than the Hello names is invalid.
TEST(Token, OtherMemberInvalid) {
  const std::string t = mint_token(kKey, claims(7, 4));
  EXPECT_EQ(verify_token(kKey, t, 7, 3, kNowMs).error, v1::ERROR_TOKEN_INVALID);
}

// Empty, random and truncated bytes are invalid, never a crash.
TEST(Token, GarbageInvalid) {
  EXPECT_EQ(verify_token(kKey, "", 7, 3, kNowMs).error, v1::ERROR_TOKEN_INVALID);
  EXPECT_EQ(verify_token(kKey, "\xff\xff\xff", 7, 3, kNowMs).error, v1::ERROR_TOKEN_INVALID);
  std::mt19937_64 rng(1);
  for (int i = 0; i < 1000; ++i) {
    std::string junk(rng() % 100, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    EXPECT_EQ(verify_token(kKey, junk, 7, 3, kNowMs).error, v1::ERROR_TOKEN_INVALID) << i;
  }
  const std::string t = mint_token(kKey, claims());
  for (size_t n = 0; n < t.size(); ++n) {
    EXPECT_EQ(verify_token(kKey, t.substr(0, n), 7, 3, kNowMs).error, v1::ERROR_TOKEN_INVALID)
        << "truncated to " << n;
  }
}

// A correctly MACed blob that is not TokenClaims is invalid (the MAC alone is
// not enough).
TEST(Token, MacOverUnparsableClaimsInvalid) {
  const std::string junk = "\xff\xff\xff";
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  ASSERT_NE(HMAC(EVP_sha256(), kKey.data(), static_cast<int>(kKey.size()),
                 reinterpret_cast<const unsigned char*>(junk.data()), junk.size(), mac, &mac_len),
            nullptr);
  v1::Token token;
  token.set_claims(junk);
  token.set_mac(std::string(reinterpret_cast<const char*>(mac), mac_len));
  const TokenCheck r = verify_token(kKey, token.SerializeAsString(), 7, 3, kNowMs);
  EXPECT_EQ(r.error, v1::ERROR_TOKEN_INVALID) << r.reason;
}

// A resume token names its session and server run, for its cell and member only.
TEST(ResumeToken, VerifyAndForge) {
  auto valid = [](std::string_view t, uint64_t cell, uint64_t member, std::string_view key) {
    return verify_resume(key, t, cell, member).valid;
  };
  const std::string r = mint_resume(kKey, 7, 3, 12345, 99);
  ASSERT_EQ(r.size(), 16 + kMacBytes);
  const ResumeCheck ok = verify_resume(kKey, r, 7, 3);
  EXPECT_TRUE(ok.valid);
  EXPECT_EQ(ok.session_id, 12345u);
  EXPECT_EQ(ok.run_id, 99u);
  EXPECT_FALSE(valid(r, 7, 4, kKey)) << "another member";
  EXPECT_FALSE(valid(r, 8, 3, kKey)) << "another cell";
  EXPECT_FALSE(valid(r, 7, 3, kOtherKey)) << "another key";
  for (size_t i = 0; i < r.size(); ++i) {
    std::string bad = r;
    bad[i] ^= 0x40;
    EXPECT_FALSE(valid(bad, 7, 3, kKey)) << "byte " << i << " flipped";
  }
  // Forging another session id or run: the MAC binds both.
  EXPECT_FALSE(valid(mint_resume(kKey, 7, 3, 12346, 99).substr(0, 8) + r.substr(8), 7, 3, kKey));
  EXPECT_FALSE(valid(r.substr(0, 8) + mint_resume(kKey, 7, 3, 12345, 98).substr(8, 8) +
                         r.substr(16),
                     7, 3, kKey));
  EXPECT_FALSE(valid("", 7, 3, kKey));
  EXPECT_FALSE(valid(r.substr(0, r.size() - 1), 7, 3, kKey));
  EXPECT_FALSE(valid(r + "x", 7, 3, kKey));
  // A member token is not a resume token.
  EXPECT_FALSE(valid(mint_token(kKey, claims()), 7, 3, kKey));
}

// Resume tokens for different sessions differ and each verifies to its own id.
TEST(ResumeToken, DistinctSessions) {
  for (uint64_t s = 1; s < 50; ++s) {
    EXPECT_EQ(verify_resume(kKey, mint_resume(kKey, 7, 3, s, 1), 7, 3).session_id, s);
    EXPECT_NE(mint_resume(kKey, 7, 3, s, 1), mint_resume(kKey, 7, 3, s + 1, 1));
    EXPECT_NE(mint_resume(kKey, 7, 3, s, 1), mint_resume(kKey, 7, 3, s, 2)) << "another run";
  }
}

}  // namespace
}  // namespace cellsim::engine
