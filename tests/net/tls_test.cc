// cellmeetd over TLS (server/net/tls.h, acceptor.h): a whole meeting with
// the server's certificate verified, including the shard the acceptor does
// not run on (the TLS session moves there with the socket); clients that
// trust another CA or expect another name are refused; plain TCP, garbage
// and silent clients are closed without harming the server; a bad
// certificate or key fails start() with a reason naming the file. The
// certificates are made at run time (server/net/tls_certgen.h).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "server/net/tls_certgen.h"
#include "tests/net/net_fixture.h"

namespace cellsim::net::testing {
namespace {

// A CA, a server certificate it signed for 127.0.0.1 and localhost, and an
// unrelated CA; with client contexts trusting each CA.
struct TestPki {
  PemCertKey ca, server, other_ca;
  std::shared_ptr<const TlsContext> trusting_ca, trusting_other;

  TestPki() {
    std::string why;
    EXPECT_TRUE(make_tls_ca("cellsim test CA", &ca, &why)) << why;
    EXPECT_TRUE(make_tls_server_cert(ca, {"127.0.0.1", "localhost"}, &server, &why)) << why;
    EXPECT_TRUE(make_tls_ca("unrelated CA", &other_ca, &why)) << why;
    trusting_ca = TlsContext::client_from_pem(ca.cert_pem, &why);
    EXPECT_TRUE(trusting_ca) << why;
    trusting_other = TlsContext::client_from_pem(other_ca.cert_pem, &why);
    EXPECT_TRUE(trusting_other) << why;
  }

  ServerOptions options() const {
    ServerOptions o = test_options();
    o.tls.cert_pem = server.cert_pem;
    o.tls.key_pem = server.key_pem;
    return o;
  }
};

const TestPki& pki() {
  static const TestPki* p = new TestPki();
  return *p;
}

// Connects over TLS (verifying the certificate for `host`), says Hello and
// waits for Welcome.
bool login_tls(TestClient* c, uint16_t port, uint64_t cell_id, uint64_t member_id,
               const std::string& host = "127.0.0.1") {
  v1::Envelope env;
  if (!c->connect_tls(port, pki().trusting_ca, host)) {
    ADD_FAILURE() << "TLS: " << c->tls_error();
    return false;
  }
  return c->send(hello_envelope(cell_id, member_id, member_token(cell_id, member_id))) &&
         c->read_until(v1::Envelope::kWelcome, &env);
}

bool send_envelope(TestClient* c, const std::function<void(v1::Envelope*)>& fill) {
  v1::Envelope env;
  fill(&env);
  return c->send(env);
}

TEST(TlsTest, AWholeMeetingOverTlsWithTheCertificateVerified) {
  auto server = start_or_fail(pki().options());
  // Cell A is on shard 1: its sessions move from the acceptor's thread.
  const std::vector<uint64_t> voters = {2, 3, 5};
  TestClient chair;
  std::vector<std::unique_ptr<TestClient>> members;
  ASSERT_TRUE(login_tls(&chair, server->port(), kCellA, kChair));
  ASSERT_TRUE(join(&chair));
  for (uint64_t id : voters) {
    members.push_back(std::make_unique<TestClient>());
    ASSERT_TRUE(login_tls(members.back().get(), server->port(), kCellA, id, "localhost"));
    ASSERT_TRUE(join(members.back().get()));
  }
  v1::Envelope env;
  ASSERT_TRUE(send_envelope(&chair, [](v1::Envelope* e) {
    e->mutable_open_meeting()->set_reason("meeting over TLS");
    e->mutable_open_meeting()->add_agenda("the motion");
  }));
  ASSERT_TRUE(send_envelope(&chair, [](v1::Envelope* e) {
    e->mutable_open_vote()->set_vote_id(7);
    e->mutable_open_vote()->set_kind(v1::VOTE_KIND_RESOLUTION);
    e->mutable_open_vote()->set_subject("adopt the motion");
  }));
  for (size_t i = 0; i < members.size(); ++i) {
    TestClient* m = members[i].get();
    ASSERT_TRUE(m->read_until(v1::Envelope::kVoteOpened, &env));
    ASSERT_TRUE(send_envelope(m, [i](v1::Envelope* e) {
      e->mutable_cast_ballot()->set_vote_id(7);
      e->mutable_cast_ballot()->set_choice(v1::CHOICE_YES);
      e->mutable_cast_ballot()->set_ballot_id(100 + i);
    }));
    ASSERT_TRUE(m->read_until(v1::Envelope::kBallotAck, &env));
    EXPECT_EQ(env.ballot_ack().ballot_id(), 100 + i);
    EXPECT_FALSE(env.ballot_ack().duplicate());
  }
  ASSERT_TRUE(
      send_envelope(&chair, [](v1::Envelope* e) { e->mutable_close_vote()->set_vote_id(7); }));
  ASSERT_TRUE(chair.read_until(v1::Envelope::kVoteClosed, &env));
  EXPECT_EQ(env.vote_closed().tally().yes(), voters.size());
  EXPECT_TRUE(env.vote_closed().passed());
  EXPECT_TRUE(env.vote_closed().valid());
  ASSERT_TRUE(send_envelope(&chair, [](v1::Envelope* e) { e->mutable_close_meeting(); }));
  ASSERT_TRUE(chair.read_until(v1::Envelope::kMeetingClosed, &env));
  EXPECT_EQ(env.meeting_closed().minutes().reason(), "meeting over TLS");
  for (auto& m : members) EXPECT_TRUE(m->read_until(v1::Envelope::kMeetingClosed, &env));

  // Cell B is on shard 0, the acceptor's own: served over TLS too.
  TestClient other;
  ASSERT_TRUE(login_tls(&other, server->port(), kCellB, kChair));
  EXPECT_TRUE(heartbeat_ok(&other, 1));
}

TEST(TlsTest, AClientTrustingAnotherCaOrExpectingAnotherNameIsRefused) {
  auto server = start_or_fail(pki().options());
  TestClient wrong_ca;
  EXPECT_FALSE(wrong_ca.connect_tls(server->port(), pki().trusting_other));
  EXPECT_NE(wrong_ca.tls_error().find("certificate verify failed"), std::string::npos)
      << wrong_ca.tls_error();
  TestClient wrong_name;
  EXPECT_FALSE(wrong_name.connect_tls(server->port(), pki().trusting_ca, "meet.example.org"));
  EXPECT_NE(wrong_name.tls_error().find("certificate verify failed"), std::string::npos)
      << wrong_name.tls_error();
  TestClient wrong_ip;
  EXPECT_FALSE(wrong_ip.connect_tls(server->port(), pki().trusting_ca, "127.0.0.2"));
  // The server goes on serving.
  TestClient good;
  ASSERT_TRUE(login_tls(&good, server->port(), kCellA, 2));
  EXPECT_TRUE(heartbeat_ok(&good, 1));
}

TEST(TlsTest, PlainTcpGarbageAndSilenceAreClosedAndOthersAreServed) {
  ServerOptions o = pki().options();
  o.engine.rules.hello_timeout_ms = 500;
  auto server = start_or_fail(std::move(o));
  TestClient plain, garbage, record_garbage, silent, handshake_only;
  ASSERT_TRUE(plain.connect(server->port()));
  ASSERT_TRUE(plain.send(hello_envelope(kCellA, 2, member_token(kCellA, 2))));
  ASSERT_TRUE(garbage.connect(server->port()));
  ASSERT_TRUE(garbage.send_raw("GET / HTTP/1.0\r\n\r\n" + std::string(20000, '\xff')));
  ASSERT_TRUE(record_garbage.connect(server->port()));
  // A TLS handshake record header, then nonsense.
  ASSERT_TRUE(
      record_garbage.send_raw(std::string("\x16\x03\x01\x00\x40", 5) + std::string(64, 'x')));
  ASSERT_TRUE(silent.connect(server->port()));
  ASSERT_TRUE(handshake_only.connect_tls(server->port(), pki().trusting_ca))
      << handshake_only.tls_error();

  v1::Envelope env;
  EXPECT_NE(plain.read(&env), TestClient::Read::kFrame);  // no Welcome: closed
  EXPECT_NE(garbage.read(&env), TestClient::Read::kFrame);
  EXPECT_NE(record_garbage.read(&env), TestClient::Read::kFrame);
  // No handshake within the hello timeout: closed, without a (plaintext) Error.
  EXPECT_NE(silent.read(&env), TestClient::Read::kFrame);
  // A handshake but no Hello: the engine's refusal, over TLS.
  EXPECT_EQ(handshake_only.read_error(), v1::ERROR_LIVENESS_TIMEOUT);
  EXPECT_TRUE(handshake_only.wait_eof());

  TestClient good;
  ASSERT_TRUE(login_tls(&good, server->port(), kCellB, 2));
  EXPECT_TRUE(heartbeat_ok(&good, 1));
}

TEST(TlsTest, StartFailsOnABadCertificateOrKeyNamingTheFile) {
  const std::string dir = ::testing::TempDir() + "cellmeetd_tls_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const std::string cert = dir + "/server.pem", key = dir + "/server.key",
                    other_key = dir + "/other.key";
  std::string why;
  ASSERT_TRUE(write_pem_file(cert, pki().server.cert_pem, 0644, &why)) << why;
  ASSERT_TRUE(write_pem_file(key, pki().server.key_pem, 0600, &why)) << why;
  ASSERT_TRUE(write_pem_file(other_key, pki().other_ca.key_pem, 0600, &why)) << why;
  auto start = [](const std::string& c, const std::string& k, std::string* reason) {
    ServerOptions o = test_options();
    o.tls.cert_file = c;
    o.tls.key_file = k;
    Server server(std::move(o));
    return server.start(reason);
  };
  EXPECT_FALSE(start(cert, dir + "/missing.key", &why));
  EXPECT_NE(why.find(dir + "/missing.key"), std::string::npos) << why;
  EXPECT_FALSE(start(key, key, &why));  // a key where the certificate should be
  EXPECT_NE(why.find("certificate file " + key), std::string::npos) << why;
  EXPECT_FALSE(start(cert, other_key, &why));
  EXPECT_NE(why.find("does not match"), std::string::npos) << why;
  EXPECT_FALSE(start(cert, "", &why));
  EXPECT_NE(why.find("both"), std::string::npos) << why;
  // The files themselves serve.
  std::string reason;
  EXPECT_TRUE(start(cert, key, &reason)) << reason;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace cellsim::net::testing
