// The sans-IO parts of server/net: key and deployment files (config.h), the
// minutes file, and the first-frame router (router.h).
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "server/net/config.h"
#include "server/net/router.h"
#include "tests/net/test_client.h"

namespace cellsim::net {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "cellsim_config_test_" + std::to_string(::getpid());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  std::string dir_;
};

TEST_F(ConfigTest, AKeyFileIsHexWithSurroundingWhitespace) {
  std::string key, why;
  ASSERT_TRUE(load_key_file(write("k", "  " + std::string(64, 'a') + "\n\n"), &key, &why)) << why;
  EXPECT_EQ(key, std::string(32, '\xaa'));
  ASSERT_TRUE(load_key_file(write("k16", std::string(32, 'F')), &key, &why)) << why;
  EXPECT_EQ(key.size(), 16u);
}

TEST_F(ConfigTest, ABadKeyFileIsRefusedWithAReason) {
  std::string key, why;
  EXPECT_FALSE(load_key_file(write("short", std::string(30, 'a')), &key, &why));
  EXPECT_NE(why.find("at least 32"), std::string::npos) << why;
  EXPECT_FALSE(load_key_file(write("nothex", std::string(63, 'a') + "g"), &key, &why));
  EXPECT_NE(why.find("hex"), std::string::npos) << why;
  EXPECT_FALSE(load_key_file(
      write("inner space", std::string(32, 'a') + " " + std::string(32, 'a')), &key, &why));
  EXPECT_FALSE(load_key_file(dir_ + "/missing", &key, &why));
  EXPECT_NE(why.find(dir_ + "/missing"), std::string::npos) << why;
}

TEST_F(ConfigTest, KeygenWritesANewPrivateKeyAndNeverOverwrites) {
  const std::string path = dir_ + "/key";
  std::string key, why;
  ASSERT_TRUE(write_new_key_file(path, &why)) << why;
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_TRUE(load_key_file(path, &key, &why)) << why;
  EXPECT_EQ(key.size(), kNewKeyBytes);
  EXPECT_FALSE(write_new_key_file(path, &why));
  std::string again;
  ASSERT_TRUE(load_key_file(path, &again, &why));
  EXPECT_EQ(again, key);
}

TEST_F(ConfigTest, ADeploymentParsesFromTextFormat) {
  const std::string path = write("d", R"(
    cells {
      cell_id: 7  name: "Offshore"
      members { member_id: 1 name: "A" standing: STANDING_OFFICIAL role: ROLE_CHAIR }
      members { member_id: 2 name: "B" standing: STANDING_PROBATIONARY role: ROLE_MEMBER }
    })");
  v1::Deployment d;
  std::string why;
  ASSERT_TRUE(load_deployment(path, &d, &why)) << why;
  ASSERT_EQ(d.cells_size(), 1);
  EXPECT_EQ(d.cells(0).members(1).standing(), v1::STANDING_PROBATIONARY);
}

TEST_F(ConfigTest, ADeploymentErrorNamesFileLineAndColumn) {
  const std::string path = write("bad", "cells {\n  cell_id: 7\n  nmae: \"x\"\n}\n");
  v1::Deployment d;
  std::string why;
  ASSERT_FALSE(load_deployment(path, &d, &why));
  EXPECT_EQ(why.rfind(path + ":3:7: ", 0), 0u) << why;  // protobuf points after the name
  EXPECT_NE(why.find("nmae"), std::string::npos) << why;
  EXPECT_FALSE(load_deployment(dir_ + "/missing", &d, &why));
  EXPECT_NE(why.find("missing"), std::string::npos) << why;
}

TEST_F(ConfigTest, HexRoundTrips) {
  const std::string bytes("\x00\x01\xfe\xff", 4);
  EXPECT_EQ(to_hex(bytes), "0001feff");
  std::string back;
  ASSERT_TRUE(from_hex("0001FEff", &back));
  EXPECT_EQ(back, bytes);
  EXPECT_FALSE(from_hex("abc", &back));
  EXPECT_FALSE(from_hex("zz", &back));
}

TEST_F(ConfigTest, MinutesAreWrittenAtomicallyAsJson) {
  v1::Minutes m;
  m.set_cell_id(7);
  m.set_meeting_id(3);
  m.set_closed_at_ms(1234);
  m.set_reason("monthly");
  m.add_attendees()->set_name("Nguyễn Văn A");
  std::string path, why;
  ASSERT_TRUE(write_minutes_file(dir_, m, &path, &why)) << why;
  EXPECT_EQ(path, dir_ + "/minutes-cell7-meeting3-1234.json");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  std::stringstream text;
  text << std::ifstream(path).rdbuf();
  v1::Minutes back;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(text.str(), &back).ok());
  EXPECT_EQ(back.SerializeAsString(), m.SerializeAsString());
  EXPECT_FALSE(write_minutes_file(dir_ + "/missing", m, &path, &why));
}

std::string hello_frame(uint64_t cell) {
  return wire::encode_frame(testing::hello_envelope(cell, 2, "token"));
}

TEST(RouterTest, AHelloRoutesToItsCell) {
  FirstFrameRouter r(wire::kDefaultMaxFrameBytes);
  EXPECT_TRUE(r.feed(hello_frame(42)));
  EXPECT_EQ(r.cell_id(), 42u);
  EXPECT_EQ(shard_for_cell(42, 4), 2u);
}

TEST(RouterTest, AHelloFedOneByteAtATimeIsDecidedOnItsLastByte) {
  const std::string frame = hello_frame(9);
  FirstFrameRouter r(wire::kDefaultMaxFrameBytes);
  for (size_t i = 0; i + 1 < frame.size(); ++i) EXPECT_FALSE(r.feed(frame.substr(i, 1)));
  EXPECT_TRUE(r.feed(frame.substr(frame.size() - 1)));
  EXPECT_EQ(r.cell_id(), 9u);
  EXPECT_EQ(r.buffered(), frame);
}

TEST(RouterTest, BytesAfterTheFirstFrameAreKept) {
  const std::string more = wire::encode_frame(testing::heartbeat_envelope(1));
  FirstFrameRouter r(wire::kDefaultMaxFrameBytes);
  EXPECT_TRUE(r.feed(hello_frame(3) + more));
  EXPECT_EQ(r.take_buffered(), hello_frame(3) + more);
}

TEST(RouterTest, AnythingButAGoodHelloRoutesToCellZero) {
  for (const std::string& bytes :
       {wire::encode_frame(testing::heartbeat_envelope(1)), testing::frame_header(0),
        testing::frame_header(10) + std::string(10, '\xff')}) {
    FirstFrameRouter r(wire::kDefaultMaxFrameBytes);
    EXPECT_TRUE(r.feed(bytes));
    EXPECT_EQ(r.cell_id(), 0u);
    EXPECT_EQ(r.buffered(), bytes);
  }
}

TEST(RouterTest, AnOversizedLengthIsDecidedFromTheHeaderAlone) {
  FirstFrameRouter r(1024);
  EXPECT_FALSE(r.feed(testing::frame_header(1025).substr(0, 3)));
  EXPECT_TRUE(r.feed(testing::frame_header(1025).substr(3)));
  EXPECT_EQ(r.cell_id(), 0u);
  EXPECT_EQ(r.buffered().size(), wire::kFrameHeaderBytes);
}

// A first frame of the maximum size, fed in reads: routed on its last byte,
// every byte kept once (the router reads the frame in place, no decoder copy).
TEST(RouterTest, AMaximalHelloIsReadInPlace) {
  v1::Envelope env = testing::hello_envelope(77, 2, "token");
  for (int i = 0; i < 4; ++i) {  // grow the token until the payload is exactly the maximum
    const size_t token = env.hello().token().size() + wire::kDefaultMaxFrameBytes -
                         env.ByteSizeLong();
    env.mutable_hello()->set_token(std::string(token, 't'));
  }
  const std::string frame = wire::encode_frame(env);
  ASSERT_EQ(frame.size(), wire::kFrameHeaderBytes + wire::kDefaultMaxFrameBytes);
  FirstFrameRouter r(wire::kDefaultMaxFrameBytes);
  size_t pos = 0;
  while (pos + 16 * 1024 < frame.size()) {
    EXPECT_FALSE(r.feed(std::string_view(frame).substr(pos, 16 * 1024)));
    pos += 16 * 1024;
  }
  EXPECT_TRUE(r.feed(std::string_view(frame).substr(pos)));
  EXPECT_EQ(r.cell_id(), 77u);
  EXPECT_EQ(r.buffered(), frame);
}

// Split right after an oversized header: decided at once, the bytes after it
// in the same read are kept for shard 0's engine, later reads are ignored.
TEST(RouterTest, SplitRightAfterAnOversizedHeader) {
  FirstFrameRouter r(1024);
  const std::string header = testing::frame_header(1025);
  EXPECT_TRUE(r.feed(header + "abc"));
  EXPECT_EQ(r.cell_id(), 0u);
  EXPECT_TRUE(r.feed("more"));
  EXPECT_EQ(r.buffered(), header + "abc");
}

}  // namespace
}  // namespace cellsim::net
