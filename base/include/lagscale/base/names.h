#pragma once

// The names a sidecar and the coordinator exchange: model names (metric labels, /status keys) and
// the server and pod names that identify a reporting pod. Both sides apply the same rules, so a
// name the sidecar sends is never one the coordinator refuses.
// Thread safety: pure functions; safe from any thread.

#include <cstddef>
#include <string_view>

namespace lagscale::base {

// The longest model name accepted as a label.
inline constexpr size_t kMaxModelNameBytes = 128;

// True for names of the form [A-Za-z0-9][A-Za-z0-9._-]{0,127}. Anything else from the network is
// not trusted as a metric label.
bool IsValidModelName(std::string_view name);

// The longest server or pod name: a Kubernetes object name (DNS subdomain) or a host name.
inline constexpr size_t kMaxIdentityBytes = 253;

// True for names of the form [A-Za-z0-9._-]{1,253}: every Kubernetes pod or workload name and
// every host name, and never a '/' (the coordinator keys a pod by "server/pod").
bool IsValidIdentityName(std::string_view name);

}  // namespace lagscale::base
