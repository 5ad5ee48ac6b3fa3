// Soak (label "soak", not in the default run): a million requests through the real sidecar over
// keep-alive connections, with clients aborting at random and the upstream resetting connections
// at random; at the end the ledger agrees exactly with the clients' own count, outcome by outcome.
// LAGSCALE_SOAK_REQUESTS overrides the number of requests.
#include <sys/socket.h>

#include <atomic>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/http_peers.h"
#include "support/process.h"

namespace lagscale::testing {
namespace {

struct Tally {
  std::atomic<uint64_t> sent{0}, ok{0}, bad_gateway{0}, aborted{0}, other{0};
};

void Client(const std::string& address, uint64_t requests, uint32_t seed, Tally& tally) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dice(0, 999);
  auto client = std::make_unique<RawClient>(address);
  for (uint64_t i = 0; i < requests; ++i) {
    const int roll = dice(rng);
    const char* fate = roll < 3 ? "abort" : roll < 6 ? "reset" : "ok";
    const std::string model = "m" + std::to_string(roll % 8);
    if (!client->Send("POST /v2/models/" + model + "/infer HTTP/1.1\r\nHost: soak\r\nX-Fate: " +
                      fate + "\r\nContent-Length: 2\r\n\r\n{}")) {
      ++tally.other;  // counted as sent below only when the bytes left
      client = std::make_unique<RawClient>(address);
      continue;
    }
    ++tally.sent;
    if (fate[0] == 'a') {
      ++tally.aborted;
      client = std::make_unique<RawClient>(address);  // closes the old connection mid-request
      continue;
    }
    RawResponse r = client->Read();
    if (r.status == 200) {
      ++tally.ok;
    } else if (r.status == 502) {
      ++tally.bad_gateway;
    } else {
      ++tally.other;
    }
    if (!r.keep_alive) client = std::make_unique<RawClient>(address);
  }
}

TEST(HttpSoak, MillionRequestsWithAbortsAndResetsLeaveNoDrift) {
  uint64_t total = 1'000'000;
  if (const char* env = std::getenv("LAGSCALE_SOAK_REQUESTS")) total = std::stoull(env);
  FakeUpstream upstream(FatedUpstream);
  SidecarProcess sidecar = StartSidecar(upstream.address(), {"--threads", "2"});
  ASSERT_TRUE(sidecar.ok());
  constexpr int kClients = 8;
  Tally tally;
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back(Client, sidecar.http, total / kClients, 1234u + i, std::ref(tally));
  }
  for (auto& t : clients) t.join();

  auto stats = SettledStats(sidecar.admin);
  EXPECT_EQ(tally.other.load(), 0u);
  EXPECT_EQ(StatsTotal(stats, "arrivals"), tally.sent.load());
  EXPECT_EQ(StatsTotal(stats, "completions"), tally.sent.load());
  EXPECT_EQ(Outcome(stats, "success"), tally.ok.load());
  EXPECT_EQ(Outcome(stats, "upstream_error"), tally.bad_gateway.load());
  EXPECT_EQ(Outcome(stats, "client_abort"), tally.aborted.load());
  EXPECT_EQ(Outcome(stats, "timeout") + Outcome(stats, "server_error") +
                Outcome(stats, "client_error"),
            0u);
  EXPECT_GT(tally.aborted.load(), 0u);
  EXPECT_GT(tally.bad_gateway.load(), 0u);
  std::printf("soak: %lu sent, %lu ok, %lu 502, %lu aborted\n",
              static_cast<unsigned long>(tally.sent.load()),
              static_cast<unsigned long>(tally.ok.load()),
              static_cast<unsigned long>(tally.bad_gateway.load()),
              static_cast<unsigned long>(tally.aborted.load()));
}

}  // namespace
}  // namespace lagscale::testing
