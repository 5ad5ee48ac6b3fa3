#include "lagscale/proxy/http_head.h"

#include <string>

#include <gtest/gtest.h>

namespace lagscale::proxy {
namespace {

HttpHead Make(std::initializer_list<std::pair<std::string, std::string>> fields) {
  HttpHead h;
  h.Reset(65536);
  for (const auto& [n, v] : fields) {
    EXPECT_TRUE(h.AppendFieldName(n));
    EXPECT_TRUE(h.AppendFieldValue(v));
  }
  return h;
}

TEST(HttpHead, PiecesJoinAcrossCalls) {
  HttpHead h;
  h.Reset(1024);
  h.AppendStartText("/v2/mo");
  h.AppendStartText("dels/x");
  h.AppendFieldName("Con");
  h.AppendFieldName("tent-Length");
  h.AppendFieldValue(" 1");
  h.AppendFieldValue("2 ");
  EXPECT_EQ(h.start_text(), "/v2/models/x");
  ASSERT_EQ(h.field_count(), 1u);
  EXPECT_EQ(h.name(0), "Content-Length");
  EXPECT_EQ(h.value(0), "12");
}

TEST(HttpHead, LimitsAreEnforced) {
  HttpHead h;
  h.Reset(16);
  EXPECT_TRUE(h.AppendStartText("/12345"));
  EXPECT_FALSE(h.AppendFieldName("a-long-name"));
}

TEST(HttpHead, ConnectionListsMoreHopByHopFields) {
  HttpHead h = Make({{"Connection", "close, X-Private , keep-alive"}, {"X-Private", "1"},
                     {"x-public", "2"}, {"TE", "trailers"}, {"Trailer", "x"},
                     {"Upgrade", "h2c"}, {"Proxy-Connection", "keep-alive"}});
  std::string out;
  h.WriteEndToEndFields(out);
  EXPECT_EQ(out, "x-public: 2\r\nTrailer: x\r\n");  // trailers are forwarded, so is Trailer
  EXPECT_TRUE(h.IsHopByHop("x-private"));
  EXPECT_FALSE(h.IsHopByHop("X-Public"));
}

// A Connection header naming the fields that frame and route the message strips nothing: without
// its Content-Length a forwarded body would read as the next request (or response).
TEST(HttpHead, ConnectionCannotStripContentLengthOrHost) {
  HttpHead h = Make({{"Connection", "Content-Length, host, x-private"},
                     {"Host", "h"},
                     {"Content-Length", "5"},
                     {"X-Private", "1"}});
  std::string out;
  h.WriteEndToEndFields(out);
  EXPECT_EQ(out, "Host: h\r\nContent-Length: 5\r\n");
  EXPECT_FALSE(h.IsHopByHop("content-length"));
  EXPECT_FALSE(h.IsHopByHop("Host"));
}

TEST(HttpHead, CountIsCaseInsensitive) {
  HttpHead h = Make({{"Host", "a"}, {"HOST", "b"}});
  std::string_view first;
  EXPECT_EQ(h.Count("host", &first), 2u);
  EXPECT_EQ(first, "a");
}

TEST(HttpHead, WellFormedRejectsNonTokensAndControls) {
  EXPECT_TRUE(Make({{"X-Ok", "a\tb"}}).WellFormed());
  EXPECT_FALSE(Make({{"X Bad", "a"}}).WellFormed());
  EXPECT_FALSE(Make({{"X(", "a"}}).WellFormed());
  EXPECT_FALSE(Make({{"X", std::string("a\x01", 2)}}).WellFormed());
}

TEST(HttpHead, ListContainsTrimsAndIgnoresCase) {
  EXPECT_TRUE(ListContains("a, B ,c", "b"));
  EXPECT_FALSE(ListContains("ab", "a"));
  EXPECT_FALSE(ListContains("", "a"));
}

TEST(HttpHead, ChunkSizeIsLowerHex) {
  std::string out;
  AppendChunkSize(out, 0);
  AppendChunkSize(out, 255);
  AppendChunkSize(out, 0x10000);
  EXPECT_EQ(out, "0\r\nff\r\n10000\r\n");
}

TEST(HttpHead, TrailerFieldsLeaveOutFramingAndRouting) {
  HttpHead h = Make({{"grpc-status", "0"},
                     {"Content-Length", "5"},
                     {"Host", "h"},
                     {"Transfer-Encoding", "chunked"},
                     {"X-Checksum", "abc"}});
  std::string out;
  h.WriteTrailerFields(out);
  EXPECT_EQ(out, "grpc-status: 0\r\nX-Checksum: abc\r\n");
}

}  // namespace
}  // namespace lagscale::proxy
