#include "lagscale/base/host_port.h"

#include <charconv>

namespace lagscale::base {

namespace {

// The port of "host:port": all digits, 0-65535.
bool ParsePort(std::string_view text, uint16_t& port) {
  unsigned value = 0;
  const char* end = text.data() + text.size();
  auto [stop, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || stop != end || value > 65535) return false;
  port = static_cast<uint16_t>(value);
  return true;
}

// The host of "host:port" without brackets; false for a bare IPv6 address or "[]".
bool ParseHost(std::string_view text, std::string& host) {
  if (!text.empty() && text.front() == '[') {
    if (text.size() < 3 || text.back() != ']') return false;
    text = text.substr(1, text.size() - 2);
  } else if (text.find(':') != std::string_view::npos) {
    return false;  // IPv6 needs brackets, else the port is ambiguous
  }
  host = std::string(text);
  return true;
}

}  // namespace

std::string HostPort::ToString() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

Result<HostPort> ParseHostPort(std::string_view text, std::string_view setting,
                               EmptyHost empty_host) {
  auto invalid = [&] {
    return Result<HostPort>::Error(std::string(setting) + ": invalid value \"" + std::string(text) +
                                   "\" (expected HOST:PORT)");
  };
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return invalid();
  HostPort address;
  if (!ParseHost(text.substr(0, colon), address.host)) return invalid();
  if (!ParsePort(text.substr(colon + 1), address.port)) return invalid();
  if (address.host.empty()) {
    if (empty_host == EmptyHost::kInvalid) return invalid();
    address.host = "0.0.0.0";
  }
  return Result<HostPort>::Ok(std::move(address));
}

HostPort Dialable(const HostPort& listen) {
  if (listen.host.empty() || listen.host == "0.0.0.0") return {"127.0.0.1", listen.port};
  if (listen.host == "::") return {"::1", listen.port};
  return listen;
}

}  // namespace lagscale::base
