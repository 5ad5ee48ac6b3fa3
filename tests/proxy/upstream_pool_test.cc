#include "upstream_pool.h"

#include <chrono>
#include <memory>

#include <boost/asio.hpp>
#include <gtest/gtest.h>

namespace lagscale::proxy {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// A pool on its own io_context, and an "upstream" listener that accepts on demand: each pooled
// connection's server side is in hand, so a test can close it as an upstream's keep-alive
// timeout would.
class UpstreamPoolTest : public ::testing::Test {
 protected:
  UpstreamPoolTest() : listener_(io_, tcp::endpoint(asio::ip::address_v4::loopback(), 0)) {}

  // A connected upstream connection, and its server side in `server`.
  std::shared_ptr<UpstreamConn> Connect(tcp::socket& server) {
    auto conn = pool_.Create();
    conn->socket.connect(listener_.local_endpoint());
    server = listener_.accept();
    return conn;
  }

  // Runs the event loop until the pool holds `n` idle connections or 5 s passed.
  bool RunUntilIdle(size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (pool_.idle() != n && std::chrono::steady_clock::now() < deadline) {
      io_.run_one_for(std::chrono::milliseconds(50));
    }
    return pool_.idle() == n;
  }

  HandlerSlab slab_;  // before io_: handlers still queued at the end are freed into it
  asio::io_context io_;
  UpstreamPool pool_{io_, slab_, 8};
  tcp::acceptor listener_;
};

TEST_F(UpstreamPoolTest, ReleasedConnectionIsReusedWhileTheUpstreamKeepsItOpen) {
  tcp::socket server(io_);
  auto conn = Connect(server);
  pool_.Release(conn);
  EXPECT_EQ(pool_.idle(), 1u);
  EXPECT_EQ(pool_.Acquire(), conn);
  EXPECT_TRUE(conn->reused);
  EXPECT_EQ(pool_.Acquire(), nullptr);
}

TEST_F(UpstreamPoolTest, ConnectionTheUpstreamClosedIsNeverHandedOut) {
  tcp::socket server(io_);
  pool_.Release(Connect(server));
  server.close();
  EXPECT_EQ(pool_.Acquire(), nullptr);  // the peek sees the EOF before the sweep ran
}

TEST_F(UpstreamPoolTest, SweepClosesIdleConnectionsTheUpstreamFinished) {
  tcp::socket server_a(io_), server_b(io_);
  auto kept = Connect(server_a);
  auto finished = Connect(server_b);
  pool_.Release(kept);
  pool_.Release(finished);
  server_b.close();
  ASSERT_TRUE(RunUntilIdle(1));
  EXPECT_FALSE(finished->socket.is_open());  // closed, not left in CLOSE_WAIT
  EXPECT_TRUE(kept->socket.is_open());
  EXPECT_EQ(pool_.Acquire(), kept);
}

}  // namespace
}  // namespace lagscale::proxy
