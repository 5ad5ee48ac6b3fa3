#pragma once

// The response both coordinator servers (HTTP and the HTTPS webhook) write for an HttpReply.

// clang-format off
#include <utility>  // g++ 12 + Boost 1.74: before Boost.Asio (which Beast includes)
#include <boost/beast/http.hpp>
// clang-format on

#include "lagscale/coordinator/http_server.h"

namespace lagscale::coordinator {

// `reply` as a Beast response; a HEAD answer carries the GET answer's Content-Length and no body.
inline boost::beast::http::response<boost::beast::http::string_body> ResponseFor(
    HttpReply reply, unsigned version, bool keep_alive, bool head = false) {
  namespace http = boost::beast::http;
  http::response<http::string_body> res{static_cast<http::status>(reply.status), version};
  res.set(http::field::content_type, reply.content_type);
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(keep_alive);
  res.body() = std::move(reply.body);
  res.prepare_payload();
  if (head) res.body().clear();
  return res;
}

}  // namespace lagscale::coordinator
