#pragma once

// Turning a HostPort into something Boost.Asio can use at start-up: ResolveTcp looks the host
// up (a name or an address) and ListenTcp opens, binds and listens an acceptor the way every
// server here does (SO_REUSEADDR, so a restart does not wait out TIME_WAIT).
// Thread safety: free functions; safe from any thread (ListenTcp only on an acceptor that no
// other thread uses yet). Both block: start-up only, never on the request path.

// clang-format off
#include <utility>  // g++ 12 + Boost 1.74: before Boost.Asio
#include <boost/asio/ip/tcp.hpp>
// clang-format on
#include <chrono>
#include <string>
#include <string_view>

#include "lagscale/base/host_port.h"
#include "lagscale/base/result.h"

namespace lagscale::base {

// The first endpoint `address` resolves to. The error names `setting` and the address:
// `cannot resolve --upstream host:80: Host not found`.
Result<boost::asio::ip::tcp::endpoint> ResolveTcp(const HostPort& address,
                                                  std::string_view setting);

// Resolves `address`, then opens, binds and listens `acceptor` on it. Returns the bound port
// (the OS's choice when address.port is 0). The error names `setting` and the address:
// `cannot listen on --admin 0.0.0.0:9090: Address already in use`.
Result<uint16_t> ListenTcp(boost::asio::ip::tcp::acceptor& acceptor, const HostPort& address,
                           std::string_view setting);

// Why `listen` ("host:port", as flag `setting` gave it) cannot be bound, for a start-up error
// where a library (gRPC) only says that it failed: a bind of our own, without SO_REUSEPORT, finds
// the reason ("Address already in use").
std::string BindError(std::string_view listen, std::string_view setting);

// How long a listener waits after an accept failed for want of descriptors or memory. The
// connection stays queued and the listener readable, so accepting again at once would spin a core
// exactly when the process is in trouble; the queued connection is taken once resources are free.
inline constexpr std::chrono::milliseconds kAcceptErrorPause{100};

// The HostPort naming `endpoint` (an IPv6 address without brackets; ToString() adds them).
HostPort ToHostPort(const boost::asio::ip::tcp::endpoint& endpoint);

}  // namespace lagscale::base
