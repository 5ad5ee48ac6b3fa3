#include "lagscale/scaler_client/reporter.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "lagscale/v1/lag.grpc.pb.h"
#include "support/fake_coordinator.h"
#include "support/loopback.h"
#include "support/process.h"

namespace lagscale::scaler_client {
namespace {

using namespace std::chrono_literals;
using lagscale::v1::PodReport;
using metrics::Outcome;
using testing::Eventually;
using testing::FakeCoordinator;

const lagscale::v1::ModelCounters* Model(const PodReport& r, const std::string& name) {
  for (const auto& m : r.models()) {
    if (m.model() == name) return &m;
  }
  return nullptr;
}

// The first report (in arrival order) whose model `name` has `arrivals` arrivals.
const PodReport* FindReportWith(const FakeCoordinator::Log& log, const std::string& name,
                                uint64_t arrivals) {
  for (const auto& r : log.received) {
    const auto* m = Model(r.report, name);
    if (m && m->arrivals() == arrivals) return &r.report;
  }
  return nullptr;
}

// Waits up to `limit` for the first report whose model `name` has `arrivals` arrivals.
std::optional<PodReport> ReportWith(FakeCoordinator& c, const std::string& name, uint64_t arrivals,
                                    std::chrono::milliseconds limit = 5000ms) {
  std::optional<PodReport> found;
  c.WaitFor(
      [&](const FakeCoordinator::Log& log) {
        if (const PodReport* r = FindReportWith(log, name, arrivals)) found = *r;
        return found.has_value();
      },
      limit);
  return found;
}

class ReporterTest : public ::testing::Test {
 protected:
  ReporterTest() : table_(10), ledger_(table_, 1), counters_(1) {}

  ReporterOptions Options(const std::string& coordinator) {
    ReporterOptions o;
    o.coordinator = coordinator;
    o.server_name = "mlserver";
    o.pod_name = "mlserver-0";
    o.interval = 100ms;
    o.poll_interval = 10ms;
    o.backoff_initial = 20ms;
    o.backoff_max = 200ms;
    o.seed = 42;
    return o;
  }

  // Requests on the test thread, which owns shard 0.
  void Serve(const std::string& model, int n, Outcome outcome = Outcome::kSuccess) {
    for (int i = 0; i < n; ++i) ledger_.shard(0).Begin(table_.Resolve(model)).End(outcome);
  }

  metrics::ModelTable table_;
  metrics::Ledger ledger_;
  metrics::ServerCounters counters_;
};

TEST_F(ReporterTest, ReportsCarryCumulativeCountersWithIncreasingSequence) {
  FakeCoordinator coordinator;
  Reporter reporter(Options(coordinator.address()), ledger_, counters_);
  reporter.Start();
  Serve("iris", 3);
  Serve("iris", 1, Outcome::kServerError);
  auto first = ReportWith(coordinator, "iris", 4);
  ASSERT_TRUE(first);
  Serve("iris", 2);
  auto second = ReportWith(coordinator, "iris", 6);
  ASSERT_TRUE(second);
  reporter.Stop();

  EXPECT_EQ(first->server(), "mlserver");
  EXPECT_EQ(first->pod(), "mlserver-0");
  EXPECT_EQ(first->incarnation(), reporter.incarnation());
  const auto* m = Model(*second, "iris");
  EXPECT_EQ(m->outcomes().success(), 5u);
  EXPECT_EQ(m->outcomes().server_error(), 1u);
  EXPECT_EQ(m->inflight(), 0);
  EXPECT_GT(m->last_request_unix_ms(), 1'700'000'000'000);
  EXPECT_GT(second->snapshot_monotonic_ns(), first->snapshot_monotonic_ns());
  auto all = coordinator.reports();
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].sequence(), i + 1);
    EXPECT_EQ(all[i].incarnation(), reporter.incarnation());
  }
  // Sent = acknowledged: every report but perhaps the last, whose ack may still be on its way.
  EXPECT_LE(counters_.reports_sent().load(), all.size());
  EXPECT_GE(counters_.reports_sent().load() + 1, all.size());
  EXPECT_EQ(counters_.report_failures().load(), 0u);
}

TEST_F(ReporterTest, LlmModelsCarryTokensAndTimeToFirstByteOthersStaySmall) {
  FakeCoordinator coordinator;
  Reporter reporter(Options(coordinator.address()), ledger_, counters_);
  reporter.Start();
  Serve("iris", 1);
  for (int i = 0; i < 3; ++i) {
    auto guard = ledger_.shard(0).Begin(table_.Resolve("llama"));
    // The answers began 20 ms, 20 ms and 2 s before now.
    guard.RecordFirstByte(ledger_.shard(0).NowNs() - (i == 2 ? 2'000'000'000 : 20'000'000));
    guard.AddTokens(100, 7);
    guard.End(Outcome::kSuccess);
  }
  auto report = ReportWith(coordinator, "llama", 3);
  ASSERT_TRUE(report);
  reporter.Stop();

  const auto* llm = Model(*report, "llama");
  EXPECT_EQ(llm->prompt_tokens(), 300u);
  EXPECT_EQ(llm->completion_tokens(), 21u);
  const auto& ttfb = llm->time_to_first_byte();
  ASSERT_EQ(ttfb.upper_bounds_seconds_size(),
            static_cast<int>(metrics::kLatencyBucketBounds.size()));
  ASSERT_EQ(ttfb.counts_size(), ttfb.upper_bounds_seconds_size() + 1);
  uint64_t total = 0, at_most_25ms = 0;
  for (int i = 0; i < ttfb.counts_size(); ++i) {
    total += ttfb.counts(i);
    if (i < ttfb.upper_bounds_seconds_size() && ttfb.upper_bounds_seconds(i) <= 0.025) {
      at_most_25ms += ttfb.counts(i);
    }
  }
  EXPECT_EQ(total, 3u);
  EXPECT_EQ(at_most_25ms, 2u);
  EXPECT_NEAR(ttfb.sum_seconds(), 2.04, 0.004);
  const auto* plain = Model(*report, "iris");
  ASSERT_NE(plain, nullptr);
  EXPECT_FALSE(plain->has_time_to_first_byte());
  EXPECT_EQ(plain->completion_tokens(), 0u);
}

TEST_F(ReporterTest, ReconnectsAfterTheCoordinatorRestartsAndCountersContinue) {
  FakeCoordinator coordinator;
  const int port = coordinator.port();
  Reporter reporter(Options(coordinator.address()), ledger_, counters_);
  reporter.Start();
  Serve("iris", 2);
  auto before = ReportWith(coordinator, "iris", 2);
  ASSERT_TRUE(before);

  coordinator.Stop();
  Serve("iris", 3);  // the pod keeps serving while the coordinator is away
  ASSERT_TRUE(Eventually(
      [&] { return counters_.report_failures().load() >= 2 && !reporter.connected(); }, 5000ms));

  coordinator.Restart();
  ASSERT_EQ(coordinator.port(), port);
  auto after = ReportWith(coordinator, "iris", 5);
  ASSERT_TRUE(after) << "no report after the restart";
  EXPECT_EQ(after->incarnation(), before->incarnation());
  EXPECT_GT(after->sequence(), before->sequence());
  EXPECT_EQ(Model(*after, "iris")->outcomes().success(), 5u);
  EXPECT_TRUE(reporter.connected());
}

TEST_F(ReporterTest, BearerTokenFromFileIsPresented) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("lagscale-reporter-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto file = (dir / "token").string();
  std::ofstream(file) << "s3cret\n";

  FakeCoordinator coordinator("s3cret");
  auto options = Options(coordinator.address());
  options.token_file = file;
  Reporter reporter(options, ledger_, counters_);
  reporter.Start();
  Serve("iris", 1);
  EXPECT_TRUE(ReportWith(coordinator, "iris", 1));
  reporter.Stop();

  std::ofstream(file) << "wrong";
  metrics::ServerCounters counters(1);
  Reporter impostor(options, ledger_, counters);
  impostor.Start();
  const size_t accepted = coordinator.reports().size();
  EXPECT_TRUE(coordinator.WaitFor([](const FakeCoordinator::Log& log) { return log.rejected >= 2; },
                                  5000ms));
  EXPECT_TRUE(Eventually([&] { return counters.report_failures().load() >= 2; }, 5000ms));
  impostor.Stop();
  EXPECT_EQ(coordinator.reports().size(), accepted);
  std::filesystem::remove_all(dir);
}

TEST_F(ReporterTest, InflightBurstIsReportedEarlyWellBeforeTheInterval) {
  FakeCoordinator coordinator;
  auto options = Options(coordinator.address());
  options.interval = 10s;
  options.early_threshold = 5;
  Reporter reporter(options, ledger_, counters_);
  reporter.Start();
  // The first report goes out on connect.
  ASSERT_TRUE(coordinator.WaitFor(
      [](const FakeCoordinator::Log& log) { return !log.received.empty(); }, 5000ms));
  const auto burst = std::chrono::steady_clock::now();
  std::vector<metrics::RequestGuard> inflight;
  for (int i = 0; i < 6; ++i) inflight.push_back(ledger_.shard(0).Begin(table_.Resolve("bert")));
  auto early = ReportWith(coordinator, "bert", 6, 2000ms);
  const auto took = std::chrono::steady_clock::now() - burst;
  ASSERT_TRUE(early);
  EXPECT_TRUE(early->early());
  EXPECT_EQ(Model(*early, "bert")->inflight(), 6);
  EXPECT_LT(took, 1s);
  inflight.clear();
}

TEST_F(ReporterTest, StopIsPromptWhileTheCoordinatorIsAway) {
  std::string dead;
  {
    FakeCoordinator gone;
    dead = gone.address();
  }
  Reporter reporter(Options(dead), ledger_, counters_);
  reporter.Start();
  // It has failed and is backing off.
  ASSERT_TRUE(Eventually([&] { return counters_.report_failures().load() >= 2; }, 5000ms));
  const auto t0 = std::chrono::steady_clock::now();
  reporter.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms);
  EXPECT_GE(counters_.report_failures().load(), 1u);
  EXPECT_FALSE(reporter.connected());
}

// An address that accepts connections and never answers (no HTTP/2 SETTINGS): each attempt is
// given up after connect_timeout and retried, instead of waiting out gRPC's 20 s connect deadline.
TEST_F(ReporterTest, AnAttemptThatNeverConnectsIsRetriedAfterTheConnectTimeout) {
  uint16_t port = 0;
  const int listener = testing::ListenOnLoopback(port);
  ASSERT_GE(listener, 0);
  std::atomic<int> accepted{0};
  std::vector<int> held;
  std::thread acceptor([&] {
    for (int fd; (fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC)) >= 0;) {
      held.push_back(fd);  // kept open, never read: a silent peer
      ++accepted;
    }
  });

  ReporterOptions o = Options("127.0.0.1:" + std::to_string(port));
  o.connect_timeout = 300ms;
  Reporter reporter(o, ledger_, counters_);
  reporter.Start();
  EXPECT_TRUE(Eventually([&] { return accepted.load() >= 3; }, 5000ms))
      << "connection attempts in 5 s: " << accepted.load();
  EXPECT_FALSE(reporter.connected());
  reporter.Stop();
  ::shutdown(listener, SHUT_RDWR);
  acceptor.join();
  ::close(listener);
  for (int fd : held) ::close(fd);
}

// A coordinator that does not lead: it takes the call and a report, then ends the stream with
// UNAVAILABLE, as lagscale-coordinator does when leadership has moved on. Records when each stream
// began.
TEST_F(ReporterTest, AStandbyThatRefusesAfterTakingTheCallIsRetriedWithBoundedBackoff) {
  // The report is written before the refusal arrives: a written report must not count as
  // success, or the backoff starts over on every attempt and the sidecar reconnects in a loop.
  // A standby's refusal has its own, lower ceiling: the leader is one reconnection away.
  FakeCoordinator coordinator;
  coordinator.SetStandby(true);
  ReporterOptions o = Options(coordinator.address());  // backoff from 20 ms, doubling
  o.backoff_max = 10s;
  o.standby_backoff_max = 200ms;
  Reporter reporter(o, ledger_, counters_);
  reporter.Start();
  ASSERT_TRUE(coordinator.WaitFor([](const FakeCoordinator::Log& log) {
    return log.refused.size() >= 10;
  })) << "attempts: "
      << coordinator.refused().size();
  reporter.Stop();
  const auto began = coordinator.refused();
  // From the sixth retry on the backoff is at the 200 ms ceiling, less at most half for jitter;
  // without the standby ceiling the ninth would wait at least 2.5 s.
  for (size_t i = 6; i < 10; ++i) {
    EXPECT_GE(began[i] - began[i - 1], 100ms) << "retry " << i << " came too soon";
    EXPECT_LE(began[i] - began[i - 1], 1s) << "retry " << i << " waited past the ceiling";
  }
  EXPECT_FALSE(reporter.connected());
  EXPECT_GE(counters_.report_failures().load(), 9u);
}

TEST_F(ReporterTest, UnreadableTokenFileStopsStartUp) {
  auto options = Options("127.0.0.1:1");
  options.token_file = "/nonexistent/lagscale-token";
  Reporter reporter(options, ledger_, counters_);
  try {
    reporter.Start();
    FAIL() << "Start() should throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/lagscale-token"), std::string::npos);
  }
}

}  // namespace
}  // namespace lagscale::scaler_client
