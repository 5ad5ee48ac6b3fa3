#pragma once

// SseWriter: a `text/event-stream` response written event by event, each event flushed on its
// own as a chunk (HTTP/1.1) or, for HTTP/1.0, as raw bytes up to the connection's end.
// Thread safety: not thread-safe; one coroutine on the connection's I/O thread uses it.

#include <string_view>

#include "rest_handler.h"

namespace lagscale::testserver {

class SseWriter {
 public:
  SseWriter(boost::beast::tcp_stream& stream, const Request& request);

  // Each returns false once a write failed (the client is gone); later calls then do nothing.
  boost::asio::awaitable<bool> WriteHead(unsigned status = 200);
  boost::asio::awaitable<bool> Write(std::string_view event);
  // The chunked terminator (HTTP/1.1).
  boost::asio::awaitable<bool> Finish();

  // Whether the connection may read the next request once the stream is finished.
  bool keep_alive() const { return ok_ && keep_alive_; }

 private:
  boost::beast::tcp_stream& stream_;
  unsigned version_;
  bool chunked_;
  bool keep_alive_;
  bool ok_ = true;
};

}  // namespace lagscale::testserver
