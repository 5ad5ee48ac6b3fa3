#pragma once

// Listen addresses: `ADDR:PORT`, `[V6ADDR]:PORT`, `localhost:PORT` or `:PORT` (all interfaces).

// clang-format off
#include <utility>  // before any Boost.Asio header (g++ 12 + Boost 1.74)
// clang-format on
#include <boost/asio/ip/tcp.hpp>
#include <string>

namespace lagscale::testserver {

// Returns "" and the endpoint, or the problem with `text`.
std::string ParseListenAddress(const std::string& text, boost::asio::ip::tcp::endpoint* endpoint);

// The address a local client should dial to reach a socket bound to `endpoint`: the loopback
// address when bound to all interfaces. Formatted `host:port` (`[v6]:port`).
std::string DialAddress(const boost::asio::ip::tcp::endpoint& endpoint);

// `host:port` form of an endpoint for the gRPC builder.
std::string FormatEndpoint(const boost::asio::ip::tcp::endpoint& endpoint);

}  // namespace lagscale::testserver
