#include "lagscale/base/host_port.h"

#include <gtest/gtest.h>

namespace lagscale::base {
namespace {

TEST(ParseHostPortTest, ParsesNamesIpv4AndBracketedIpv6) {
  EXPECT_EQ(*ParseHostPort("localhost:80"), (HostPort{"localhost", 80}));
  EXPECT_EQ(*ParseHostPort("10.0.0.1:0"), (HostPort{"10.0.0.1", 0}));
  EXPECT_EQ(*ParseHostPort("[::1]:8000"), (HostPort{"::1", 8000}));
  EXPECT_EQ(*ParseHostPort("[::]:65535"), (HostPort{"::", 65535}));
}

TEST(ParseHostPortTest, RejectsMissingPartsBadPortsAndBareIpv6) {
  for (const char* bad : {"", "host", "host:", ":80", "host:8x", "host:-1", "host:+80",
                          "host:65536", "::1:80", "[::1]80", "[]:80", "[::1:80"}) {
    EXPECT_FALSE(ParseHostPort(bad)) << bad;
  }
}

TEST(ParseHostPortTest, ErrorNamesTheSettingAndTheValue) {
  const auto r = ParseHostPort("nonsense", "--listen");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), "--listen: invalid value \"nonsense\" (expected HOST:PORT)");
}

TEST(ParseHostPortTest, EmptyHostIsTheIpv4WildcardOnlyWhenAsked) {
  EXPECT_FALSE(ParseHostPort(":8080", "--http-listen"));
  EXPECT_EQ(*ParseHostPort(":8080", "--http-listen", EmptyHost::kWildcard),
            (HostPort{"0.0.0.0", 8080}));
}

TEST(HostPortTest, ToStringBracketsIpv6AndRoundTrips) {
  EXPECT_EQ((HostPort{"::1", 80}.ToString()), "[::1]:80");
  EXPECT_EQ((HostPort{"example.com", 443}.ToString()), "example.com:443");
  for (const char* text : {"a:1", "127.0.0.1:0", "[fe80::1]:9090"}) {
    EXPECT_EQ(ParseHostPort(text)->ToString(), text);
  }
}

TEST(DialableTest, WildcardsDialLoopbackOfTheirFamily) {
  EXPECT_EQ(Dialable({"0.0.0.0", 80}), (HostPort{"127.0.0.1", 80}));
  EXPECT_EQ(Dialable({"", 81}), (HostPort{"127.0.0.1", 81}));
  EXPECT_EQ(Dialable({"::", 82}).ToString(), "[::1]:82");
  EXPECT_EQ(Dialable({"10.1.2.3", 83}), (HostPort{"10.1.2.3", 83}));
}

}  // namespace
}  // namespace lagscale::base
