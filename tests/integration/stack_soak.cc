// Soak of the whole stack (label "soak", not in the default run): two real sidecars, each with an
// HTTP and a gRPC listener, report to a real coordinator while a real Prometheus scrapes them.
// Clients send mixed REST and gRPC traffic for LAGSCALE_SOAK_SECONDS (default 1800) at
// LAGSCALE_SOAK_RATE requests and calls per second (default 3000; 0: unpaced): REST requests
// that succeed, that the upstream resets before answering, or that the client abandons; gRPC calls
// that succeed, that the upstream fails, or that the client cancels. Halfway through, the
// coordinator is SIGKILLed and restarted on its port. At the end every count agrees exactly: the
// clients' own, each sidecar's ledger, Prometheus's view of the sidecars, and the coordinator's;
// the sidecars' RSS, sampled every minute (or six times in a shorter run), stays flat.
//
//   scripts/soak.sh [SECONDS]    builds the test tree and runs this soak (docs: README "Soak")
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "inference/grpc_service.grpc.pb.h"
#include "support/grpc_upstream.h"
#include "support/http_peers.h"
#include "support/process.h"
#include "support/prometheus.h"
#include "support/scratch_dir.h"

namespace lagscale::testing {
namespace {

using nlohmann::json;

constexpr std::array<const char*, 4> kModels = {"llama", "bert", "iris", "resnet"};
constexpr char kCoordinatorConfig[] = R"(reportTTL: 5s
decisionInterval: 200ms
windows: [2s]
defaults:
  minReplicas: 1
  maxReplicas: 20
  targetConcurrency: 1
)";

// What the clients themselves saw, per model and outcome name (the sidecars' outcome names).
class Tally {
 public:
  void Add(const std::string& model, const std::string& outcome) {
    std::lock_guard lock(mu_);
    ++counts_[model][outcome];
  }
  std::map<std::string, std::map<std::string, uint64_t>> counts() {
    std::lock_guard lock(mu_);
    return counts_;
  }
  uint64_t Sent(const std::string& model) {
    const auto all = counts();  // a named copy: iterating a temporary's element would dangle
    uint64_t n = 0;
    if (auto it = all.find(model); it != all.end()) {
      for (const auto& [outcome, c] : it->second) n += c;
    }
    return n;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::map<std::string, uint64_t>> counts_;  // guarded by mu_
};

// Spaces a client's requests `gap` apart (the soak's pace, not a synchronisation); a zero gap
// sends back to back.
class Pace {
 public:
  explicit Pace(std::chrono::microseconds gap) : gap_(gap) {}
  void Next() {
    if (gap_.count() == 0) return;
    next_ += gap_;
    std::this_thread::sleep_until(next_);
  }

 private:
  std::chrono::microseconds gap_;
  std::chrono::steady_clock::time_point next_ = std::chrono::steady_clock::now();
};

// One REST client: keep-alive requests to one sidecar; about 1 % reset by the upstream and 1 %
// abandoned by the client mid-request.
void RestClient(const std::string& address, uint32_t seed, std::chrono::microseconds gap,
                const std::atomic<bool>& stop, Tally& tally) {
  Pace pace(gap);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dice(0, 999);
  auto client = std::make_unique<RawClient>(address);
  while (!stop) {
    pace.Next();
    const int roll = dice(rng);
    const char* fate = roll < 10 ? "abort" : roll < 20 ? "reset" : "ok";
    const std::string model = kModels[static_cast<size_t>(roll) % kModels.size()];
    if (!client->Send("POST /v2/models/" + model + "/infer HTTP/1.1\r\nHost: soak\r\nX-Fate: " +
                      fate + "\r\nContent-Length: 2\r\n\r\n{}")) {
      tally.Add(model, "client_send_failed");  // never expected: fails the comparison
      client = std::make_unique<RawClient>(address);
      continue;
    }
    if (fate[0] == 'a') {
      tally.Add(model, "client_abort");
      client = std::make_unique<RawClient>(address);  // closes the old connection mid-request
      continue;
    }
    const RawResponse r = client->Read();
    tally.Add(model, r.status == 200   ? "success"
                     : r.status == 502 ? "upstream_error"
                                       : "unexpected_" + std::to_string(r.status));
    if (!r.keep_alive) client = std::make_unique<RawClient>(address);
  }
}

// One gRPC client: ModelInfer calls to one sidecar; about 2 % failed by the upstream (INTERNAL)
// and 2 % cancelled by the client once the upstream has the call.
void GrpcClient(const std::string& address, GrpcUpstream& upstream, uint32_t seed,
                std::chrono::microseconds gap, const std::atomic<bool>& stop, Tally& tally) {
  Pace pace(gap);
  auto stub = inference::GRPCInferenceService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dice(0, 999);
  uint64_t n = 0;
  while (!stop) {
    pace.Next();
    const int roll = dice(rng);
    inference::ModelInferRequest req;
    const std::string model = kModels[static_cast<size_t>(roll / 7) % kModels.size()];
    req.set_model_name(model);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 60s);
    inference::ModelInferResponse resp;
    if (roll < 20) {
      req.set_id("cancel-" + std::to_string(seed) + "-" + std::to_string(++n));
      ctx.AddMetadata("x-delay-ms", "60000");
      std::mutex mu;
      std::condition_variable cv;
      bool done = false;
      grpc::Status status;
      stub->async()->ModelInfer(&ctx, &req, &resp, [&](grpc::Status s) {
        std::lock_guard lock(mu);
        status = std::move(s);
        done = true;
        cv.notify_one();
      });
      // Cancelled only once the upstream has it, so the sidecar has certainly counted the call.
      Eventually([&] { return upstream.Saw(req.id()); }, 30s);
      ctx.TryCancel();
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return done; });
      tally.Add(model, status.error_code() == grpc::StatusCode::CANCELLED
                           ? "client_abort"
                           : "unexpected_grpc_" + std::to_string(status.error_code()));
      continue;
    }
    if (roll < 40) ctx.AddMetadata("x-status", "13");
    const grpc::Status status = stub->ModelInfer(&ctx, req, &resp);
    tally.Add(model, status.ok()                                           ? "success"
                     : status.error_code() == grpc::StatusCode::INTERNAL ? "server_error"
                                       : "unexpected_grpc_" + std::to_string(status.error_code()));
  }
}

struct Sidecar {
  std::unique_ptr<ChildProcess> process;
  std::map<std::string, std::string> addresses;  // http, grpc, admin
};

// The sidecar's own ledger: model -> outcome -> count, plus "arrivals" and "inflight".
std::map<std::string, std::map<std::string, uint64_t>> Ledger(const json& stats) {
  std::map<std::string, std::map<std::string, uint64_t>> out;
  if (!stats.contains("models")) return out;
  for (const auto& [model, m] : stats["models"].items()) {
    for (const auto& [outcome, n] : m["outcomes"].items()) {
      if (n.get<uint64_t>() > 0) out[model][outcome] = n.get<uint64_t>();
    }
  }
  return out;
}

class StackSoak : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* env = std::getenv("LAGSCALE_SOAK_SECONDS")) seconds_ = std::atoi(env);
    ASSERT_GE(seconds_, 12) << "LAGSCALE_SOAK_SECONDS";
    if (const char* env = std::getenv("LAGSCALE_SOAK_RATE")) rate_ = std::atoi(env);
    ASSERT_GE(rate_, 0) << "LAGSCALE_SOAK_RATE";
    std::ofstream(config_) << kCoordinatorConfig;
  }

  bool StartCoordinator(const std::string& grpc_listen) {
    std::map<std::string, std::string> addresses;
    coordinator_ = StartReady("lagscale-coordinator",
                              {"--grpc-listen", grpc_listen, "--http-listen", "127.0.0.1:0",
                               "--config", config_, "--log-level", "warn"},
                              addresses);
    coordinator_grpc_ = addresses["grpc"];
    coordinator_http_ = addresses["http"];
    return coordinator_ != nullptr;
  }
  Sidecar StartSidecarPod(const std::string& pod) {
    Sidecar s;
    s.process = StartReady(
        "lagscale-sidecar",
        {"--listen", "127.0.0.1:0", "--upstream", rest_upstream_.address(), "--admin",
         "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0", "--grpc-upstream",
         grpc_upstream_.address(), "--threads", "2", "--server-name", "soak", "--pod-name", pod,
         "--coordinator", coordinator_grpc_, "--report-interval", "200ms"},
        s.addresses);
    return s;
  }
  json Status() {
    const HttpResponse r = HttpGet(coordinator_http_, "/status");
    return r.status == 200 ? json::parse(r.body, nullptr, false) : json();
  }

  int seconds_ = 1800;
  int rate_ = 3000;  // requests and calls per second over all clients; 0 = as fast as they go
  // The gap between one client's requests for the whole load to come to rate_.
  std::chrono::microseconds Gap(int clients) const {
    return std::chrono::microseconds(rate_ == 0 ? 0 : 1'000'000LL * clients / rate_);
  }
  const ScratchDir dir_{"soak"};
  const std::string config_ = dir_.Path("config.yaml");
  std::string coordinator_grpc_, coordinator_http_;
  FakeUpstream rest_upstream_{FatedUpstream};
  GrpcUpstream grpc_upstream_;
  std::unique_ptr<ChildProcess> coordinator_;
};

TEST_F(StackSoak, MixedTrafficWithFaultsEndsWithNoDriftAnywhereAndFlatMemory) {
  ASSERT_TRUE(StartCoordinator("127.0.0.1:0"));
  std::vector<Sidecar> sidecars;
  for (const char* pod : {"soak-a", "soak-b"}) {
    sidecars.push_back(StartSidecarPod(pod));
    ASSERT_NE(sidecars.back().process, nullptr);
  }
  const auto prometheus = Prometheus::Start(
      {sidecars[0].addresses["admin"], sidecars[1].addresses["admin"]});
  ASSERT_NE(prometheus, nullptr);

  Tally tally;
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (uint32_t i = 0; i < 4; ++i) {
    clients.emplace_back(RestClient, sidecars[i % 2].addresses["http"], 100 + i, Gap(6),
                         std::cref(stop), std::ref(tally));
  }
  for (uint32_t i = 0; i < 2; ++i) {
    clients.emplace_back(GrpcClient, sidecars[i % 2].addresses["grpc"], std::ref(grpc_upstream_),
                         200 + i, Gap(6), std::cref(stop), std::ref(tally));
  }

  // Run, sampling RSS; halfway through, the coordinator is killed and restarted on its port.
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::seconds(seconds_);
  const auto sample_every = std::min<std::chrono::seconds>(60s, std::chrono::seconds(seconds_ / 6));
  std::vector<std::array<long, 2>> rss;  // KiB per sample, per sidecar
  bool restarted = false;
  for (auto next = start + sample_every; next <= end; next += sample_every) {
    std::this_thread::sleep_until(next);  // the soak's pace, not a synchronisation
    rss.push_back({RssKiB(sidecars[0].process->pid()), RssKiB(sidecars[1].process->pid())});
    const auto t = std::chrono::duration_cast<std::chrono::seconds>(next - start).count();
    std::printf("soak t=%llds rss soak-a=%ld KiB soak-b=%ld KiB, coordinator=%ld KiB\n",
                static_cast<long long>(t), rss.back()[0], rss.back()[1],
                RssKiB(coordinator_->pid()));
    std::fflush(stdout);
    if (!restarted && next >= start + std::chrono::seconds(seconds_ / 2)) {
      coordinator_->Signal(SIGKILL);
      coordinator_->Wait();
      // Held until the new coordinator binds it: no other process can take the port meanwhile.
      RefusingPort held(coordinator_grpc_);
      ASSERT_TRUE(StartCoordinator(held.address()));
      restarted = true;
    }
  }
  stop = true;
  for (auto& t : clients) t.join();
  ASSERT_TRUE(restarted);

  // 1. Each sidecar's ledger settles (nothing in flight); summed, it is what the clients saw.
  const auto seen = tally.counts();
  std::map<std::string, std::map<std::string, uint64_t>> ledgers;
  for (const Sidecar& s : sidecars) {
    for (const auto& [model, outcomes] : Ledger(SettledStats(s.addresses.at("admin")))) {
      for (const auto& [outcome, n] : outcomes) ledgers[model][outcome] += n;
    }
  }
  EXPECT_EQ(ledgers, seen);
  for (const auto& model : kModels) {
    for (const char* outcome : {"success", "upstream_error", "client_abort", "server_error"}) {
      EXPECT_GT(seen.count(model) ? seen.at(model).count(outcome) : 0u, 0u)
          << model << " never saw " << outcome;
    }
  }

  // 2. Prometheus's latest scrape of both sidecars says the same, outcome by outcome.
  for (const auto& [model, outcomes] : seen) {
    for (const auto& [outcome, n] : outcomes) {
      const std::string q = "sum(lagscale_model_completions_total{model=\"" + model +
                            "\",outcome=\"" + outcome + "\"})";
      EXPECT_TRUE(Eventually([&] { return prometheus->Query(q) == static_cast<double>(n); }, 20s))
          << q << " = " << prometheus->Query(q) << ", clients saw " << n;
    }
    const std::string inflight = "sum(lagscale_model_inflight_requests{model=\"" + model + "\"})";
    EXPECT_TRUE(Eventually([&] { return prometheus->Query(inflight) == 0; }, 20s)) << inflight;
  }

  // 3. The restarted coordinator's picture: the same totals, nothing in flight.
  for (const auto& model : kModels) {
    const uint64_t sent = tally.Sent(model);
    json m;
    EXPECT_TRUE(Eventually(
        [&] {
          const json status = Status();  // named: a temporary's member would dangle
          for (const auto& candidate : status["models"]) {
            if (candidate["name"] == model) m = candidate;
          }
          return m.is_object() && m["arrivals_total"] == sent && m["completions_total"] == sent &&
                 m["inflight"] == 0;
        },
        20s))
        << model << ": clients sent " << sent << ", coordinator " << m.dump();
  }

  // 4. Memory: after the first sample (warm-up), no sidecar grows by more than 10 % + 4 MiB.
  ASSERT_GE(rss.size(), 3u);
  for (size_t s = 0; s < 2; ++s) {
    long peak = 0;
    for (size_t i = 1; i < rss.size(); ++i) peak = std::max(peak, rss[i][s]);
    EXPECT_LE(peak, rss[1][s] * 11 / 10 + 4096)
        << "sidecar " << s << " grew from " << rss[1][s] << " KiB to " << peak << " KiB";
  }
  uint64_t total = 0;
  for (const auto& model : kModels) total += tally.Sent(model);
  std::printf("soak: %d s, %llu requests and calls, coordinator restarted once, no drift\n",
              seconds_, static_cast<unsigned long long>(total));
}

}  // namespace
}  // namespace lagscale::testing
