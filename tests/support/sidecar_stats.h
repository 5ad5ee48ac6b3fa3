#pragma once

// Test support: a real lagscale-sidecar started in front of an upstream, and its /stats read back
// with the invariants every scenario ends on (nothing in flight, arrivals == completions).

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/process.h"

namespace lagscale::testing {

// The sidecar's /stats as JSON ({} if it cannot be read).
inline nlohmann::json Stats(const std::string& admin) {
  HttpResponse r = HttpGet(admin, "/stats");
  if (r.status != 200) return nlohmann::json::object();
  return nlohmann::json::parse(r.body, nullptr, false);
}

// Sums one counter over every model and the unattributed/overflow buckets.
inline uint64_t StatsTotal(const nlohmann::json& s, const std::string& key) {
  uint64_t total = 0;
  auto add = [&](const nlohmann::json& m) {
    if (key.rfind("outcomes.", 0) == 0) {
      total += m["outcomes"].value(key.substr(9), uint64_t{0});
    } else {
      total += m.value(key, uint64_t{0});
    }
  };
  if (s.contains("models")) {
    for (const auto& [name, m] : s["models"].items()) add(m);
  }
  if (s.contains("unattributed")) add(s["unattributed"]);
  if (s.contains("overflow")) add(s["overflow"]);
  return total;
}

// Waits until nothing is in flight and arrivals == completions (the sidecar may still be
// finishing a request the client already gave up on), then returns the snapshot.
inline nlohmann::json SettledStats(const std::string& admin) {
  nlohmann::json s;
  Eventually(
      [&] {
        s = Stats(admin);
        return !s.empty() && StatsTotal(s, "inflight") == 0 &&
               StatsTotal(s, "arrivals") == StatsTotal(s, "completions");
      },
      10s);
  EXPECT_EQ(StatsTotal(s, "inflight"), 0u) << s.dump();
  EXPECT_EQ(StatsTotal(s, "arrivals"), StatsTotal(s, "completions")) << s.dump();
  return s;
}

// A running lagscale-sidecar in front of `upstream`, with its real addresses.
struct SidecarProcess {
  std::unique_ptr<ChildProcess> process;
  std::string http, admin;
  bool ok() const { return process != nullptr; }
};
inline SidecarProcess StartSidecar(const std::string& upstream,
                                   const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = {
      "--listen",    "127.0.0.1:0",   "--upstream", upstream,    "--admin",
      "127.0.0.1:0", "--grpc-listen", "",           "--threads", "2"};
  args.insert(args.end(), extra.begin(), extra.end());
  std::map<std::string, std::string> addresses;
  SidecarProcess s;
  s.process = StartReady("lagscale-sidecar", args, addresses);
  s.http = addresses["http"];
  s.admin = addresses["admin"];
  return s;
}

// One model's counter in a /stats snapshot; 0 while the model has not been seen.
inline int64_t ModelValue(const nlohmann::json& stats, const std::string& model,
                          const std::string& key) {
  if (!stats.contains("models") || !stats["models"].contains(model)) return 0;
  return stats["models"][model].value(key, int64_t{0});
}

inline uint64_t Outcome(const nlohmann::json& stats, const std::string& outcome) {
  return StatsTotal(stats, "outcomes." + outcome);
}

}  // namespace lagscale::testing
