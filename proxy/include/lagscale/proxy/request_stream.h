#pragma once

#include <llhttp.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lagscale/metrics/server_counters.h"
#include "lagscale/proxy/http_head.h"
#include "lagscale/proxy/json_model_scanner.h"
#include "lagscale/proxy/model_router.h"

namespace lagscale::proxy {

// RequestStream: the client-to-upstream half of a proxied HTTP/1.1 connection, without sockets.
// Feed() parses what the client sent (llhttp, strict) and appends what the upstream must get: the
// request line, the end-to-end header fields, our own framing, then the body as it streams
// (chunked bodies are re-chunked as they arrive, never buffered whole, with their trailer fields
// passed on after the last chunk; chunk extensions are dropped).
//
// Requests are taken one at a time: parsing stops at the end of each one (message_done()) until
// NextMessage(), so pipelined requests wait in the caller's buffer and are answered in order.
// Framing that could be read two ways (Content-Length with Transfer-Encoding, several
// Content-Lengths, a Transfer-Encoding not ending in chunked) is refused, as are heads past the
// size limit and bodies past the body limit.
//
// With a ModelRouting, each request's head is also read for its model header, and a POST on an
// OpenAI-compatible path without one has its body scanned for the top-level "model" as it is
// parsed (JsonModelScanner: nothing is held back, the body is passed on as it arrives).
// Thread safety: none; owned by one connection.
class RequestStream {
 public:
  struct Limits {
    size_t max_header_bytes = 65536;
    uint64_t max_body_bytes = 0;  // 0 = unlimited
  };

  // `routing`, if given, must outlive the stream.
  explicit RequestStream(Limits limits, const ModelRouting* routing = nullptr);
  RequestStream(const RequestStream&) = delete;
  RequestStream& operator=(const RequestStream&) = delete;

  // Parses up to `len` bytes, appending bytes for the upstream to `out`. Returns how many bytes
  // were consumed: fewer than `len` when the request ended (message_done()) or on an error.
  size_t Feed(const char* data, size_t len, std::string& out);
  // Starts the next request. REQUIRES: message_done().
  void NextMessage();

  // A request has begun (some of its bytes were consumed) and its head is not complete yet.
  bool reading_head() const { return started_ && !head_done_; }
  // The current request's head was parsed and written to `out`.
  bool head_done() const { return head_done_; }
  // The current request was read to its end.
  bool message_done() const { return message_done_; }

  bool failed() const { return failed_; }
  // REQUIRES: failed().
  metrics::ParseError error() const { return error_; }
  // The status code to answer a failure with: 400, 413 or 431.
  int error_status() const;

  // About the current request; valid once head_done().
  const HttpHead& head() const { return head_; }
  std::string_view target() const { return head_.start_text(); }
  bool is_head_method() const { return method_ == HTTP_HEAD; }
  // GET, HEAD, PUT, DELETE, OPTIONS or TRACE (RFC 9110 section 9.2.2): safe to send twice.
  bool idempotent() const;
  bool http11() const { return http11_; }
  // The client allows the connection to stay open after this request.
  bool keep_alive() const { return keep_alive_; }
  // The value of the first configured model header present (empty if none).
  std::string_view model_header() const { return model_header_; }
  // A POST on one of the OpenAI-compatible paths.
  bool openai() const { return openai_; }
  // The model comes from the body: an OpenAI request without a model header.
  bool model_in_body() const { return model_in_body_; }
  // REQUIRES: model_in_body(). kScanning until the "model" value streamed by or the body ended.
  JsonModelScanner::Result body_model() const { return body_model_.result(); }
  // REQUIRES: body_model() == kFound.
  std::string_view body_model_name() const { return body_model_.model(); }

 private:
  struct Callbacks;  // the llhttp callbacks, in the .cc
  static const llhttp_settings_t kSettings;

  int Fail(metrics::ParseError e);
  void FindModel();
  void WriteHead();

  Limits limits_;
  const ModelRouting* routing_;
  JsonModelScanner body_model_;
  std::string_view model_header_;  // points into head_
  llhttp_t parser_;
  HttpHead head_;
  HttpHead trailers_;  // of a chunked body; bounded like the head
  std::string* out_ = nullptr;
  uint64_t body_bytes_ = 0;
  // Bytes read of a head still incomplete, whitespace included, which the parser reads but does
  // not hand on (HttpHead counts only what it stores).
  size_t head_bytes_ = 0;
  metrics::ParseError error_ = metrics::ParseError::kMalformed;
  uint8_t method_ = 0;
  bool started_ = false;
  bool head_done_ = false;
  bool message_done_ = false;
  bool failed_ = false;
  bool chunked_ = false;
  bool chunk_open_ = false;
  bool http11_ = true;
  bool keep_alive_ = true;
  bool openai_ = false;
  bool model_in_body_ = false;
};

}  // namespace lagscale::proxy
