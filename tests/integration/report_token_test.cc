// The report stream's bearer token, with the real lagscale-coordinator and lagscale-sidecar: the
// coordinator accepts exactly the token in its --token-file (the scheme in any case), follows the
// file as it rotates without a restart, and neither binary starts with a token no header can
// carry.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "lagscale/v1/lag.grpc.pb.h"
#include "support/process.h"
#include "support/scratch_dir.h"

namespace lagscale::testing {
namespace {

using namespace std::chrono_literals;

class ReportTokenTest : public ::testing::Test {
 protected:
  // Replaces the token file in one step, as a mounted Secret changes (a rename, never a partial
  // file).
  void WriteToken(const std::string& token) {
    std::ofstream(dir_.Path("token.new")) << token << "\n";
    std::filesystem::rename(dir_.Path("token.new"), token_file_);
  }
  void StartCoordinator() {
    WriteToken("s3cret");
    std::map<std::string, std::string> ready;
    coordinator_ = StartReady("lagscale-coordinator",
                              {"--grpc-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
                               "--token-file", token_file_},
                              ready);
    ASSERT_TRUE(coordinator_);
    stub_ = v1::LagService::NewStub(
        grpc::CreateChannel(ready["grpc"], grpc::InsecureChannelCredentials()));
  }
  // Opens a report stream with `authorization` (none when empty) and sends one report: the status
  // the stream ends with (OK once acknowledged).
  grpc::Status Report(const std::string& authorization) {
    grpc::ClientContext ctx;
    if (!authorization.empty()) ctx.AddMetadata("authorization", authorization);
    auto stream = stub_->Report(&ctx);
    v1::PodReport r;
    r.set_pod("p");
    r.set_server("s");
    r.set_incarnation(1);
    r.set_sequence(++sequence_);
    stream->Write(r);
    v1::ReportAck ack;
    const bool acked = stream->Read(&ack);
    stream->WritesDone();
    const grpc::Status status = stream->Finish();
    if (status.ok() && !acked) return grpc::Status(grpc::StatusCode::INTERNAL, "no ack");
    return status;
  }

  ScratchDir dir_{"token"};
  std::string token_file_ = dir_.Path("token");
  std::unique_ptr<ChildProcess> coordinator_;
  std::unique_ptr<v1::LagService::Stub> stub_;
  uint64_t sequence_ = 0;
};

TEST_F(ReportTokenTest, WrongTokenIsRefusedAndRightTokenAccepted) {
  StartCoordinator();
  // The scheme is case-insensitive (RFC 9110); the token is not, and must follow "Bearer ".
  const std::pair<std::string, bool> headers[] = {{"", false},
                                                  {"Bearer wrong", false},
                                                  {"Bearer S3CRET", false},
                                                  {"Basic s3cret", false},
                                                  {"Bearers3cret", false},
                                                  {"Bearer s3cret", true},
                                                  {"bearer s3cret", true},
                                                  {"BEARER  s3cret", true}};
  for (const auto& [header, accepted] : headers) {
    const grpc::Status status = Report(header);
    if (accepted) {
      EXPECT_TRUE(status.ok()) << header << ": " << status.error_message();
    } else {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << header;
    }
  }
}

// A token rotated in place takes effect, and the old one stops working, without a restart; a
// file that turns bad during a rotation keeps the last good token.
TEST_F(ReportTokenTest, ARotatedTokenReplacesTheOldOneWithoutARestart) {
  StartCoordinator();
  ASSERT_TRUE(Report("Bearer s3cret").ok());
  WriteToken("n3w-s3cret");
  EXPECT_TRUE(Eventually([&] { return Report("Bearer n3w-s3cret").ok(); }, 10s));
  EXPECT_EQ(Report("Bearer s3cret").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  WriteToken("two\nlines");
  EXPECT_TRUE(Eventually(
      [&] {
        EXPECT_TRUE(Report("Bearer n3w-s3cret").ok());  // the file is read as streams open
        return coordinator_->stderr_text().find("keeping the last good token") != std::string::npos;
      },
      10s))
      << coordinator_->stderr_text();
  EXPECT_TRUE(Report("Bearer n3w-s3cret").ok());
}

TEST_F(ReportTokenTest, ATokenNoHeaderCanCarryStopsStartUpNamingTheFlag) {
  WriteToken("line1\nline2");
  auto c = ChildProcess::Start({std::string(LAGSCALE_BIN_DIR) + "/lagscale-coordinator",
                                "--grpc-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
                                "--token-file", token_file_});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->Wait(), 2);
  EXPECT_NE(c->stderr_text().find("--token-file: \"" + token_file_ + "\" holds a byte"),
            std::string::npos)
      << c->stderr_text();
  // The sidecar sent it in a header at its first connection, and gRPC aborted the process.
  auto s = ChildProcess::Start({std::string(LAGSCALE_BIN_DIR) + "/lagscale-sidecar", "--listen",
                                "127.0.0.1:0", "--admin", "127.0.0.1:0", "--grpc-listen", "",
                                "--upstream", "127.0.0.1:1", "--coordinator", "127.0.0.1:1",
                                "--coordinator-token-file", token_file_});
  ASSERT_TRUE(s);
  EXPECT_EQ(s->Wait(), 2);
  EXPECT_NE(s->stderr_text().find("--coordinator-token-file: \"" + token_file_ + "\" holds a byte"),
            std::string::npos)
      << s->stderr_text();
}

}  // namespace
}  // namespace lagscale::testing
