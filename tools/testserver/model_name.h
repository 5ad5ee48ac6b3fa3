#pragma once

// Model names arrive in untrusted URLs and gRPC messages: only names that could be a Kubernetes
// resource or a model repository entry are served.

#include <string_view>

namespace lagscale::testserver {

inline constexpr size_t kMaxModelNameBytes = 253;

inline bool ValidModelName(std::string_view name) {
  if (name.empty() || name.size() > kMaxModelNameBytes) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace lagscale::testserver
