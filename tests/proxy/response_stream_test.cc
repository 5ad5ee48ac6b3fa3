#include "lagscale/proxy/response_stream.h"

#include <gtest/gtest.h>

#include <string>

namespace lagscale::proxy {
namespace {

std::string FeedAll(ResponseStream& s, const std::string& in, size_t step = 3) {
  std::string out;
  for (size_t i = 0; i < in.size() && !s.complete() && !s.failed(); i += step) {
    s.Feed(in.data() + i, std::min(step, in.size() - i), out);
  }
  return out;
}

TEST(ResponseStream, ContentLengthResponsePassesThrough) {
  ResponseStream s(65536);
  s.Start(false, true, false);
  std::string out =
      FeedAll(s,
              "HTTP/1.1 201 Created\r\nContent-Length: 2\r\nConnection: keep-alive\r\n"
              "Keep-Alive: timeout=5\r\nX-A: b\r\n\r\nok");
  EXPECT_TRUE(s.complete());
  EXPECT_EQ(s.status(), 201);
  EXPECT_TRUE(s.upstream_reusable());
  EXPECT_EQ(out, "HTTP/1.1 201 Created\r\nContent-Length: 2\r\nX-A: b\r\n\r\nok");
}

TEST(ResponseStream, ChunkedResponseIsRechunkedPieceByPiece) {
  ResponseStream s(65536);
  s.Start(false, true, false);
  std::string out;
  const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  s.Feed(head.data(), head.size(), out);
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  out.clear();
  const std::string first = "5;x=y\r\nhello\r\n";
  s.Feed(first.data(), first.size(), out);
  EXPECT_EQ(out, "5\r\nhello\r\n");  // out before the response ends
  EXPECT_FALSE(s.complete());
  out.clear();
  const std::string last = "0\r\nX-Trailer: 1\r\n\r\n";
  s.Feed(last.data(), last.size(), out);
  EXPECT_EQ(out, "0\r\nX-Trailer: 1\r\n\r\n");
  EXPECT_TRUE(s.complete());
}

TEST(ResponseStream, TrailersPassToHttp11ClientsPieceByPiece) {
  for (size_t step : {1, 3, 4096}) {
    ResponseStream s(65536);
    s.Start(false, true, false);
    std::string out = FeedAll(s,
                              "HTTP/1.1 200 OK\r\nTrailer: grpc-status\r\n"
                              "Transfer-Encoding: chunked\r\n\r\n2;a=b\r\nok\r\n0\r\n"
                              "grpc-status: 0\r\nContent-Length: 2\r\ngrpc-message: \r\n\r\n",
                              step);
    EXPECT_TRUE(s.complete()) << step;
    EXPECT_EQ(out,
              "HTTP/1.1 200 OK\r\nTrailer: grpc-status\r\nTransfer-Encoding: chunked\r\n\r\n"
              "2\r\nok\r\n0\r\ngrpc-status: 0\r\ngrpc-message: \r\n\r\n")
        << step;
  }
}

TEST(ResponseStream, TrailersAreDroppedForAnHttp10Client) {
  ResponseStream s(65536);
  s.Start(false, false, false);
  std::string out = FeedAll(
      s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: 1\r\n\r\n",
      100);
  EXPECT_TRUE(s.complete());
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nok");
}

TEST(ResponseStream, CloseDelimitedBodyBecomesChunkedForHttp11) {
  ResponseStream s(65536);
  s.Start(false, true, false);
  std::string out = FeedAll(s, "HTTP/1.1 200 OK\r\n\r\nabcdef", 100);
  EXPECT_FALSE(s.complete());
  EXPECT_TRUE(s.FinishOnEof(out));
  EXPECT_FALSE(s.upstream_reusable());
  EXPECT_FALSE(s.close_client());
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n0\r\n\r\n");
}

TEST(ResponseStream, CloseDelimitedBodyStaysSoForHttp10) {
  ResponseStream s(65536);
  s.Start(false, false, false);
  std::string out = FeedAll(s, "HTTP/1.1 200 OK\r\n\r\nabc", 100);
  EXPECT_TRUE(s.FinishOnEof(out));
  EXPECT_TRUE(s.close_client());
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nabc");
}

TEST(ResponseStream, HeadResponseHasNoBodyDespiteItsLength) {
  ResponseStream s(65536);
  s.Start(true, true, false);
  std::string out = FeedAll(s, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n");
  EXPECT_TRUE(s.complete());
  EXPECT_TRUE(s.upstream_reusable());
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n");
}

TEST(ResponseStream, NoContentAndNotModifiedEndAtTheirHead) {
  for (int status : {204, 304}) {
    ResponseStream s(65536);
    s.Start(false, true, false);
    FeedAll(s, "HTTP/1.1 " + std::to_string(status) + " X\r\n\r\n");
    EXPECT_TRUE(s.complete()) << status;
    EXPECT_EQ(s.status(), status);
  }
}

// Found by fuzz_http_response: llhttp honours a Transfer-Encoding or Content-Length on a 204 or
// 304 before its status, so the bytes after such a head were forwarded as a body, and the client's
// parser read them as the next response. They never reach the client now, and an upstream that
// frames a body there is not reused; a 304's Content-Length (the representation's) is allowed.
TEST(ResponseStream, NoContentAndNotModifiedNeverForwardABodyWhateverTheirHeadSays) {
  struct Case {
    std::string head;
    bool reusable;
  };
  const Case cases[] = {
      {"HTTP/1.1 204 X\r\nTransfer-Encoding: chunked\r\n\r\n", false},
      {"HTTP/1.1 204 X\r\nTransfer-Encoding: gzip\r\n\r\n", false},
      {"HTTP/1.1 204 X\r\nContent-Length: 5\r\n\r\n", false},
      {"HTTP/1.1 304 X\r\nTransfer-Encoding: chunked\r\n\r\n", false},
      {"HTTP/1.1 304 X\r\nContent-Length: 5\r\n\r\n", true},
  };
  for (const Case& c : cases) {
    for (size_t step : {1, 4096}) {
      ResponseStream s(65536);
      s.Start(false, true, false);
      const std::string out = FeedAll(s, c.head + "5\r\nhello\r\n0\r\n\r\n", step);
      EXPECT_TRUE(s.complete()) << c.head;
      EXPECT_EQ(out.find("hello"), std::string::npos) << c.head << out;
      // Nor does the head frame one: llhttp (so Node.js) reads a Content-Length even there.
      EXPECT_EQ(out.find("Content-Length"), std::string::npos) << c.head << out;
      EXPECT_EQ(out.substr(out.size() - 4), "\r\n\r\n") << c.head << out;
      EXPECT_EQ(s.upstream_reusable(), c.reusable) << c.head;
    }
  }
}

TEST(ResponseStream, InterimContinueIsForwardedThenTheFinalResponse) {
  ResponseStream s(65536);
  s.Start(false, true, false);
  std::string out = FeedAll(s, "HTTP/1.1 100 Continue\r\n\r\n", 100);
  EXPECT_EQ(out, "HTTP/1.1 100 Continue\r\n\r\n");
  EXPECT_FALSE(s.final_head_done());
  EXPECT_FALSE(s.complete());
  out = FeedAll(s, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", 100);
  EXPECT_TRUE(s.complete());
  EXPECT_EQ(s.status(), 200);
}

// An answer before the request is whole (417 to Expect: 100-continue, say): the rest of the
// request is never read, so the connection closes after the response, and its head says so. A
// 100 Continue before the body changes nothing.
TEST(ResponseStream, FinalHeadBeforeTheRequestIsWholeSaysConnectionClose) {
  ResponseStream early(65536);
  early.Start(false, true, false);
  early.SetRequestPending(true);
  EXPECT_EQ(FeedAll(early, "HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n"),
            "HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(early.close_client());

  ResponseStream normal(65536);
  normal.Start(false, true, false);
  normal.SetRequestPending(true);
  EXPECT_EQ(FeedAll(normal, "HTTP/1.1 100 Continue\r\n\r\n", 100), "HTTP/1.1 100 Continue\r\n\r\n");
  normal.SetRequestPending(false);
  EXPECT_EQ(FeedAll(normal, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 100),
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  EXPECT_FALSE(normal.close_client());
}

// RFC 9110 section 15.2: a server must not send a 1xx response to an HTTP/1.0 client.
TEST(ResponseStream, InterimResponseIsNotSentToAnHttp10Client) {
  ResponseStream s(65536);
  s.Start(false, /*client_http11=*/false, false);
  std::string out = FeedAll(s, "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", 100);
  EXPECT_EQ(out, "");
  out = FeedAll(s, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", 100);
  EXPECT_TRUE(s.complete());
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\nx");
}

// Found by fuzz_http_response: a Transfer-Encoding on an interim response made the parser read
// "its body", which went to the client raw, so an upstream could put any bytes (a whole fake
// response) between the interim and the final response.
TEST(ResponseStream, InterimResponseHasNoBodyWhateverItsHeadSays) {
  for (size_t step : {1, 7, 4096}) {
    ResponseStream s(65536);
    s.Start(false, true, false);
    const std::string out = FeedAll(s,
                                    "HTTP/1.1 100 Continue\r\nTransfer-Encoding: x\r\n\r\n"
                                    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                                    step);
    EXPECT_TRUE(s.complete()) << step;
    EXPECT_EQ(s.status(), 200);
    EXPECT_EQ(out, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");

    // Bytes that are not a response after the interim one never reach the client.
    ResponseStream bad(65536);
    bad.Start(false, true, false);
    const std::string bad_out =
        FeedAll(bad, "HTTP/1.0 100 C\r\nTransfer-Encoding: y\r\n\r\nHTTP: 2g\n\r\nok", step);
    EXPECT_FALSE(bad.complete()) << step;
    EXPECT_EQ(bad_out, "HTTP/1.1 100 C\r\n\r\n");
  }
}

// Found by fuzz_http_response: a Content-Length on an interim response was forwarded with it, and
// a client's parser (llhttp, as Node.js uses) read that many bytes of the final response as the
// interim one's body.
TEST(ResponseStream, InterimResponseIsForwardedWithoutContentLength) {
  ResponseStream s(65536);
  s.Start(false, true, false);
  const std::string out =
      FeedAll(s,
              "HTTP/1.1 104 Upload Resumption\r\nContent-Length: 3\r\n"
              "X-Kept: yes\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
              5);
  EXPECT_TRUE(s.complete());
  EXPECT_EQ(out,
            "HTTP/1.1 104 Upload Resumption\r\nX-Kept: yes\r\n\r\n"
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
}

// Found by fuzz_http_response: a reason phrase holding NUL and VT bytes was forwarded, and the
// client's parser refused the stream (or could read part of it as another response).
TEST(ResponseStream, ReasonWithControlBytesFails) {
  ResponseStream s(65536);
  s.Start(false, true, false);
  const std::string out = FeedAll(s, std::string("HTTP/1.1 204 No\x0b\x00pe\r\n\r\n", 23), 100);
  EXPECT_TRUE(s.failed());
  EXPECT_EQ(out, "");
  ResponseStream ok(65536);  // tab and obs-text are allowed
  ok.Start(false, true, false);
  EXPECT_EQ(FeedAll(ok, "HTTP/1.1 204 A\tB\xff\r\n\r\n", 100), "HTTP/1.1 204 A\tB\xff\r\n\r\n");
  EXPECT_TRUE(ok.complete());
}

// Found by fuzz_http_response: "HTTP/1.1 1 0 Continue" was taken for an interim response and
// forwarded, while the client's parser read it as a response whose body runs to the close, so the
// proxy counted a success the client never saw.
TEST(ResponseStream, StatusOutside100To599Fails) {
  for (const char* head : {"HTTP/1.1 1 0 Continue\r\n\r\n", "HTTP/1.1 99 Low\r\n\r\n",
                           "HTTP/1.1 600 High\r\nContent-Length: 0\r\n\r\n",
                           "HTTP/1.1 999 High\r\nContent-Length: 0\r\n\r\n"}) {
    ResponseStream s(65536);
    s.Start(false, true, false);
    EXPECT_EQ(FeedAll(s, head, 100), "") << head;
    EXPECT_TRUE(s.failed()) << head;
  }
  for (const char* head : {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 599 Edge\r\n\r\n",
                           "HTTP/1.1 599 Edge\r\nContent-Length: 0\r\n\r\n"}) {
    ResponseStream s(65536);
    s.Start(false, true, false);
    FeedAll(s, head, 100);
    EXPECT_FALSE(s.failed()) << head;
  }
}

TEST(ResponseStream, ClosingClientSaysSo) {
  ResponseStream s(65536);
  s.Start(false, true, true);
  std::string out = FeedAll(s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}

TEST(ResponseStream, UpstreamConnectionCloseForbidsReuse) {
  ResponseStream s(65536);
  s.Start(false, true, false);
  FeedAll(s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(s.complete());
  EXPECT_FALSE(s.upstream_reusable());
}

TEST(ResponseStream, InvalidResponsesFail) {
  for (const std::string& bad :
       {std::string("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
        std::string("NOT HTTP\r\n\r\n"), std::string("HTTP/1.1 101 Switching\r\n\r\n"),
        std::string("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n"),
        // A coding besides chunked: re-framed, the client would take coded bytes for the content.
        std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
        std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"),
        std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
                    "chunked\r\n\r\n")}) {
    ResponseStream s(65536);
    s.Start(false, true, false);
    FeedAll(s, bad, 100);
    EXPECT_TRUE(s.failed()) << bad;
  }
}

TEST(ResponseStream, OversizeHeadFails) {
  ResponseStream s(256);
  s.Start(false, true, false);
  FeedAll(s, "HTTP/1.1 200 OK\r\nX: " + std::string(300, 'a') + "\r\n\r\n", 100);
  EXPECT_TRUE(s.failed());
}

TEST(ResponseStream, TruncatedBodyIsNotComplete) {
  ResponseStream s(65536);
  s.Start(false, true, false);
  std::string out = FeedAll(s, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 100);
  EXPECT_FALSE(s.FinishOnEof(out));
}

}  // namespace
}  // namespace lagscale::proxy
