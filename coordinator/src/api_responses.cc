#include "lagscale/coordinator/api_responses.h"

#include <algorithm>
#include <limits>

#include "json_input.h"

namespace lagscale::coordinator {
namespace {

using nlohmann::json;

// doc[key] as a non-negative int when it is an integer below 2^31; nullopt otherwise.
std::optional<int> SmallInt(const json& doc, const char* key) {
  if (!doc.is_object()) return std::nullopt;
  const auto it = doc.find(key);
  if (it == doc.end() || !it->is_number_integer()) return std::nullopt;
  if (it->is_number_unsigned()) {
    const auto v = it->get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int>::max())) return std::nullopt;
    return static_cast<int>(v);
  }
  const auto v = it->get<int64_t>();
  if (v < 0 || v > std::numeric_limits<int>::max()) return std::nullopt;
  return static_cast<int>(v);
}

json ParseObject(std::string_view body) {
  json doc = ParseUntrustedJson(body);
  return doc.is_object() ? doc : json();
}

}  // namespace

double ParseRetryAfter(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty()) return -1;
  double seconds = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return -1;
    seconds = std::min(seconds * 10 + (c - '0'), kMaxRetryAfterSeconds);
  }
  return seconds;
}

TargetReading ReadScaleTarget(std::string_view body) {
  TargetReading reading;
  const json doc = ParseObject(body);
  const auto spec = doc.is_object() ? doc.find("spec") : doc.end();
  if (!doc.is_object() || spec == doc.end() || !spec->is_object()) {
    reading.error = "unexpected object: no spec";
    return reading;
  }
  reading.ok = true;
  if (auto r = SmallInt(*spec, "replicas")) reading.replicas = *r;
  reading.min_replicas = SmallInt(*spec, "minReplicas");
  reading.max_replicas = SmallInt(*spec, "maxReplicas");
  return reading;
}

int ReadSpecReplicas(std::string_view body) {
  const json doc = ParseObject(body);
  if (!doc.is_object() || !doc.contains("spec")) return -1;
  return SmallInt(doc["spec"], "replicas").value_or(-1);
}

std::string ApiStatusMessage(std::string_view body) {
  const json doc = ParseObject(body);
  if (!doc.is_object()) return "";
  const auto it = doc.find("message");
  return it != doc.end() && it->is_string() ? it->get<std::string>() : "";
}

LeaseSpec ReadLeaseSpec(const json& lease) {
  LeaseSpec out;
  if (!lease.is_object()) return out;
  const auto spec = lease.find("spec");
  if (spec == lease.end() || !spec->is_object()) return out;
  if (auto it = spec->find("holderIdentity"); it != spec->end() && it->is_string()) {
    out.holder = it->get<std::string>();
  }
  out.duration_s = SmallInt(*spec, "leaseDurationSeconds").value_or(0);
  out.transitions = SmallInt(*spec, "leaseTransitions").value_or(0);
  if (auto it = spec->find("acquireTime"); it != spec->end() && it->is_string()) {
    out.acquire_time = *it;
  }
  return out;
}

}  // namespace lagscale::coordinator
