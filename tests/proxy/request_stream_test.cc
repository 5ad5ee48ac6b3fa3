#include "lagscale/proxy/request_stream.h"

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace lagscale::proxy {
namespace {

using metrics::ParseError;

// Feeds `bytes` (in pieces of `step` bytes, to cross every boundary) and returns what the
// upstream would get for the first request.
struct Fed {
  std::string out;
  size_t consumed = 0;
};
Fed FeedAll(RequestStream& s, const std::string& bytes, size_t step = 1) {
  Fed f;
  while (f.consumed < bytes.size() && !s.message_done() && !s.failed()) {
    const size_t n = std::min(step, bytes.size() - f.consumed);
    const size_t used = s.Feed(bytes.data() + f.consumed, n, f.out);
    f.consumed += used;
    if (used < n) break;
  }
  return f;
}

TEST(RequestStream, ContentLengthRequestIsForwardedWithHopByHopRemoved) {
  for (size_t step : {1, 7, 4096}) {
    RequestStream s({});
    const std::string in =
        "POST /v2/models/iris/infer HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Hop\r\n"
        "X-Hop: 1\r\nKeep-Alive: 5\r\nTE: trailers\r\nUpgrade: h2c\r\nProxy-Connection: x\r\n"
        "Seldon-Model: iris\r\nContent-Length: 4\r\n\r\nbody";
    Fed f = FeedAll(s, in, step);
    ASSERT_TRUE(s.message_done()) << step;
    EXPECT_EQ(f.consumed, in.size());
    EXPECT_EQ(f.out,
              "POST /v2/models/iris/infer HTTP/1.1\r\nHost: h\r\nSeldon-Model: iris\r\n"
              "Content-Length: 4\r\n\r\nbody");
    EXPECT_TRUE(s.keep_alive());
    EXPECT_EQ(s.target(), "/v2/models/iris/infer");
  }
}

TEST(RequestStream, ChunkedBodyIsRechunkedWithTrailersAndWithoutExtensions) {
  for (size_t step : {1, 5, 4096}) {
    RequestStream s({});
    Fed f = FeedAll(s,
                    "POST / HTTP/1.1\r\nHost: h\r\nTrailer: Trailer-A\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n"
                    "3;name=v\r\nabc\r\n10\r\n0123456789abcdef\r\n0;last=1\r\n"
                    "Trailer-A: x\r\nContent-Length: 9\r\nTrailer-B:  y \r\n\r\n",
                    step);
    ASSERT_TRUE(s.message_done()) << step;
    EXPECT_EQ(f.out,
              "POST / HTTP/1.1\r\nHost: h\r\nTrailer: Trailer-A\r\n"
              "Transfer-Encoding: chunked\r\n\r\n"
              "3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nTrailer-A: x\r\nTrailer-B: y\r\n\r\n")
        << step;
  }
}

TEST(RequestStream, TrailersOfOneRequestDoNotLeakIntoTheNext) {
  RequestStream s({});
  std::string out;
  const std::string one =
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n\r\n";
  const std::string two =
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n";
  ASSERT_EQ(s.Feed(one.data(), one.size(), out), one.size());
  ASSERT_TRUE(s.message_done());
  s.NextMessage();
  out.clear();
  ASSERT_EQ(s.Feed(two.data(), two.size(), out), two.size());
  EXPECT_EQ(out,
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n");
}

TEST(RequestStream, TrailerSectionPastTheHeadLimitIsRefused) {
  RequestStream s({.max_header_bytes = 256});
  std::string out;
  const std::string in =
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
      "X-Big: " +
      std::string(400, 'a') + "\r\n\r\n";
  s.Feed(in.data(), in.size(), out);
  ASSERT_TRUE(s.failed());
  EXPECT_EQ(s.error_status(), 431);
}

TEST(RequestStream, StopsAtTheEndOfEachPipelinedRequest) {
  RequestStream s({});
  const std::string one = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::string two = "GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::string both = one + two;
  std::string out;
  size_t used = s.Feed(both.data(), both.size(), out);
  EXPECT_EQ(used, one.size());
  EXPECT_TRUE(s.message_done());
  EXPECT_EQ(s.target(), "/a");
  EXPECT_EQ(s.Feed(both.data() + used, both.size() - used, out), 0u);  // waits its turn
  s.NextMessage();
  out.clear();
  EXPECT_EQ(s.Feed(both.data() + used, both.size() - used, out), two.size());
  EXPECT_TRUE(s.message_done());
  EXPECT_EQ(s.target(), "/b");
  EXPECT_EQ(out, two);
}

// Upgrade is not forwarded, so the upstream answers in HTTP/1.1 and the next request on the
// connection is HTTP/1.1 too (curl --http2 sends "Upgrade: h2c" on plain http://).
TEST(RequestStream, UpgradeIsNotTakenAndTheNextRequestIsParsed) {
  RequestStream s({});
  const std::string one =
      "GET /a HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
      "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n";
  const std::string two = "GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::string both = one + two;
  std::string out;
  const size_t used = s.Feed(both.data(), both.size(), out);
  ASSERT_TRUE(s.message_done());
  EXPECT_EQ(used, one.size());
  EXPECT_EQ(out, "GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
  s.NextMessage();
  out.clear();
  EXPECT_EQ(s.Feed(both.data() + used, both.size() - used, out), two.size());
  EXPECT_FALSE(s.failed());
  EXPECT_TRUE(s.message_done());
  EXPECT_EQ(s.target(), "/b");
}

TEST(RequestStream, Http10DefaultsToCloseAndHostIsOptional) {
  RequestStream s({});
  Fed f = FeedAll(s, "GET / HTTP/1.0\r\n\r\n", 100);
  ASSERT_TRUE(s.message_done());
  EXPECT_FALSE(s.keep_alive());
  EXPECT_FALSE(s.http11());
  // Forwarded as HTTP/1.1, which requires Host: empty, as the target names no authority.
  EXPECT_EQ(f.out, "GET / HTTP/1.1\r\nHost: \r\n\r\n");
}

// Found by fuzz_http_request: an HTTP/1.0 request without Host went upstream as an HTTP/1.1
// request without Host, which a strict upstream refuses with 400.
TEST(RequestStream, Http10WithoutHostIsForwardedWithTheTargetsAuthorityAsHost) {
  RequestStream s({});
  Fed f = FeedAll(s, "GET http://u@api.example:8080/v2/models/m/ready?x=1 HTTP/1.0\r\n\r\n",
                  100);
  ASSERT_TRUE(s.message_done());
  EXPECT_EQ(f.out,
            "GET http://u@api.example:8080/v2/models/m/ready?x=1 HTTP/1.1\r\n"
            "Host: api.example:8080\r\n\r\n");
  RequestStream upstream({});  // what the proxy sends parses as valid HTTP/1.1
  FeedAll(upstream, f.out, 100);
  EXPECT_TRUE(upstream.message_done());
  EXPECT_FALSE(upstream.failed());
}

// Found by fuzz_http_request: "POST http://h\n" (HTTP/0.9, no version) was accepted and forwarded
// as HTTP/1.1 without Host.
TEST(RequestStream, Http09RequestLineIsRefused) {
  RequestStream s({});
  std::string out;
  const std::string in = "POST http://h\n\n";
  s.Feed(in.data(), in.size(), out);
  ASSERT_TRUE(s.failed());
  EXPECT_EQ(s.error_status(), 400);
  EXPECT_EQ(out, "");
}

TEST(RequestStream, HeadMethodIsReported) {
  RequestStream s({});
  FeedAll(s, "HEAD / HTTP/1.1\r\nHost: h\r\n\r\n", 100);
  EXPECT_TRUE(s.is_head_method());
}

struct Refused {
  const char* name;
  std::string bytes;
  ParseError error;
  int status;
};

class RequestStreamRefuses : public ::testing::TestWithParam<Refused> {};

TEST_P(RequestStreamRefuses, WithTheRightStatus) {
  RequestStream s({1024, 100});
  std::string out;
  const std::string& in = GetParam().bytes;
  s.Feed(in.data(), in.size(), out);
  ASSERT_TRUE(s.failed());
  EXPECT_EQ(s.error(), GetParam().error);
  EXPECT_EQ(s.error_status(), GetParam().status);
  if (!s.head_done()) {
    EXPECT_EQ(out.find("\r\n\r\n"), std::string::npos) << "a refused head must not reach the upstream";
  }
}

const std::string kPost = "POST / HTTP/1.1\r\nHost: h\r\n";
INSTANTIATE_TEST_SUITE_P(
    Shapes, RequestStreamRefuses,
    ::testing::Values(
        Refused{"ClThenTe", kPost + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
                ParseError::kSmuggling, 400},
        Refused{"TeThenCl", kPost + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
                ParseError::kSmuggling, 400},
        Refused{"TwoLengths", kPost + "Content-Length: 3\r\nContent-Length: 4\r\n\r\n",
                ParseError::kSmuggling, 400},
        Refused{"SameLengthTwice", kPost + "Content-Length: 3\r\nContent-Length: 3\r\n\r\n",
                ParseError::kSmuggling, 400},
        Refused{"LengthList", kPost + "Content-Length: 3, 4\r\n\r\n", ParseError::kSmuggling, 400},
        Refused{"TeNotChunked", kPost + "Transfer-Encoding: gzip\r\n\r\n", ParseError::kSmuggling,
                400},
        Refused{"TeChunkedThenGzip", kPost + "Transfer-Encoding: chunked, gzip\r\n\r\n",
                ParseError::kSmuggling, 400},
        Refused{"TeGzipThenChunked", kPost + "Transfer-Encoding: gzip, chunked\r\n\r\n",
                ParseError::kSmuggling, 400},
        Refused{"BadChunkSize", kPost + "Transfer-Encoding: chunked\r\n\r\nzz\r\n",
                ParseError::kMalformed, 400},
        Refused{"NoHost", "GET / HTTP/1.1\r\n\r\n", ParseError::kMalformed, 400},
        Refused{"TwoHosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", ParseError::kMalformed,
                400},
        Refused{"SpaceInName", "GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n",
                ParseError::kMalformed, 400},
        Refused{"BareLf", "GET / HTTP/1.1\nHost: a\n\n", ParseError::kMalformed, 400},
        Refused{"TabInTarget", "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", ParseError::kMalformed,
                400},
        Refused{"Garbage", "\x01\x02\x03 / HTTP/1.1\r\n\r\n", ParseError::kMalformed, 400},
        Refused{"ConnectAsksForATunnel", "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
                ParseError::kMalformed, 400},
        Refused{"LongHeader", "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(2000, 'a'),
                ParseError::kHeaderTooLarge, 431},
        // Spaces before a value are read, not stored: they count all the same.
        Refused{"PaddedValue", "GET / HTTP/1.1\r\nHost: a\r\nX:" + std::string(2000, ' ') + "v",
                ParseError::kHeaderTooLarge, 431},
        Refused{"ManyHeaders",
                [] {
                  std::string s = "GET / HTTP/1.1\r\nHost: a\r\n";
                  for (int i = 0; i < 300; ++i) s += "a:\r\n";
                  return s;
                }(),
                ParseError::kHeaderTooLarge, 431},
        Refused{"DeclaredBodyTooLarge", kPost + "Content-Length: 101\r\n\r\n",
                ParseError::kBodyTooLarge, 413},
        Refused{"ChunkedBodyTooLarge",
                kPost + "Transfer-Encoding: chunked\r\n\r\n65\r\n" + std::string(101, 'x'),
                ParseError::kBodyTooLarge, 413}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(RequestStream, RefusedBodyTooLargeStillHasAParsedHead) {
  RequestStream s({1024, 10});
  std::string out;
  const std::string in = "POST /v2/models/m/infer HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n";
  s.Feed(in.data(), in.size(), out);
  ASSERT_TRUE(s.failed());
  EXPECT_TRUE(s.head_done());  // so the request is counted, as a client error
  EXPECT_EQ(s.target(), "/v2/models/m/infer");
}

TEST(RequestStream, HeadStorageIsReusedAcrossRequests) {
  RequestStream s({});
  std::string out;
  const std::string in = "GET /x HTTP/1.1\r\nHost: h\r\nA: 1\r\n\r\n";
  for (int i = 0; i < 3; ++i) {
    out.clear();
    EXPECT_EQ(s.Feed(in.data(), in.size(), out), in.size());
    ASSERT_TRUE(s.message_done());
    EXPECT_EQ(s.head().field_count(), 2u);
    s.NextMessage();
  }
}

}  // namespace
TEST(RequestStream, TellsWhichMethodsAreSafeToSendTwice) {
  for (const auto& [method, idempotent] :
       std::vector<std::pair<std::string, bool>>{{"GET", true},
                                                 {"HEAD", true},
                                                 {"PUT", true},
                                                 {"DELETE", true},
                                                 {"OPTIONS", true},
                                                 {"POST", false},
                                                 {"PATCH", false}}) {
    RequestStream s({});
    std::string out;
    const std::string in = method + " / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n";
    s.Feed(in.data(), in.size(), out);
    ASSERT_TRUE(s.message_done()) << method;
    EXPECT_EQ(s.idempotent(), idempotent) << method;
  }
}

}  // namespace lagscale::proxy

namespace lagscale::proxy {
namespace {

// The routing the sidecar uses by default, plus the Gateway API's header after seldon-model.
ModelRouting TwoHeaders() {
  ModelRouting r;
  r.headers = {"seldon-model", "X-Gateway-Model-Name"};
  return r;
}

std::string Chunked(const std::string& body, size_t piece) {
  std::string out;
  for (size_t i = 0; i < body.size(); i += piece) {
    const std::string part = body.substr(i, piece);
    char size[16];
    std::snprintf(size, sizeof size, "%zx", part.size());
    out += std::string(size) + "\r\n" + part + "\r\n";
  }
  return out + "0\r\n\r\n";
}

TEST(RequestStreamModel, OpenAiPostBodyNamesTheModelAndIsForwardedUnchanged) {
  const ModelRouting routing = TwoHeaders();
  const std::string body = R"({"messages":[{"role":"user","model":"no"}],"model":"llama-3"})";
  const std::string head = "POST /openai/v1/chat/completions?x=1 HTTP/1.1\r\nHost: h\r\n";
  for (const bool chunked : {false, true}) {
    for (size_t step : {1, 5, 4096}) {
      RequestStream s({}, &routing);
      const std::string in =
          head + (chunked ? "Transfer-Encoding: chunked\r\n\r\n" + Chunked(body, 7)
                          : "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
      Fed f = FeedAll(s, in, step);
      ASSERT_TRUE(s.message_done());
      EXPECT_TRUE(s.openai());
      EXPECT_TRUE(s.model_in_body());
      ASSERT_EQ(s.body_model(), JsonModelScanner::Result::kFound);
      EXPECT_EQ(s.body_model_name(), "llama-3");
      EXPECT_EQ(f.out, in) << "forwarded unchanged";
    }
  }
}

TEST(RequestStreamModel, BodyModelIsKnownBeforeTheBodyEnds) {
  const ModelRouting routing;
  RequestStream s({}, &routing);
  std::string out;
  const std::string in =
      "POST /v1/completions HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n{\"model\":\"m\",";
  EXPECT_EQ(s.Feed(in.data(), in.size(), out), in.size());
  EXPECT_FALSE(s.message_done());
  EXPECT_EQ(s.body_model(), JsonModelScanner::Result::kFound);
  EXPECT_EQ(out, in) << "bytes are passed on as they arrive";
}

TEST(RequestStreamModel, NoModelByTheEndOfTheBodyIsNone) {
  const ModelRouting routing;
  RequestStream s({}, &routing);
  FeedAll(s, "POST /v1/embeddings HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}");
  ASSERT_TRUE(s.message_done());
  EXPECT_EQ(s.body_model(), JsonModelScanner::Result::kNone);
  RequestStream empty({}, &routing);
  FeedAll(empty, "POST /v1/embeddings HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(empty.body_model(), JsonModelScanner::Result::kNone);
}

TEST(RequestStreamModel, AHeaderWinsAndTheFirstPresentHeaderIsTheOne) {
  const ModelRouting routing = TwoHeaders();
  RequestStream s({}, &routing);
  FeedAll(s,
          "POST /v1/chat/completions HTTP/1.1\r\nHost: h\r\nx-gateway-model-name: gw\r\n"
          "Content-Length: 13\r\n\r\n{\"model\":\"b\"}");
  EXPECT_TRUE(s.openai());
  EXPECT_FALSE(s.model_in_body());
  EXPECT_EQ(s.model_header(), "gw");
  RequestStream both({}, &routing);
  FeedAll(both,
          "GET /v2/models/x/ready HTTP/1.1\r\nHost: h\r\nX-Gateway-Model-Name: gw\r\n"
          "Seldon-Model: sm\r\n\r\n");
  EXPECT_EQ(both.model_header(), "sm") << "the order of the flags decides, not of the fields";
}

TEST(RequestStreamModel, OnlyPostsOnOpenAiPathsAreScanned) {
  const ModelRouting routing;
  for (const char* in :
       {"GET /v1/chat/completions HTTP/1.1\r\nHost: h\r\n\r\n",
        "POST /v1/chat/completions/x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
        "POST /v2/models/m/infer HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"}) {
    RequestStream s({}, &routing);
    FeedAll(s, in);
    EXPECT_FALSE(s.openai()) << in;
    EXPECT_FALSE(s.model_in_body()) << in;
  }
  RequestStream none({});
  FeedAll(none, "POST /v1/chat/completions HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
  EXPECT_FALSE(none.openai()) << "without routing nothing is looked for";
}

}  // namespace
}  // namespace lagscale::proxy
