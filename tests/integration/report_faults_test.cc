// Faults on the report path with real processes: the coordinator SIGKILLed under load and
// restarted (no request through any sidecar fails, the picture is complete again as soon as the
// sidecars have reconnected, nothing is scaled down meanwhile), and a sidecar restarted (the
// coordinator sees the new incarnation and neither double-counts nor drops the pod's demand).
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/http_peers.h"
#include "support/metrics_text.h"
#include "support/process.h"
#include "support/scratch_dir.h"

namespace lagscale::testing {
namespace {

using nlohmann::json;

constexpr char kConfig[] = R"(reportTTL: 2s
decisionInterval: 100ms
windows: [2s]
defaults:
  minReplicas: 1
  maxReplicas: 50
  targetConcurrency: 0.05
  stableWindow: 2s
  panicWindow: 1s
  scaleDownDelay: 1s
  flapWindow: 1s
  maxScaleDownDelay: 1s
)";

// An upstream answering 200 after a few milliseconds, so requests are really in flight.
class SlowishUpstream {
 public:
  FakeUpstream server{[](FakeConn& c) {
    while (!c.ReadHead().empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      if (!c.Send(OkResponse("ok"))) return;
    }
  }};
};

// Client threads sending requests to whichever sidecar address `target` holds, counting results.
class Load {
 public:
  Load(std::vector<std::string> targets, int threads_per_target) : targets_(std::move(targets)) {
    for (size_t t = 0; t < targets_.size(); ++t) {
      for (int i = 0; i < threads_per_target; ++i) threads_.emplace_back([this, t] { Run(t); });
    }
  }
  ~Load() { Stop(); }
  void Stop() {
    stop_ = true;
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
  // Points target `t` elsewhere (a restarted sidecar); requests to it pause while `address` is "".
  // Returns once no request to the old address is still under way, so stopping that sidecar next
  // cannot cut one off.
  void Retarget(size_t t, const std::string& address) {
    std::unique_lock lock(mu_);
    targets_[t] = address;
    idle_.wait(lock, [&] { return busy_[t] == 0; });
  }
  uint64_t ok() const { return ok_.load(); }
  uint64_t failed() const { return failed_.load(); }
  std::string last_failure() {
    std::lock_guard lock(mu_);
    return last_failure_;
  }

 private:
  void Run(size_t t) {
    while (!stop_) {
      std::string address;
      {
        std::lock_guard lock(mu_);
        address = targets_[t];
        if (!address.empty()) ++busy_[t];
      }
      if (address.empty()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));  // paused: the test's pace
        continue;
      }
      const HttpResponse r = Http("POST", address, "/v2/models/iris/infer", "{}");
      {
        std::lock_guard lock(mu_);
        --busy_[t];
      }
      idle_.notify_all();
      if (r.status == 200) {
        ++ok_;
      } else {
        ++failed_;
        std::lock_guard lock(mu_);
        last_failure_ = std::to_string(r.status) + " " + r.error + " " + r.body;
      }
    }
  }
  std::mutex mu_;  // guards targets_, busy_ and last_failure_
  std::condition_variable idle_;
  std::vector<std::string> targets_;
  std::map<size_t, int> busy_;  // requests under way per target
  std::string last_failure_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> ok_{0}, failed_{0};
  std::vector<std::thread> threads_;
};

class ReportFaultsTest : public ::testing::Test {
 protected:
  void SetUp() override { std::ofstream(config_) << kConfig; }

  // Starts the coordinator on `grpc` ("127.0.0.1:0" the first time, then the same port).
  bool StartCoordinator(const std::string& grpc) {
    std::map<std::string, std::string> addresses;
    coordinator_ = StartReady(
        "lagscale-coordinator",
        {"--grpc-listen", grpc, "--http-listen", "127.0.0.1:0", "--config", config_}, addresses);
    grpc_ = addresses["grpc"];
    http_ = addresses["http"];
    return coordinator_ != nullptr;
  }
  SidecarProcess Sidecar(const std::string& pod) {
    return StartSidecar(upstream_.server.address(),
                        {"--coordinator", grpc_, "--report-interval", "200ms", "--server-name",
                         "srv", "--pod-name", pod});
  }
  json Status() {
    const HttpResponse r = HttpGet(http_, "/status");
    return r.status == 200 ? json::parse(r.body, nullptr, false) : json();
  }
  // The iris model as the coordinator sees it; null until it does.
  json Iris() {
    const json s = Status();
    if (!s.is_object()) return json();
    for (const auto& m : s["models"]) {
      if (m["name"] == "iris") return m;
    }
    return json();
  }
  // Reports a coordinator has acknowledged to a sidecar so far.
  static double Sent(const SidecarProcess& s) {
    return ScrapeValue(s.admin, "lagscale_reports_sent_total");
  }
  bool BothPodsHostIris() {
    const json m = Iris();
    return m.is_object() && m["pods"].size() == 2;
  }

  const ScratchDir dir_{"faults"};
  const std::string config_ = dir_.Path("config.yaml");
  std::string grpc_, http_;
  SlowishUpstream upstream_;
  std::unique_ptr<ChildProcess> coordinator_;
};

TEST_F(ReportFaultsTest, CoordinatorKilledUnderLoadLosesNoRequestAndScalesNothingDown) {
  ASSERT_TRUE(StartCoordinator("127.0.0.1:0"));
  SidecarProcess a = Sidecar("a"), b = Sidecar("b");
  ASSERT_TRUE(a.ok() && b.ok());
  Load load({a.http, b.http}, 3);
  ASSERT_TRUE(Eventually([&] { return BothPodsHostIris(); }, 20s)) << Status().dump();
  ASSERT_TRUE(Eventually([&] { return Iris()["desired_replicas"].get<int>() > 2; }, 20s))
      << Iris().dump();

  coordinator_->Signal(SIGKILL);
  coordinator_->Wait();
  const double sent_a = Sent(a), sent_b = Sent(b);
  {
    // The port is held until the new coordinator binds it: no parallel test can take it.
    RefusingPort held(grpc_);
    // The sidecars keep serving while the coordinator is away.
    const uint64_t ok_at_kill = load.ok();
    ASSERT_TRUE(Eventually([&] { return load.ok() > ok_at_kill + 50; }, 20s));
    ASSERT_TRUE(StartCoordinator(held.address()));
  }

  // Complete again within one report interval of both sidecars reconnecting (each reports at once
  // on connecting, then every 200 ms; /status is republished every 250 ms).
  ASSERT_TRUE(Eventually([&] { return Sent(a) > sent_a && Sent(b) > sent_b; }, 20s));
  const auto reconnected = std::chrono::steady_clock::now();
  ASSERT_TRUE(Eventually([&] { return BothPodsHostIris(); }, 20s)) << Status().dump();
  EXPECT_LE(std::chrono::steady_clock::now() - reconnected, 200ms + 250ms + 300ms);
  // Watch the decisions for a few report intervals after the restart: nothing goes down.
  const auto until = std::chrono::steady_clock::now() + 3s;
  while (std::chrono::steady_clock::now() < until) {
    EXPECT_EQ(ScrapeValue(http_, R"(lagscale_coordinator_decisions_total{direction="down"})"), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const json status = Status();  // a named value: iterating a temporary's member would dangle
  for (const auto& d : status["decisions"]) {
    EXPECT_GE(d["to"].get<int>(), d["from"].get<int>()) << d.dump();
  }
  load.Stop();
  EXPECT_EQ(load.failed(), 0u) << load.last_failure();
  EXPECT_GT(load.ok(), 0u);
}

TEST_F(ReportFaultsTest, RestartedSidecarIsSeenAsARestartAndItsDemandCountedOnce) {
  ASSERT_TRUE(StartCoordinator("127.0.0.1:0"));
  SidecarProcess a = Sidecar("a"), b = Sidecar("b");
  ASSERT_TRUE(a.ok() && b.ok());
  Load load({a.http, b.http}, 2);
  ASSERT_TRUE(Eventually([&] { return BothPodsHostIris(); }, 20s)) << Status().dump();

  load.Retarget(1, "");
  b.process->Signal(SIGTERM);
  ASSERT_TRUE(b.process->Wait(20s));
  b = Sidecar("b");  // same pod name, new incarnation, counters from zero
  ASSERT_TRUE(b.ok());
  load.Retarget(1, b.http);

  ASSERT_TRUE(Eventually([&] { return Status()["reports"]["restarts"].get<int>() >= 1; }, 20s))
      << Status().dump();
  // Still two pods hosting the model, not three (the old incarnation is replaced, not added).
  ASSERT_TRUE(Eventually([&] { return BothPodsHostIris(); }, 20s)) << Status().dump();
  EXPECT_EQ(Status()["pods"].size(), 2u);
  // The demand the coordinator sees is what the clients send, once: compare its arrival rate
  // with the clients' own over the same few seconds, once the restart has left the window.
  std::this_thread::sleep_for(3s);
  const uint64_t ok0 = load.ok() + load.failed();
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(2s);
  const double client_rate =
      static_cast<double>(load.ok() + load.failed() - ok0) /
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double seen = Iris()["arrival_rate"].get<double>();
  EXPECT_GT(seen, client_rate * 0.5) << "coordinator " << seen << "/s, clients " << client_rate;
  EXPECT_LT(seen, client_rate * 1.5) << "coordinator " << seen << "/s, clients " << client_rate;
  load.Stop();
  EXPECT_EQ(load.failed(), 0u) << load.last_failure();
}

}  // namespace
}  // namespace lagscale::testing
