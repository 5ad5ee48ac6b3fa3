// History documents: one array per series, oldest second first, null where a second has no data.
#include "lagscale/coordinator/history_json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>
#include <string_view>

namespace lagscale::coordinator {
namespace {

using nlohmann::json;

// Three decimals: floats printed as doubles would show their binary noise (0.30000001192092896).
json Value(float v) {
  return std::isfinite(v) ? json(std::round(static_cast<double>(v) * 1000) / 1000) : json(nullptr);
}
json Replicas(uint16_t v) { return v == HistorySample::kUnknownReplicas ? json(nullptr) : json(v); }

HttpReply Error(int status, const std::string& message) {
  return HttpReply{status, "application/json", json{{"error", message}}.dump()};
}

// `seconds=N` from a query string; kHistorySeconds when absent, nullopt when malformed.
std::optional<int> SecondsParam(const std::string& query) {
  size_t at = 0;
  while (at < query.size()) {
    const size_t end = std::min(query.find('&', at), query.size());
    const std::string_view part(query.data() + at, end - at);
    if (part.rfind("seconds=", 0) == 0) {
      const std::string_view v = part.substr(8);
      int n = 0;
      const auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc() || ptr != v.data() + v.size() || n < 1 || n > kHistorySeconds)
        return std::nullopt;
      return n;
    }
    at = end + 1;
  }
  return kHistorySeconds;
}

}  // namespace

std::string HistoryJson(const std::string& kind, const std::string& name, const HistoryCopy& copy,
                        const HistoryStore& store) {
  json inflight = json::array(), concurrency = json::array(), arrivals = json::array(),
       tokens = json::array(), desired = json::array(), current = json::array();
  bool any_tokens = false;
  for (const HistorySample& s : copy.samples) {
    inflight.push_back(Value(s.inflight));
    concurrency.push_back(Value(s.concurrency));
    arrivals.push_back(Value(s.arrivals_per_s));
    tokens.push_back(Value(s.tokens_per_s));
    any_tokens = any_tokens || std::isfinite(s.tokens_per_s);
    desired.push_back(Replicas(s.desired));
    current.push_back(Replicas(s.current));
  }
  json series = {{"inflight", inflight},
                 {"concurrency", concurrency},
                 {"arrivals_per_s", arrivals},
                 {"desired_replicas", desired},
                 {"current_replicas", current}};
  if (any_tokens) series["tokens_per_s"] = tokens;
  json decisions = json::array();
  for (const auto& d : copy.decisions) {
    decisions.push_back(json{
        {"time_unix_ms", d.time_unix_ms}, {"from", d.from}, {"to", d.to}, {"reason", d.reason}});
  }
  const int64_t n = static_cast<int64_t>(copy.samples.size());
  return json{{"kind", kind},
              {"name", name},
              {"interval_seconds", 1},
              {"start_unix_ms", (copy.end_unix_s - n + 1) * 1000},
              {"end_unix_ms", copy.end_unix_s * 1000},
              {"series", series},
              {"decisions", decisions},
              {"store",
               {{"tracked", store.tracked()},
                {"capacity", store.capacity()},
                {"bytes_per_series", HistoryStore::BytesPerSeries()}}}}
      .dump();
}

std::optional<HttpReply> HistoryRoute(const HistoryStore& models, const HistoryStore& servers,
                                      const std::string& path, const std::string& query) {
  static const std::string kSuffix = "/history";
  if (path.size() <= kSuffix.size() ||
      path.compare(path.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0) {
    return std::nullopt;
  }
  const std::string head = path.substr(0, path.size() - kSuffix.size());
  std::string kind, name;
  for (const auto& [prefix, k] : {std::pair<std::string, std::string>{"/status/models/", "model"},
                                  {"/status/servers/", "server"}}) {
    if (head.rfind(prefix, 0) == 0 && head.size() > prefix.size()) {
      kind = k;
      name = head.substr(prefix.size());
    }
  }
  if (kind.empty()) return std::nullopt;
  const auto seconds = SecondsParam(query);
  if (!seconds) return Error(400, "seconds must be an integer from 1 to 900");
  const HistoryStore& store = kind == "model" ? models : servers;
  const auto copy = store.Read(name, *seconds);
  if (!copy) return Error(404, "no history for this " + kind);
  return HttpReply{200, "application/json", HistoryJson(kind, name, *copy, store)};
}

}  // namespace lagscale::coordinator
