#pragma once

// Listen addresses of the test server: `ADDR:PORT`, `[V6ADDR]:PORT`, `localhost:PORT` or `:PORT`
// (all interfaces), parsed, resolved and printed by base/ like every other binary's.

// clang-format off
#include <utility>  // g++ 12 + Boost 1.74: before Boost.Asio
#include <boost/asio/ip/tcp.hpp>
// clang-format on
#include <string>
#include <string_view>

#include "lagscale/base/result.h"

namespace lagscale::testserver {

// The endpoint `text` names, or an error naming `flag` and the value.
base::Result<boost::asio::ip::tcp::endpoint> ParseListenAddress(const std::string& text,
                                                                std::string_view flag);

// The address a local client should dial to reach a socket bound to `endpoint`: the loopback
// address when bound to all interfaces. Formatted `host:port` (`[v6]:port`).
std::string DialAddress(const boost::asio::ip::tcp::endpoint& endpoint);

// `host:port` form of an endpoint for the gRPC builder.
std::string FormatEndpoint(const boost::asio::ip::tcp::endpoint& endpoint);

}  // namespace lagscale::testserver
