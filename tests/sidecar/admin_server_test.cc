#include "sidecar/admin_server.h"

#include <atomic>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/process.h"

namespace lagscale::sidecar {
namespace {

using testing::HttpGet;

class AdminServerTest : public ::testing::Test {
 protected:
  void Start(boost::asio::ip::tcp::endpoint upstream) {
    admin_ = std::make_unique<AdminServer>(AdminServer::Sources{
        ledger_, exposition_, [this] { return accepting_.load(); }, upstream,
        std::chrono::milliseconds(500)});
    address_ = "127.0.0.1:" + std::to_string(admin_->Start(HostPort{"127.0.0.1", 0}));
  }

  metrics::ModelTable table_{10};
  metrics::Ledger ledger_{table_, 1};
  metrics::ServerCounters counters_{1};
  metrics::Exposition exposition_{ledger_, counters_, {"mlserver", "pod-0"}};
  std::atomic<bool> accepting_{true};
  std::unique_ptr<AdminServer> admin_;
  std::string address_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor upstream_{
      io_, {boost::asio::ip::make_address("127.0.0.1"), 0}};  // accepts in the kernel backlog
};

TEST_F(AdminServerTest, HealthzAnswersOk) {
  Start(upstream_.local_endpoint());
  auto r = HttpGet(address_, "/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok\n");
}

TEST_F(AdminServerTest, StatsShowTheLedger) {
  Start(upstream_.local_endpoint());
  {
    auto g = ledger_.shard(0).Begin(table_.Resolve("iris"));
    g.set_outcome(metrics::Outcome::kSuccess);
  }
  auto held = ledger_.shard(0).Begin(table_.Resolve("iris"));
  auto r = HttpGet(address_, "/stats");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "application/json");
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["models"]["iris"]["arrivals"], 2);
  EXPECT_EQ(j["models"]["iris"]["inflight"], 1);
  EXPECT_EQ(j["models"]["iris"]["outcomes"]["success"], 1);
}

TEST_F(AdminServerTest, MetricsUseTheExposition) {
  Start(upstream_.local_endpoint());
  table_.Resolve("bert");
  auto r = HttpGet(address_, "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.headers["content-type"].find("text/plain"), std::string::npos);
  EXPECT_NE(r.body.find("lagscale_"), std::string::npos);
}

TEST_F(AdminServerTest, ReadyzNeedsAcceptingAndAReachableUpstream) {
  Start(upstream_.local_endpoint());
  EXPECT_EQ(HttpGet(address_, "/readyz").status, 200);
  accepting_ = false;
  auto r = HttpGet(address_, "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "not accepting\n");
}

TEST_F(AdminServerTest, ReadyzFailsWhenTheUpstreamIsDown) {
  const auto down = upstream_.local_endpoint();
  upstream_.close();
  Start(down);
  auto r = HttpGet(address_, "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("upstream unreachable"), std::string::npos) << r.body;
}

TEST_F(AdminServerTest, UnknownPathsAre404) {
  Start(upstream_.local_endpoint());
  EXPECT_EQ(HttpGet(address_, "/nope").status, 404);
}

TEST_F(AdminServerTest, BusyAddressIsRefusedWithItsName) {
  Start(upstream_.local_endpoint());
  AdminServer second({ledger_, exposition_, [] { return true; }, upstream_.local_endpoint(),
                      std::chrono::milliseconds(100)});
  const uint16_t port = static_cast<uint16_t>(std::stoi(address_.substr(address_.rfind(':') + 1)));
  try {
    second.Start(HostPort{"127.0.0.1", port});
    FAIL() << "bound a busy port";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("--admin 127.0.0.1:" + std::to_string(port)),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace lagscale::sidecar
