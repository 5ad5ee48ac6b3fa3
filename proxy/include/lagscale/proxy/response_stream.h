#pragma once

#include <llhttp.h>

#include <cstddef>
#include <string>

#include "lagscale/proxy/http_head.h"
#include "lagscale/proxy/usage_scanner.h"

namespace lagscale::proxy {

// ResponseStream: the upstream-to-client half of a proxied HTTP/1.1 exchange, without sockets.
// Feed() parses the upstream's response (llhttp, strict) and appends what the client must get: the
// status line, end-to-end header fields and our own framing, then each piece of body as soon as it
// is parsed, so a chunked or server-sent-events response reaches the client chunk by chunk.
//
// Framing towards the client: Content-Length bodies pass through; chunked bodies are re-chunked
// (trailer fields passed on, chunk extensions dropped); a body delimited by the upstream closing
// becomes chunked for an HTTP/1.1 client (so the client connection survives) and stays
// close-delimited for an HTTP/1.0 one. Interim 1xx responses (100 Continue) are forwarded and
// parsing goes on to the final response. When asked, the final response's body is also read for
// its first output and usage tokens (UsageScanner) as it passes. Thread safety: none; owned by one
// connection.
class ResponseStream {
 public:
  explicit ResponseStream(size_t max_header_bytes);
  ResponseStream(const ResponseStream&) = delete;
  ResponseStream& operator=(const ResponseStream&) = delete;

  // Prepares for the response to one request. `close_client`: the client connection will close
  // after this response, so the head says "Connection: close". `scan_usage`: the body is read by
  // usage() (an answer to an OpenAI-compatible request).
  void Start(bool head_request, bool client_http11, bool close_client, bool scan_usage = false);
  // Parses up to `len` bytes, appending bytes for the client to `out`; returns the bytes consumed.
  size_t Feed(const char* data, size_t len, std::string& out);
  // The upstream closed its side; ends a close-delimited body. Returns complete().
  bool FinishOnEof(std::string& out);

  bool received_any() const { return received_any_; }
  // The final (non-1xx) response head was written.
  bool final_head_done() const { return final_head_done_; }
  bool complete() const { return complete_; }
  bool failed() const { return failed_; }
  int status() const { return status_; }
  // The upstream connection may carry another request.
  bool upstream_reusable() const { return upstream_reusable_; }
  // The client connection must close after this response.
  bool close_client() const { return close_client_; }
  // What the body showed so far; meaningful when Start() was asked to scan it.
  const UsageScanner& usage() const { return usage_; }
  // Bytes followed the response: the upstream connection must not be reused.
  void ForbidReuse() { upstream_reusable_ = false; }
  // Whether the request is still arriving as the next bytes are fed: a final head that comes
  // before the request is whole says "Connection: close", since the rest of the request will not
  // be read and the connection closes after the response.
  void SetRequestPending(bool pending) { request_pending_ = pending; }
  // Asks for "Connection: close" on the final head if it is not written yet (graceful drain).
  void RequestClientClose() {
    if (!final_head_done_) close_client_ = true;
  }

 private:
  enum class Body : uint8_t { kNone, kRaw, kRechunk, kWrapInChunks, kUntilClose };

  struct Callbacks;  // the llhttp callbacks, in the .cc
  static const llhttp_settings_t kSettings;

  void WriteHead(int status, bool interim);

  const size_t max_header_bytes_;
  llhttp_t parser_;
  HttpHead head_;
  HttpHead trailers_;  // of a chunked body; bounded like the head
  UsageScanner usage_;
  std::string* out_ = nullptr;
  Body body_ = Body::kNone;
  int status_ = 0;
  bool head_request_ = false;
  bool client_http11_ = true;
  bool close_client_ = false;
  bool request_pending_ = false;
  bool in_head_ = false;
  bool received_any_ = false;
  bool final_head_done_ = false;
  bool complete_ = false;
  bool failed_ = false;
  bool chunk_open_ = false;
  bool upstream_reusable_ = false;
  bool until_eof_ = false;            // the upstream delimits the body by closing
  bool framed_without_body_ = false;  // a 204/304 announced a body: the upstream is broken
  bool scan_usage_ = false;
};

}  // namespace lagscale::proxy
