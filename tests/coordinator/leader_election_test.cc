#include "lagscale/coordinator/leader_election.h"
#include "lagscale/coordinator/leader_election_flags.h"

#include <gtest/gtest.h>

#include <regex>

#include "lagscale/coordinator/actuation_worker.h"
#include "lagscale/coordinator/kubernetes.h"
#include "support/k8s_emulator.h"

namespace lagscale::coordinator {
namespace {

using namespace std::chrono_literals;

using nlohmann::json;
using testing::Eventually;
using testing::KubeEmulator;
using testing::KubeObjects;
using testing::RecordedRequest;
using testing::TestPki;

const std::string kLeasePath = "/apis/coordination.k8s.io/v1/namespaces/lagscale/leases/coord";

// Two (or more) candidates against one emulated API server, on one hand-driven clock.
class LeaderElectionTest : public ::testing::Test {
 protected:
  void SetUp() override { api.SetHandler(objects.Handler()); }

  KubeConnection As(const std::string& token) const {
    KubeConnection c;
    c.server = api.url();
    c.ca_pem = pki.ca_pem;
    c.token = token;
    return c;
  }
  static LeaderElectionConfig Config(const std::string& identity) {
    LeaderElectionConfig c;
    c.lease_name = "coord";
    c.lease_namespace = "lagscale";
    c.identity = identity;
    return c;  // client-go's defaults: 15 s lease, 10 s renew deadline, 2 s retry
  }
  std::unique_ptr<LeaderElector> Candidate(const std::string& identity) {
    return std::make_unique<LeaderElector>(Config(identity), As(identity), &clock);
  }
  json Spec() { return objects.Lease("lagscale", "coord")["spec"]; }

  TestPki pki;
  KubeEmulator api{pki};
  KubeObjects objects;
  base::ManualClock clock;
};

TEST_F(LeaderElectionTest, FirstCandidateCreatesTheLeaseAsClientGoWritesIt) {
  auto a = Candidate("pod-a");
  EXPECT_FALSE(a->Leading());
  ASSERT_TRUE(a->TryAcquireOrRenew()) << a->Status().last_error;
  EXPECT_TRUE(a->Leading());
  EXPECT_EQ(a->Term(), 1u);

  const json spec = Spec();
  EXPECT_EQ(spec["holderIdentity"], "pod-a");
  EXPECT_EQ(spec["leaseDurationSeconds"], 15);
  EXPECT_EQ(spec["leaseTransitions"], 0);
  EXPECT_EQ(spec["acquireTime"], spec["renewTime"]);
  // metav1.MicroTime: RFC 3339, UTC, six fractional digits; the clock's wall time.
  EXPECT_TRUE(std::regex_match(spec["renewTime"].get<std::string>(),
                               std::regex(R"(2023-11-14T22:13:\d\d\.\d{6}Z)")))
      << spec["renewTime"];
  // 404 on the read, then a POST to the collection.
  const auto requests = api.Requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].method, "GET");
  EXPECT_EQ(requests[0].target, kLeasePath);
  EXPECT_EQ(requests[1].method, "POST");
  EXPECT_EQ(requests[1].target, "/apis/coordination.k8s.io/v1/namespaces/lagscale/leases");
  EXPECT_EQ(requests[1].headers.at("authorization"), "Bearer pod-a");
  EXPECT_EQ(requests[1].headers.at("content-type"), "application/json");
}

TEST_F(LeaderElectionTest, RenewalPutsWithTheReadVersionAndKeepsAcquireTime) {
  auto a = Candidate("pod-a");
  ASSERT_TRUE(a->TryAcquireOrRenew());
  const json first = objects.Lease("lagscale", "coord");
  clock.AdvanceSeconds(2);
  ASSERT_TRUE(a->TryAcquireOrRenew());
  const json second = objects.Lease("lagscale", "coord");
  EXPECT_EQ(second["spec"]["acquireTime"], first["spec"]["acquireTime"]);
  EXPECT_NE(second["spec"]["renewTime"], first["spec"]["renewTime"]);
  EXPECT_EQ(second["spec"]["leaseTransitions"], 0);
  const auto requests = api.Requests();
  const json put = json::parse(requests.back().body);
  EXPECT_EQ(requests.back().method, "PUT");
  EXPECT_EQ(put["metadata"]["resourceVersion"], first["metadata"]["resourceVersion"]);
  EXPECT_EQ(a->Term(), 1u) << "a renewal is not a new term";
}

TEST_F(LeaderElectionTest, StandbyTakesOverOnlyAfterTheLeaseDurationByItsOwnClock) {
  auto a = Candidate("pod-a");
  auto b = Candidate("pod-b");
  ASSERT_TRUE(a->TryAcquireOrRenew());
  ASSERT_FALSE(b->TryAcquireOrRenew());  // b observes a's record now
  EXPECT_EQ(b->Status().holder, "pod-a");
  // a stops renewing (paused, partitioned). It gives up at its renew deadline (10 s) ...
  clock.AdvanceSeconds(9.9);
  EXPECT_TRUE(a->Leading());
  clock.AdvanceSeconds(0.2);
  EXPECT_FALSE(a->Leading()) << "past the renew deadline a leader must not act";
  // ... while b may take the Lease only once it has seen no change for 15 s.
  clock.AdvanceSeconds(4.7);  // 14.8 s after b's observation
  EXPECT_FALSE(b->TryAcquireOrRenew());
  clock.AdvanceSeconds(0.3);
  ASSERT_TRUE(b->TryAcquireOrRenew()) << b->Status().last_error;
  EXPECT_TRUE(b->Leading());
  EXPECT_EQ(Spec()["holderIdentity"], "pod-b");
  EXPECT_EQ(Spec()["leaseTransitions"], 1);
  // a comes back: it reads b's record and stays a follower.
  EXPECT_FALSE(a->TryAcquireOrRenew());
  EXPECT_FALSE(a->Leading());
  EXPECT_EQ(a->Status().lost, 1u);
  EXPECT_EQ(a->Status().holder, "pod-b");
}

// A standby only reads the Lease, so a read that succeeds is what clears the error /status shows:
// after an outage a healthy standby no longer looks broken.
TEST_F(LeaderElectionTest, StandbyThatReadsTheLeaseAgainShowsNoError) {
  auto a = Candidate("pod-a");
  auto b = Candidate("pod-b");
  ASSERT_TRUE(a->TryAcquireOrRenew());
  objects.FailEverything(503);
  EXPECT_FALSE(b->TryAcquireOrRenew());
  EXPECT_NE(b->Status().last_error.find("GET " + kLeasePath + ": HTTP 503"), std::string::npos)
      << b->Status().last_error;
  objects.FailEverything(0);
  EXPECT_FALSE(b->TryAcquireOrRenew());
  EXPECT_EQ(b->Status().last_error, "");
  EXPECT_EQ(b->Status().holder, "pod-a");
}

TEST_F(LeaderElectionTest, LeaderThatCannotRenewStopsBeforeTheLeaseCanExpireElsewhere) {
  auto a = Candidate("pod-a");
  auto b = Candidate("pod-b");
  ASSERT_TRUE(a->TryAcquireOrRenew());
  clock.AdvanceSeconds(0.5);
  ASSERT_FALSE(b->TryAcquireOrRenew());
  objects.FailEverything(500);  // the API server is unreachable for both
  double a_stopped_at = -1, b_leads_at = -1;
  for (double t = 0.5; t < 20; t += 0.5) {
    if (t >= 12) objects.FailEverything(0);  // the API is back, but a stays cut off from it
    if (t < 12 && !a->TryAcquireOrRenew()) a->CheckDeadline();
    a->CheckDeadline();
    if (a_stopped_at < 0 && !a->Leading()) a_stopped_at = t;
    if (b_leads_at < 0 && b->TryAcquireOrRenew()) b_leads_at = t;
    if (b_leads_at >= 0) break;
    clock.AdvanceSeconds(0.5);
  }
  EXPECT_LE(a_stopped_at, 10.0) << "renew deadline";
  ASSERT_GT(b_leads_at, 0);
  EXPECT_GE(b_leads_at, 15.5) << "b saw a's last renewal at 0.5 s; the lease lasts 15 s";
  EXPECT_GE(b_leads_at - a_stopped_at, 5.0);
  EXPECT_FALSE(a->Leading());
}

TEST_F(LeaderElectionTest, ConflictingWriteLosesAndTheNextAttemptReadsAgain) {
  auto a = Candidate("pod-a");
  ASSERT_TRUE(a->TryAcquireOrRenew());
  clock.AdvanceSeconds(16);  // a's lease has expired for everyone
  auto b = Candidate("pod-b");
  auto c = Candidate("pod-c");
  ASSERT_FALSE(b->TryAcquireOrRenew());  // first sight of a's record: b must wait 15 s
  ASSERT_FALSE(c->TryAcquireOrRenew());
  clock.AdvanceSeconds(16);
  // b reads, then c writes before b does: b's PUT carries a stale resourceVersion.
  bool raced = false;
  auto handler = objects.Handler();
  api.SetHandler([&](const RecordedRequest& r) {
    if (r.method == "PUT" && r.headers.at("authorization") == "Bearer pod-b" && !raced) {
      raced = true;
      EXPECT_TRUE(c->TryAcquireOrRenew());
    }
    return handler(r);
  });
  EXPECT_FALSE(b->TryAcquireOrRenew());
  ASSERT_TRUE(raced);
  EXPECT_NE(b->Status().last_error.find("409"), std::string::npos) << b->Status().last_error;
  EXPECT_FALSE(b->Leading());
  EXPECT_EQ(Spec()["holderIdentity"], "pod-c");
  EXPECT_EQ(Spec()["leaseTransitions"], 1);
  // Next attempt: b reads c's fresh record and waits.
  EXPECT_FALSE(b->TryAcquireOrRenew());
  EXPECT_EQ(b->Status().holder, "pod-c");
  int conflicts = 0;
  for (const auto& w : objects.LeaseWrites()) conflicts += w.status == 409;
  EXPECT_EQ(conflicts, 1);
}

TEST_F(LeaderElectionTest, SecondCreateGetsAlreadyExists) {
  auto a = Candidate("pod-a");
  auto b = Candidate("pod-b");
  // b's read happens before a's create, so b also tries to create it.
  bool raced = false;
  auto handler = objects.Handler();
  api.SetHandler([&](const RecordedRequest& r) {
    if (r.method == "POST" && r.headers.at("authorization") == "Bearer pod-b" && !raced) {
      raced = true;
      EXPECT_TRUE(a->TryAcquireOrRenew());
    }
    return handler(r);
  });
  EXPECT_FALSE(b->TryAcquireOrRenew());
  EXPECT_NE(b->Status().last_error.find("409"), std::string::npos) << b->Status().last_error;
  EXPECT_NE(b->Status().last_error.find("already exists"), std::string::npos);
  EXPECT_EQ(Spec()["holderIdentity"], "pod-a");
}

TEST_F(LeaderElectionTest, ReleaseLetsAStandbyTakeOverAtOnce) {
  auto a = Candidate("pod-a");
  auto b = Candidate("pod-b");
  ASSERT_TRUE(a->TryAcquireOrRenew());
  ASSERT_FALSE(b->TryAcquireOrRenew());
  a->Release();
  EXPECT_FALSE(a->Leading());
  EXPECT_EQ(Spec()["holderIdentity"], "");
  EXPECT_EQ(Spec()["leaseDurationSeconds"], 1);
  EXPECT_EQ(Spec()["leaseTransitions"], 0);
  // No time passes: a released Lease is free.
  ASSERT_TRUE(b->TryAcquireOrRenew()) << b->Status().last_error;
  EXPECT_EQ(Spec()["holderIdentity"], "pod-b");
  EXPECT_EQ(Spec()["leaseTransitions"], 1);
  EXPECT_EQ(Spec()["leaseDurationSeconds"], 15);
}

TEST_F(LeaderElectionTest, ElectorThreadsHandOverOnStop) {
  // Real threads on the system clock, with short settings.
  auto config = [](const std::string& id) {
    LeaderElectionConfig c = Config(id);
    c.lease_duration_s = 3;
    c.renew_deadline_s = 2;
    c.retry_period_s = 0.1;
    return c;
  };
  LeaderElector a(config("pod-a"), As("pod-a"));
  a.Start();
  ASSERT_TRUE(Eventually([&] { return a.Leading(); }, 10s));
  LeaderElector b(config("pod-b"), As("pod-b"));
  b.Start();
  ASSERT_TRUE(Eventually([&] { return b.Status().holder == "pod-a"; }, 10s));
  EXPECT_FALSE(b.Leading());
  a.Stop();
  EXPECT_FALSE(a.Leading());
  // Released: b takes over within a few retry periods, far sooner than the 3 s lease.
  const auto stopped = std::chrono::steady_clock::now();
  ASSERT_TRUE(Eventually([&] { return b.Leading(); }, 10s));
  EXPECT_LT(std::chrono::steady_clock::now() - stopped, std::chrono::seconds(3));
  b.Stop();
}

TEST(LeaderElectionConfigTest, DurationsMustBeOrderedAsClientGoRequires) {
  LeaderElectionConfig c;
  c.identity = "pod-a";
  EXPECT_NO_THROW(ValidateLeaderElection(c));
  auto message = [](const LeaderElectionConfig& bad) -> std::string {
    try {
      ValidateLeaderElection(bad);
      return "";
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
  };
  LeaderElectionConfig bad = c;
  bad.lease_duration_s = 10;
  EXPECT_NE(message(bad).find("--leader-elect-lease-duration"), std::string::npos);
  bad = c;
  bad.retry_period_s = 9;
  EXPECT_NE(message(bad).find("--leader-elect-renew-deadline"), std::string::npos);
  bad = c;
  bad.identity.clear();
  EXPECT_NE(message(bad).find("--leader-elect-identity"), std::string::npos);
  bad = c;
  bad.lease_duration_s = 1e12;  // an elector built without the flags is bounded too
  EXPECT_EQ(message(bad),
            "--leader-elect-lease-duration: 1000000000000.000000s is over the maximum of 3600s");
}

// At the longest durations accepted, the Lease says what was asked (whole seconds in an int32)
// and the call timeout (half the renew deadline) leaves the API server time to answer.
TEST_F(LeaderElectionTest, LongestDurationsAcceptedAreWrittenAsGiven) {
  LeaderElectionConfig c = Config("pod-a");
  c.lease_duration_s = kMaxLeaderElectionSeconds;
  c.renew_deadline_s = kMaxLeaderElectionSeconds - 1;
  LeaderElector a(c, As("pod-a"), &clock);
  ASSERT_TRUE(a.TryAcquireOrRenew()) << a.Status().last_error;
  EXPECT_EQ(Spec()["leaseDurationSeconds"], 3600);
  clock.AdvanceSeconds(kMaxLeaderElectionSeconds - 2);
  EXPECT_TRUE(a.Leading());
}

// A Leadership whose answer the test sets.
class FixedLeadership final : public Leadership {
 public:
  bool Leading() const override { return leading; }
  uint64_t Term() const override { return 1; }
  LeadershipStatus Status() const override { return {}; }
  std::atomic<bool> leading{false};
};

// The durations read as every binary's duration flags do: with a unit, or a bare number of
// seconds; anything else stops start-up naming the flag and the value.
TEST(LeaderElectionConfigTest, DurationFlagsReadAsEveryBinarysDurationFlags) {
  LeaderElectionFlags flags;
  flags.name_space = "ns";
  flags.identity = "pod-a";
  flags.lease_duration = "20";
  flags.renew_deadline = "10000ms";
  flags.retry_period = "0.05m";
  const LeaderElectionConfig c = ResolveLeaderElection(flags);
  EXPECT_DOUBLE_EQ(c.lease_duration_s, 20);
  EXPECT_DOUBLE_EQ(c.renew_deadline_s, 10);
  EXPECT_DOUBLE_EQ(c.retry_period_s, 3);
  flags.retry_period = "soon";
  try {
    ResolveLeaderElection(flags);
    FAIL() << "a duration that does not parse must stop start-up";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(),
                 "--leader-elect-retry-period: invalid value \"soon\" (expected seconds or a "
                 "duration with a unit: 10, 250ms, 2m)");
  }
}

TEST_F(LeaderElectionTest, FollowerNeverPatchesEvenADecisionItQueued) {
  const auto target = MakeScaleTarget("apps/v1", "Deployment", "web", "default");
  objects.SetReplicas(target.ScalePath(), 2);
  FixedLeadership leadership;
  KubernetesOptions options;
  options.may_write = [&] { return leadership.Leading(); };
  ActuationWorker worker(
      MakeLeaderOnlyActuator(MakeKubernetesActuator(As("pod-a"), options), leadership),
      WorkerOptions{});
  ScaleRequest r;
  r.name = "web";
  r.target = target;
  r.to = 5;
  worker.Submit(r);
  ActuationReport report;
  ASSERT_TRUE(Eventually([&] { return worker.PollResult(report); }, 10s));
  EXPECT_EQ(report.result.status, ActuationResult::Status::kSkipped);
  EXPECT_NE(report.result.error.find("not the leader"), std::string::npos);
  EXPECT_TRUE(objects.ScaleWrites().empty());
  EXPECT_EQ(objects.Replicas(target.ScalePath()), 2);

  leadership.leading = true;
  r.to = 4;
  worker.Submit(r);
  ASSERT_TRUE(Eventually([&] { return worker.PollResult(report); }, 10s));
  EXPECT_EQ(report.result.status, ActuationResult::Status::kOk) << report.result.error;
  ASSERT_EQ(objects.ScaleWrites().size(), 1u);
  EXPECT_EQ(objects.ScaleWrites()[0].writer, "pod-a");
  EXPECT_EQ(objects.Replicas(target.ScalePath()), 4);
}

TEST_F(LeaderElectionTest, LeadershipLostBetweenReadAndWriteSkipsThePatch) {
  const auto target = MakeScaleTarget("apps/v1", "Deployment", "web", "default");
  objects.SetReplicas(target.ScalePath(), 2);
  std::atomic<bool> leading{true};
  auto handler = objects.Handler();
  api.SetHandler([&](const RecordedRequest& r) {
    if (r.method == "GET") leading = false;  // leadership ends while the read is on the wire
    return handler(r);
  });
  KubernetesOptions options;
  options.may_write = [&] { return leading.load(); };
  auto actuator = MakeKubernetesActuator(As("pod-a"), options);
  ScaleRequest r;
  r.name = "web";
  r.target = target;
  r.to = 5;
  const ActuationResult result = actuator->Apply(r);
  EXPECT_EQ(result.status, ActuationResult::Status::kSkipped);
  EXPECT_EQ(result.observed_replicas, 2);
  EXPECT_TRUE(objects.ScaleWrites().empty());
  EXPECT_EQ(objects.Replicas(target.ScalePath()), 2);
}

}  // namespace
}  // namespace lagscale::coordinator
