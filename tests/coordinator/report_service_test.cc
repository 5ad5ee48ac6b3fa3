// The report service over a real loopback gRPC server, with the decision loop driven by hand: what
// a sidecar's stream sees when the loop falls behind, and that nothing it reported is lost.
#include "lagscale/coordinator/report_service.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "lagscale/base/clock.h"
#include "lagscale/v1/lag.grpc.pb.h"
#include "support/metrics_text.h"

namespace lagscale::coordinator {
namespace {

using namespace std::chrono_literals;

class ReportServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto config = std::make_shared<Config>();
    config->limits = LimitsConfig{1'000'000, 1'000'000, 1'000'000};
    EngineOptions o;
    o.config = config;
    o.clock = &clock;
    o.metrics = &metrics;
    engine = std::make_unique<Engine>(std::move(o));  // never Start()ed: the test drains it
    server = std::make_unique<ReportServer>("127.0.0.1:0", *engine, &metrics, "");
    stub = v1::LagService::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(server->port()), grpc::InsecureChannelCredentials()));
    stream = stub->Report(&context);
    acks = std::thread([this] {
      v1::ReportAck ack;
      while (stream->Read(&ack)) last_ack.store(ack.sequence());
    });
  }
  void TearDown() override {
    stream->WritesDone();
    acks.join();
    stream->Finish();
    server->Shutdown();
  }
  // Report `seq` of a pod with kModels models, each with 10 * seq arrivals so far.
  v1::PodReport Report(uint64_t seq) {
    clock.AdvanceSeconds(1);
    v1::PodReport r;
    r.set_server("srv");
    r.set_pod("pod-a");
    r.set_incarnation(7);
    r.set_sequence(seq);
    r.set_snapshot_monotonic_ns(clock.MonotonicNs());
    for (int i = 0; i < kModels; ++i) {
      auto* m = r.add_models();
      m->set_model("model-" + std::to_string(i));
      m->set_arrivals(10 * seq);
      m->mutable_outcomes()->set_success(10 * seq);
      m->set_busy_seconds(static_cast<double>(seq));
    }
    return r;
  }
  double Shed() const {
    return testing::SampleValue(metrics.Render(), "lagscale_coordinator_reports_shed_total");
  }

  static constexpr int kModels = 1000;
  base::ManualClock clock;
  CoordinatorMetrics metrics;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<ReportServer> server;
  std::unique_ptr<v1::LagService::Stub> stub;
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReaderWriter<v1::PodReport, v1::ReportAck>> stream;
  std::thread acks;
  std::atomic<uint64_t> last_ack{0};
};

// A loop that does not drain: the queue takes what fits, the rest is shed unacknowledged on a
// stream that stays open, and once the loop has drained, the next report is taken again and
// carries every request the shed ones counted.
TEST_F(ReportServiceTest, ReportsShedWhileTheLoopIsBehindAreCarriedByTheNextOneTaken) {
  // The queue holds reports up to kMaxQueuedReportBytes of wire size; three more are sent.
  std::vector<v1::PodReport> reports;
  size_t bytes = 0, fit = 0;
  while (reports.size() < fit + 3) {
    reports.push_back(Report(reports.size() + 1));
    bytes += reports.back().ByteSizeLong();
    if (bytes <= Engine::kMaxQueuedReportBytes) fit = reports.size();
  }
  const uint64_t sent = reports.size();
  for (const auto& r : reports) ASSERT_TRUE(stream->Write(r));
  ASSERT_TRUE(testing::Eventually([&] { return Shed() >= 3; }, 20s)) << Shed();
  ASSERT_TRUE(testing::Eventually([&] { return last_ack.load() == fit; }, 5s)) << last_ack;
  EXPECT_EQ(Shed(), 3);

  EXPECT_EQ(engine->DrainReports(), fit);
  ASSERT_TRUE(stream->Write(Report(sent + 1)));
  ASSERT_TRUE(testing::Eventually([&] { return last_ack.load() == sent + 1; }, 5s)) << last_ack;
  EXPECT_EQ(engine->DrainReports(), 1u);

  const ModelDemand* m = engine->aggregator().FindModel("model-999");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->ArrivalsTotal(), 10 * (sent + 1));
  engine->PublishStatus();
  EXPECT_EQ(engine->status()->reports_applied, fit + 1);
  EXPECT_EQ(Shed(), 3);
}

// proto3 strings must be UTF-8, so a report naming its pod in Latin-1 does not parse. gRPC's own
// parsing ended such a stream as if the sidecar had closed it: OK, and nothing counted.
TEST_F(ReportServiceTest, AMessageThatIsNotAPodReportEndsItsStreamWithInvalidArgument) {
  grpc::ClientContext bad_context;
  auto bad = stub->Report(&bad_context);
  v1::PodReport report = Report(1);
  report.set_pod("caf\xe9");
  ASSERT_TRUE(bad->Write(report));
  bad->WritesDone();
  v1::ReportAck ack;
  EXPECT_FALSE(bad->Read(&ack));
  const grpc::Status status = bad->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "a message on this stream is not a valid lagscale.v1.PodReport");
  EXPECT_EQ(testing::SampleValue(metrics.Render(),
                                 R"(lagscale_coordinator_reports_total{result="invalid"})"),
            1);
  // Other streams are not affected.
  ASSERT_TRUE(stream->Write(Report(1)));
  ASSERT_TRUE(testing::Eventually([&] { return last_ack.load() == 1; }, 5s)) << last_ack;
  EXPECT_EQ(engine->DrainReports(), 1u);
}

}  // namespace
}  // namespace lagscale::coordinator
