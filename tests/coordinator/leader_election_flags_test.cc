// The --leader-elect* flags as an operator gives them: what start-up accepts, and the message that
// stops it (lagscale-coordinator prints it and exits 2, as for every setting).
#include "lagscale/coordinator/leader_election_flags.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace lagscale::coordinator {
namespace {

LeaderElectionFlags Valid() {
  LeaderElectionFlags f;
  f.name_space = "lagscale";
  f.identity = "pod-a";
  return f;
}

// The message ResolveLeaderElection refuses `flags` with ("" when it accepts them).
std::string Refusal(const LeaderElectionFlags& flags) {
  try {
    ResolveLeaderElection(flags);
    return "";
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
}

// Sets an environment variable for the test's lifetime, then restores it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value, 1);
  }
  ~ScopedEnv() { old_ ? ::setenv(name_, old_->c_str(), 1) : ::unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// 1e12 s once overflowed the Lease's int32 leaseDurationSeconds, and a huge renew deadline the
// call timeout: the replica ran but could never lead. An hour is the most any of them takes.
TEST(LeaderElectionFlagsTest, ADurationOverAnHourStopsStartUpNamingTheFlagAndTheValue) {
  LeaderElectionFlags f = Valid();
  f.lease_duration = "1e12";
  EXPECT_EQ(Refusal(f),
            "--leader-elect-lease-duration: invalid value \"1e12\" (expected a duration of at "
            "most 3600s)");
  f = Valid();
  f.renew_deadline = "20000000000";
  EXPECT_EQ(Refusal(f),
            "--leader-elect-renew-deadline: invalid value \"20000000000\" (expected a duration "
            "of at most 3600s)");
  f = Valid();
  f.retry_period = "61m";
  EXPECT_EQ(Refusal(f),
            "--leader-elect-retry-period: invalid value \"61m\" (expected a duration of at most "
            "3600s)");
  f = Valid();
  f.lease_duration = "1h";
  f.renew_deadline = "59m";
  f.retry_period = "10m";
  EXPECT_EQ(Refusal(f), "");
  EXPECT_DOUBLE_EQ(ResolveLeaderElection(f).lease_duration_s, 3600);
}

// Without --leader-elect the flags are still checked, and no Kubernetes connection is made.
TEST(LeaderElectionFlagsTest, ABadValueStopsStartUpWithLeaderElectionOffToo) {
  LeaderElectionFlags f = Valid();
  f.enabled = false;
  EXPECT_EQ(MakeLeaderElector(f, []() -> KubeConnection { throw std::logic_error("connected"); }),
            nullptr);
  f.renew_deadline = "10x";
  try {
    MakeLeaderElector(f, []() -> KubeConnection { throw std::logic_error("connected"); });
    FAIL() << "accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("--leader-elect-renew-deadline: invalid value \"10x\""),
              std::string::npos)
        << e.what();
  }
}

// The name goes into the request path: "Bad/Name" once asked for .../leases/Bad/Name forever.
TEST(LeaderElectionFlagsTest, ALeaseNameThatIsNotAKubernetesObjectNameStopsStartUp) {
  LeaderElectionFlags f = Valid();
  f.name = "Bad/Name";
  EXPECT_EQ(Refusal(f),
            "--leader-elect-resource-name: invalid value \"Bad/Name\" (expected a Kubernetes "
            "object name: at most 253 lower-case letters, digits, '-' and '.', starting and "
            "ending with a letter or digit)");
  for (const std::string& bad : std::vector<std::string>{"", "Lagscale", "-lease", "lease-", "a..b",
                                                         "a.-b", "a_b", std::string(254, 'a')}) {
    f.name = bad;
    EXPECT_NE(Refusal(f).find("--leader-elect-resource-name: invalid value"), std::string::npos)
        << "accepted \"" << bad << "\"";
  }
  for (const std::string& good :
       std::vector<std::string>{"lagscale-coordinator", "lease.v2", "0", std::string(253, 'a')}) {
    f.name = good;
    EXPECT_EQ(Refusal(f), "") << good;
  }
}

// A namespace with a space once put a raw space into the HTTP request line.
TEST(LeaderElectionFlagsTest, ALeaseNamespaceThatIsNotANamespaceNameStopsStartUp) {
  LeaderElectionFlags f = Valid();
  f.name_space = "a b";
  const std::string why = Refusal(f);
  EXPECT_EQ(why.rfind("--leader-elect-resource-namespace: invalid value \"a b\" (expected a "
                      "Kubernetes namespace: at most 63 lower-case letters, digits and '-'",
                      0),
            0u)
      << why;
  for (const std::string& bad :
       std::vector<std::string>{"Prod", "team.a", "-ns", std::string(64, 'n')}) {
    f.name_space = bad;
    EXPECT_NE(Refusal(f).find("--leader-elect-resource-namespace"), std::string::npos) << bad;
  }
  f.name_space = std::string(63, 'n');
  EXPECT_EQ(Refusal(f), "");
}

// Without the flag the namespace is $POD_NAMESPACE (or the service account's): checked the same.
TEST(LeaderElectionFlagsTest, ANamespaceFromPodNamespaceIsCheckedLikeTheFlag) {
  LeaderElectionFlags f = Valid();
  f.name_space.clear();
  {
    ScopedEnv env("POD_NAMESPACE", "Team A");
    EXPECT_NE(Refusal(f).find("--leader-elect-resource-namespace: invalid value \"Team A\""),
              std::string::npos)
        << Refusal(f);
  }
  ScopedEnv env("POD_NAMESPACE", "team-a");
  EXPECT_EQ(ResolveLeaderElection(f).lease_namespace, "team-a");
}

}  // namespace
}  // namespace lagscale::coordinator
