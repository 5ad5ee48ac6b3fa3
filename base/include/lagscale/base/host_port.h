#pragma once

// HostPort: a "host:port" address as flags spell it, parsed and printed in one place. The host
// is a name, an IPv4 address or an IPv6 address in brackets ("[::1]:80"); the port is 0-65535
// (0: the OS picks one when listening). Also the answer to "which address do I dial to reach a
// server listening on a wildcard address" (Dialable).
// Thread safety: plain values and pure functions; safe from any thread.

#include <cstdint>
#include <string>
#include <string_view>

#include "lagscale/base/result.h"

namespace lagscale::base {

struct HostPort {
  std::string host;  // without brackets; empty only for a wildcard listen address
  uint16_t port = 0;

  // "host:port", with brackets around an IPv6 host: the inverse of ParseHostPort.
  std::string ToString() const;
  bool operator==(const HostPort&) const = default;
};

// What an empty host means.
enum class EmptyHost {
  kInvalid,   // ":80" is an error (an address to dial, or a listen flag that wants a host)
  kWildcard,  // ":80" listens on every IPv4 interface: host becomes "0.0.0.0"
};

// Parses "host:port" or "[v6]:port". An IPv6 host needs brackets. The error names `setting` and
// the value: `--listen: invalid value "x" (expected HOST:PORT)`.
Result<HostPort> ParseHostPort(std::string_view text, std::string_view setting = "address",
                               EmptyHost empty_host = EmptyHost::kInvalid);

// The address to dial to reach a server listening on `listen`: a wildcard host is reachable on
// loopback, "0.0.0.0" or empty as 127.0.0.1 and "::" as ::1; any other host is itself.
HostPort Dialable(const HostPort& listen);

}  // namespace lagscale::base
