// The real lagscale-coordinator against reporters it should not trust: the memory each tracked
// model costs stays under a stated bound, the caps on models and pods hold (refusals counted on
// /metrics, shown on /status, logged), absurd values are rejected, and models nobody hosts any more
// are forgotten so that the cap does not fill up with history.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

#include "lagscale/v1/lag.grpc.pb.h"
#include "support/process.h"
#include "support/raw_socket.h"
#include "support/scratch_dir.h"

namespace lagscale::testing {
namespace {

using nlohmann::json;

// Stated in docs/coordinator.md ("Untrusted reports"): what one tracked model may cost the
// coordinator's RSS, everything included (aggregation, policy, metrics series, the /status
// snapshot and its rendering, allocator overhead). Measured on the 2-core VM: idle 11.7-12.8 KiB,
// active 23.2-32.3 KiB before the ring gained the token fields (+8 KiB: 248 buckets x 104 B),
// 43.9 KiB once after (RSS growth varies with the allocator's arenas). The page's 15-minute
// history is a separate, fixed budget (18,000 B per series for at most --history-models models,
// docs/coordinator.md "History"), so it is off here.
constexpr double kIdleModelKiB = 16;    // reported, never any traffic: no history ring
constexpr double kActiveModelKiB = 48;  // traffic in its reports: the 60 s ring (25.2 KiB)

// The bound is about the binary users run. AddressSanitizer's redzones and quarantine, and
// ThreadSanitizer's shadow memory, multiply every allocation, so a sanitized coordinator's RSS
// says nothing about it.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitizedBuild = true;
#else
constexpr bool kSanitizedBuild = false;
#endif

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// One report stream, as a sidecar would hold it.
class Reporter {
 public:
  explicit Reporter(const std::string& address)
      : stub_(v1::LagService::NewStub(
            grpc::CreateChannel(address, grpc::InsecureChannelCredentials()))),
        stream_(stub_->Report(&context_)) {}
  ~Reporter() {
    stream_->WritesDone();
    v1::ReportAck ack;
    while (stream_->Read(&ack)) {
    }
    stream_->Finish();
  }
  // Writes `r` and waits for its ack (so the coordinator has queued it).
  bool Send(const v1::PodReport& r) {
    if (!stream_->Write(r)) return false;
    v1::ReportAck ack;
    return stream_->Read(&ack);
  }

 private:
  std::unique_ptr<v1::LagService::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::PodReport, v1::ReportAck>> stream_;
};

// A report from `pod` carrying models prefix0..prefix{n-1}, each with `arrivals` (all completed).
v1::PodReport Report(const std::string& pod, uint64_t sequence, const std::string& prefix, int n,
                     uint64_t arrivals) {
  v1::PodReport r;
  r.set_server("srv");
  r.set_pod(pod);
  r.set_incarnation(7);
  r.set_sequence(sequence);
  r.set_snapshot_monotonic_ns(NowNs());
  for (int i = 0; i < n; ++i) {
    auto* m = r.add_models();
    m->set_model(prefix + std::to_string(i));
    m->set_arrivals(arrivals);
    m->mutable_outcomes()->set_success(arrivals);
    m->set_busy_seconds(static_cast<double>(arrivals) * 0.01);
  }
  return r;
}

class ReportLimitsTest : public ::testing::Test {
 public:
  bool Start(const std::string& yaml, std::vector<std::string> extra = {}) {
    std::ofstream(config_) << yaml;
    std::map<std::string, std::string> addresses;
    std::vector<std::string> args = {"--grpc-listen", "127.0.0.1:0", "--http-listen",
                                     "127.0.0.1:0"};
    args.insert(args.end(), {"--config", config_});
    args.insert(args.end(), extra.begin(), extra.end());
    coordinator_ = StartReady("lagscale-coordinator", args, addresses);
    grpc_ = addresses["grpc"];
    http_ = addresses["http"];
    return coordinator_ != nullptr;
  }
  json Status() {
    const HttpResponse r = HttpGet(http_, "/status");
    return r.status == 200 ? json::parse(r.body, nullptr, false) : json();
  }
  size_t ModelCount() {
    const json s = Status();
    return s.is_object() ? s["models"].size() : 0;
  }
  double Metric(const std::string& series) {
    std::istringstream lines(HttpGet(http_, "/metrics").body);
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
    }
    return -1;
  }

  const ScratchDir dir_{"limits"};
  const std::string config_ = dir_.Path("config.yaml");
  std::string grpc_, http_;
  std::unique_ptr<ChildProcess> coordinator_;
};

// `pods` pods x `per_pod` new models each (`tag` keeps names apart); `active` sends a second report
// with traffic for every one. Returns the RSS growth per model once /status shows them all.
double KiBPerModel(ReportLimitsTest& t, pid_t pid, const std::string& grpc, const std::string& tag,
                   int pods, int per_pod, bool active) {
  const size_t want = t.ModelCount() + static_cast<size_t>(pods * per_pod);
  const long before = RssKiB(pid);
  std::vector<std::unique_ptr<Reporter>> streams;
  for (int p = 0; p < pods; ++p) {
    const std::string pod = tag + "-" + std::to_string(p);
    const std::string prefix = pod + "-model-";
    streams.push_back(std::make_unique<Reporter>(grpc));
    EXPECT_TRUE(streams.back()->Send(Report(pod, 1, prefix, per_pod, 0)));
    if (active) {
      EXPECT_TRUE(streams.back()->Send(Report(pod, 2, prefix, per_pod, 50)));
    }
  }
  EXPECT_TRUE(Eventually([&] { return t.ModelCount() >= want; }, 60s));
  const long after = RssKiB(pid);
  return static_cast<double>(after - before) / static_cast<double>(pods * per_pod);
}

TEST_F(ReportLimitsTest, MemoryPerModelStaysUnderTheStatedBound) {
  if (kSanitizedBuild) GTEST_SKIP() << "RSS bounds hold for unsanitized builds only";
  ASSERT_TRUE(Start("limits: {maxModels: 20000, maxPods: 100, maxModelsPerPod: 1000}\n",
                    {"--history-models", "0"}));
  // Warm up allocator arenas and the status page with a few models first.
  KiBPerModel(*this, coordinator_->pid(), grpc_, "warm", 1, 50, true);
  const double idle = KiBPerModel(*this, coordinator_->pid(), grpc_, "idle", 5, 1000, false);
  const double active = KiBPerModel(*this, coordinator_->pid(), grpc_, "active", 5, 1000, true);
  std::printf("coordinator RSS per model: idle %.2f KiB, active %.2f KiB\n", idle, active);
  EXPECT_LT(idle, kIdleModelKiB);
  EXPECT_LT(active, kActiveModelKiB);
}

TEST_F(ReportLimitsTest, ModelAndPodCapsHoldAndRefusalsAreCountedShownAndLogged) {
  ASSERT_TRUE(Start("limits: {maxModels: 100, maxPods: 3, maxModelsPerPod: 60}\n"));
  Reporter a(grpc_), b(grpc_), c(grpc_), d(grpc_);
  // An ack means "queued": reports of different streams may be applied in another order, so each
  // is applied before the next is sent (the refusals below depend on the order).
  int sent = 0;
  auto send = [&](Reporter& r, const v1::PodReport& report) {
    ++sent;
    return r.Send(report) && Eventually(
                                 [&] {
                                   const json s = Status();
                                   return s.is_object() && s.contains("reports") &&
                                          s["reports"].value("received", 0) >= sent;
                                 },
                                 20s);
  };
  ASSERT_TRUE(send(a, Report("a", 1, "a-", 80, 0)));  // 60 taken, 20 over the per-pod cap
  ASSERT_TRUE(send(b, Report("b", 1, "b-", 60, 0)));  // 40 taken, 20 over maxModels
  ASSERT_TRUE(send(c, Report("c", 1, "a-", 10, 0)));  // models already tracked: all taken
  ASSERT_TRUE(send(d, Report("d", 1, "d-", 1, 0)));   // a fourth pod: refused
  ASSERT_TRUE(Eventually(
      [&] {
        const json s = Status();
        return s.is_object() && s["reports"]["refused_pods"] == 1 &&
               s["reports"]["refused_models"] == 40;
      },
      20s))
      << Status().dump();
  const json s = Status();
  EXPECT_EQ(s["models"].size(), 100u);
  EXPECT_EQ(s["pods"].size(), 3u);
  EXPECT_EQ(s["limits"]["max_models"], 100);
  EXPECT_NE(s["reports"]["last_refusal"].get<std::string>().find("maxPods"), std::string::npos);
  EXPECT_EQ(Metric(R"(lagscale_coordinator_report_refusals_total{reason="model_limit"})"), 40);
  EXPECT_EQ(Metric(R"(lagscale_coordinator_report_refusals_total{reason="pod_limit"})"), 1);
  // Logged, at a bounded rate: many more refusals within seconds make no more than one line.
  for (uint64_t seq = 2; seq < 40; ++seq) ASSERT_TRUE(d.Send(Report("d", seq, "d-", 1, 0)));
  ASSERT_TRUE(Eventually([&] { return Status()["reports"]["refused_pods"] == 39; }, 20s));
  const std::string log = coordinator_->stderr_text();
  size_t lines = 0;
  for (size_t at = 0; (at = log.find("refusing report contents", at)) != std::string::npos; ++at)
    ++lines;
  EXPECT_GE(lines, 1u) << log;
  EXPECT_LE(lines, 3u) << log;
}

TEST_F(ReportLimitsTest, AbsurdValuesAreRejectedAndCounted) {
  ASSERT_TRUE(Start(""));
  Reporter r(grpc_);
  v1::PodReport good = Report("p", 1, "m", 1, 5);
  ASSERT_TRUE(r.Send(good));
  // The leap below is measured against the last report applied. Reports of one stream can reach
  // the decision loop's queue from different gRPC threads, which it does not keep in order, so
  // the good one must be applied before the rest are sent.
  ASSERT_TRUE(Eventually([&] { return Status()["reports"]["applied"] == 1; }, 20s))
      << Status().dump();
  v1::PodReport huge = Report("p", 2, "m", 1, 6);
  huge.mutable_models(0)->set_inflight(int64_t{1} << 40);
  ASSERT_TRUE(r.Send(huge));
  v1::PodReport nan = Report("p", 3, "m", 1, 7);
  nan.mutable_models(0)->set_busy_seconds(std::numeric_limits<double>::quiet_NaN());
  ASSERT_TRUE(r.Send(nan));
  v1::PodReport negative = Report("p", 4, "m", 1, 8);
  negative.mutable_models(0)->set_busy_seconds(-1);
  ASSERT_TRUE(r.Send(negative));
  v1::PodReport leap = Report("p", 5, "m", 1, uint64_t{1} << 40);
  ASSERT_TRUE(r.Send(leap));
  ASSERT_TRUE(Eventually([&] { return Status()["reports"]["rejected_values"] == 4; }, 20s))
      << Status().dump();
  const json s = Status();
  ASSERT_EQ(s["models"].size(), 1u);
  EXPECT_EQ(s["models"][0]["inflight"], 0);
  EXPECT_EQ(Metric(R"(lagscale_coordinator_report_refusals_total{reason="absurd_values"})"), 4);
  EXPECT_EQ(Metric(R"(lagscale_coordinator_reports_total{result="rejected"})"), 4);
  // Counters going backwards are a restart, not an error.
  ASSERT_TRUE(r.Send(Report("p", 6, "m", 1, 1)));
  EXPECT_TRUE(Eventually([&] { return Status()["reports"]["restarts"] == 1; }, 20s));
}

TEST_F(ReportLimitsTest, ModelsNoPodHostsAnyMoreAreForgottenAndFreeTheCap) {
  ASSERT_TRUE(Start(R"(reportTTL: 1s
decisionInterval: 100ms
windows: [1s]
defaults:
  stableWindow: 2s
  panicWindow: 1s
  scaleDownDelay: 1s
  flapWindow: 1s
  maxScaleDownDelay: 1s
limits: {maxModels: 10}
)"));
  {
    Reporter old(grpc_);
    ASSERT_TRUE(old.Send(Report("old", 1, "old-", 10, 0)));
    ASSERT_TRUE(Eventually([&] { return ModelCount() == 10; }, 20s));
  }
  // The pod falls silent: expired after reportTTL, its models forgotten after their history.
  ASSERT_TRUE(Eventually([&] { return ModelCount() == 0; }, 30s)) << Status().dump();
  Reporter fresh(grpc_);
  ASSERT_TRUE(fresh.Send(Report("new", 1, "new-", 10, 0)));
  EXPECT_TRUE(Eventually([&] { return ModelCount() == 10; }, 20s));
  EXPECT_EQ(Status()["reports"]["refused_models"], 0);
}

// Names become Prometheus labels, /status keys and a pod's identity: one no sidecar sends (here a
// terminal escape, a '/', 300 bytes), or a model listed twice, rejects the report whole.
TEST_F(ReportLimitsTest, ReportsWithNamesNoSidecarSendsAreRejectedAndShownSafely) {
  ASSERT_TRUE(Start(""));
  Reporter r(grpc_);
  ASSERT_TRUE(r.Send(Report("p", 1, "m", 1, 5)));
  v1::PodReport escape = Report("p", 2, "m", 1, 6);
  escape.mutable_models(0)->set_model("a\x1b]0;x\x07");
  ASSERT_TRUE(r.Send(escape));
  v1::PodReport slash = Report("p", 3, "m", 1, 6);
  slash.set_server("a/b");
  ASSERT_TRUE(r.Send(slash));
  v1::PodReport long_name = Report("p", 4, "m", 1, 6);
  long_name.mutable_models(0)->set_model(std::string(300, 'n'));
  ASSERT_TRUE(r.Send(long_name));
  // Reports of one stream may be applied out of order (the decision loop's queue keeps no order
  // between gRPC threads): the last one is sent once the others are counted.
  ASSERT_TRUE(Eventually([&] { return Status()["reports"]["rejected_values"] == 3; }, 20s))
      << Status().dump();
  v1::PodReport twice = Report("p", 5, "m", 1, 110);
  *twice.add_models() = Report("p", 5, "m", 1, 108).models(0);
  ASSERT_TRUE(r.Send(twice));
  ASSERT_TRUE(Eventually([&] { return Status()["reports"]["rejected_values"] == 4; }, 20s))
      << Status().dump();
  const json s = Status();
  ASSERT_EQ(s["models"].size(), 1u) << s.dump();
  EXPECT_EQ(s["models"][0]["name"], "m0");
  EXPECT_LT(s["models"][0]["arrival_rate"].get<double>(), 1000.0);
  EXPECT_EQ(s["reports"]["last_refusal"], "report rejected: model \"m0\" listed twice");
  EXPECT_EQ(Metric(R"(lagscale_coordinator_reports_total{result="rejected"})"), 4);
  EXPECT_EQ(HttpGet(http_, "/metrics").body.find("nnnnnnnnnn"), std::string::npos);
  EXPECT_EQ(coordinator_->stderr_text().find('\x1b'), std::string::npos);
}

// Out of descriptors, the HTTP port's accept loop pauses (as the sidecar's do) instead of spinning
// a core, and answers the waiting probe once descriptors are free.
TEST_F(ReportLimitsTest, HttpPortOutOfDescriptorsWaitsInsteadOfSpinning) {
  // UBSan's type checks test whether memory is readable through a pipe(2): with no descriptor
  // left they report "invalid vptr" on sound objects and halt, whatever the code under test does.
  if (kSanitizedBuild) GTEST_SKIP() << "sanitizer runtimes need descriptors of their own";
  ASSERT_TRUE(Start(""));
  const pid_t pid = coordinator_->pid();
  ASSERT_TRUE(SetFdLimit(pid, LowestFreeFd(pid)));  // not one descriptor more
  RawClient probe(http_);
  ASSERT_TRUE(probe.socket().Send("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"));
  // The thread names itself once it runs, which can be just after the ready line.
  double cpu_start = -1;
  ASSERT_TRUE(Eventually([&] { return (cpu_start = ThreadCpuSeconds(pid, "http")) >= 0; }));
  // A rate needs a window: the thread's CPU over one second, polled so a spin fails early.
  const auto end = std::chrono::steady_clock::now() + 1s;
  double cpu = 0;
  while (std::chrono::steady_clock::now() < end && cpu < 0.3) {
    std::this_thread::sleep_for(50ms);
    cpu = ThreadCpuSeconds(pid, "http") - cpu_start;
  }
  EXPECT_LT(cpu, 0.3) << "the http thread spins while out of descriptors";
  ASSERT_TRUE(SetFdLimit(pid, 1024));
  EXPECT_EQ(probe.Read().status, 200) << coordinator_->stderr_text();
  EXPECT_NE(
      coordinator_->stderr_text().find("http: cannot accept connections: Too many open files"),
      std::string::npos)
      << coordinator_->stderr_text();
}

// The HTTP port says why it refuses a request, as the webhook port does, and a HEAD answer
// announces the length of the GET answer.
TEST_F(ReportLimitsTest, HttpPortAnswersBadRequestsWithAReason) {
  ASSERT_TRUE(Start(""));
  const std::pair<std::string, int> cases[] = {
      {"GARBAGE\r\n\r\n", 400},
      {"GET /status HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(20000, 'x') + "\r\n\r\n", 431},
      {"POST /status HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", 405},
      {"POST /status HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n", 413},
  };
  for (const auto& [request, status] : cases) {
    RawClient client(http_);
    ASSERT_TRUE(client.Send(request));
    const RawResponse r = client.Read();
    EXPECT_EQ(r.status, status) << request.substr(0, 40);
    EXPECT_NE(r.body.find("\"error\""), std::string::npos) << r.body;
  }
  RawClient head(http_);
  ASSERT_TRUE(
      head.Send("HEAD /healthz HTTP/1.1\r\nHost: a\r\n\r\nGET /healthz HTTP/1.1\r\n"
                "Host: a\r\n\r\n"));
  const RawResponse h = head.Read(/*head=*/true);
  const RawResponse g = head.Read();
  ASSERT_EQ(h.status, 200);
  ASSERT_EQ(g.status, 200);
  EXPECT_EQ(h.headers[boost::beast::http::field::content_length], std::to_string(g.body.size()));
}

}  // namespace
}  // namespace lagscale::testing
