#include "lagscale/base/tcp_address.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

namespace lagscale::base {
namespace {

using boost::asio::ip::tcp;

TEST(ResolveTcpTest, ResolvesAddressesAndLocalhost) {
  auto v4 = ResolveTcp({"127.0.0.1", 80}, "--upstream");
  ASSERT_TRUE(v4) << v4.error();
  EXPECT_EQ(*v4, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 80));
  auto name = ResolveTcp({"localhost", 81}, "--upstream");
  ASSERT_TRUE(name) << name.error();
  EXPECT_TRUE(name->address().is_loopback());
  EXPECT_EQ(name->port(), 81);
}

TEST(ResolveTcpTest, UnknownHostNamesTheSettingAndAddress) {
  auto r = ResolveTcp({"no-such-host.invalid", 80}, "--upstream");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().rfind("cannot resolve --upstream no-such-host.invalid:80: ", 0), 0u)
      << r.error();
}

TEST(ListenTcpTest, PortZeroReturnsTheOsChoice) {
  boost::asio::io_context io;
  tcp::acceptor acceptor(io);
  auto port = ListenTcp(acceptor, {"127.0.0.1", 0}, "--admin");
  ASSERT_TRUE(port) << port.error();
  EXPECT_NE(*port, 0);
  EXPECT_EQ(acceptor.local_endpoint().port(), *port);
}

TEST(ListenTcpTest, PortInUseNamesTheSettingAndAddress) {
  boost::asio::io_context io;
  tcp::acceptor first(io), second(io);
  const uint16_t port = ListenTcp(first, {"127.0.0.1", 0}, "--admin").OrThrow();
  auto r = ListenTcp(second, {"127.0.0.1", port}, "--admin");
  ASSERT_FALSE(r);
  const std::string prefix = "cannot listen on --admin 127.0.0.1:" + std::to_string(port) + ": ";
  EXPECT_EQ(r.error().rfind(prefix, 0), 0u) << r.error();
}

}  // namespace
}  // namespace lagscale::base
