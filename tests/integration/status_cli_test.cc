// `lagscale-coordinator status`, run as an operator would against a real coordinator that a real
// sidecar reports to: the model and server tables, --watch, and the exit codes a script relies on.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "support/fake_upstream.h"
#include "support/live_stack.h"

namespace lagscale::testing {
namespace {

const std::string kCoordinator = std::string(LAGSCALE_BIN_DIR) + "/lagscale-coordinator";

// Splits a table row on runs of two or more spaces (the column separator).
std::vector<std::string> Cells(const std::string& row) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at < row.size()) {
    size_t gap = row.find("  ", at);
    if (gap == std::string::npos) gap = row.size();
    out.push_back(row.substr(at, gap - at));
    at = row.find_first_not_of(' ', gap);
    if (at == std::string::npos) break;
  }
  return out;
}

class StatusCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stack_ = std::make_unique<LiveStack>(LiveStack::Config({"iris", "idle"}),
                                         std::vector<std::string>{"iris:200", "idle:0"});
    ASSERT_TRUE(stack_->ok());
    url_ = "http://" + stack_->coordinator_http();
  }
  std::unique_ptr<LiveStack> stack_;
  std::string url_;
};

TEST_F(StatusCliTest, PrintsOneRowPerModelAndServerWithTheirReplicas) {
  // Eight clients keep iris busy until the coordinator scales it up.
  BusyClients clients(*stack_, "iris", 8);
  const bool scaled = Eventually(
      [&] {
        return HttpGet(stack_->coordinator_http(), "/status").body.find("\"last_decision\":{") !=
               std::string::npos;
      },
      20s);
  ASSERT_TRUE(scaled);

  auto cli = ChildProcess::Start({kCoordinator, "status", "--url", url_});
  ASSERT_NE(cli, nullptr);
  const auto header = cli->WaitForLine("MODEL");
  const auto idle = cli->WaitForLine("idle ");
  const auto iris = cli->WaitForLine("iris ");
  const auto server_header = cli->WaitForLine("SERVER");
  const auto server = cli->WaitForLine("mlserver ");
  clients.Stop();
  EXPECT_EQ(cli->Wait(), std::optional<int>(0)) << cli->stderr_text();
  ASSERT_TRUE(header && idle && iris && server_header && server);

  const auto h = Cells(*header);
  ASSERT_GE(h.size(), 12u) << *header;
  EXPECT_EQ(h[0], "MODEL");
  EXPECT_EQ(h[1], "SERVER");
  EXPECT_EQ(h[6], "DESIRED");
  EXPECT_EQ(h[7], "CURRENT");
  const auto r = Cells(*iris);
  ASSERT_GE(r.size(), 12u) << *iris;
  EXPECT_EQ(r[1], "mlserver");
  EXPECT_EQ(r[2], "target-tracking");
  EXPECT_GT(std::stoi(r[6]), 1) << "iris was scaled up: " << *iris;
  EXPECT_EQ(r[10], "yes");
  EXPECT_NE(r[11].find("->"), std::string::npos) << "last decision shown: " << *iris;
  // The header's columns line up with the rows (kubectl style).
  EXPECT_EQ(header->find("DESIRED"), iris->find(r[6], header->find("DESIRED")));
  const auto s = Cells(*server);
  ASSERT_GE(s.size(), 9u) << *server;
  EXPECT_EQ(s[1], "all");
  EXPECT_EQ(s[2], "1");  // one reporting pod
  EXPECT_EQ(s[8], "2");  // two models
}

TEST_F(StatusCliTest, WatchRedrawsUntilInterrupted) {
  auto cli =
      ChildProcess::Start({kCoordinator, "status", "--url", url_, "--watch", "--interval", "0.2"});
  ASSERT_NE(cli, nullptr);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(cli->WaitForLine("MODEL")) << "redraw " << i;
  cli->Signal(SIGINT);
  EXPECT_TRUE(cli->Wait());
}

TEST(StatusCliErrorsTest, UnreachableCoordinatorExitsWithOneAndSaysWhy) {
  const RefusingPort dead;
  auto cli = ChildProcess::Start({kCoordinator, "status", "--url", "http://" + dead.address()});
  ASSERT_NE(cli, nullptr);
  EXPECT_EQ(cli->Wait(20s), std::optional<int>(1));
  EXPECT_NE(cli->stderr_text().find("/status"), std::string::npos) << cli->stderr_text();
}

TEST(StatusCliErrorsTest, ADocumentWithFieldsOfTheWrongTypeExitsWithOne) {
  for (const std::string body :
       {R"({"models":"x","servers":5})", R"({"models":[null,1,"x"]})",
        R"({"models":[{"name":"m","last_decision":{"time_unix_ms":"y"}}]})"}) {
    FakeUpstream server([&body](FakeConn& c) {
      c.ReadHead();
      c.Send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
             std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
    });
    auto cli = ChildProcess::Start({kCoordinator, "status", "--url", "http://" + server.address()});
    ASSERT_NE(cli, nullptr);
    EXPECT_EQ(cli->Wait(20s), std::optional<int>(1)) << body << "\n" << cli->stderr_text();
    EXPECT_NE(cli->stderr_text().find("is not a status document"), std::string::npos)
        << cli->stderr_text();
  }
}

TEST(StatusCliErrorsTest, MalformedUrlExitsWithOneNamingTheFlag) {
  auto cli = ChildProcess::Start({kCoordinator, "status", "--url", "https://x:1"});
  ASSERT_NE(cli, nullptr);
  EXPECT_EQ(cli->Wait(), std::optional<int>(1));
  EXPECT_NE(cli->stderr_text().find("--url"), std::string::npos) << cli->stderr_text();
}

}  // namespace
}  // namespace lagscale::testing
