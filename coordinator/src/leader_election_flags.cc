// --leader-elect and friends; see leader_election_flags.h.
#include "lagscale/coordinator/leader_election_flags.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "lagscale/base/flags.h"
#include "lagscale/base/text_file.h"

namespace lagscale::coordinator {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string DefaultNamespace() {
  if (std::string ns = Env("POD_NAMESPACE"); !ns.empty()) return ns;
  const auto ns = base::ReadSecretFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace",
                                       "service-account namespace");
  return ns ? *ns : "default";
}

std::string DefaultIdentity() {
  if (std::string pod = Env("POD_NAME"); !pod.empty()) return pod;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return std::string(host) + "_" + std::to_string(getpid());
}

// As every binary reads a duration flag (base::ParseDurationFlag); a bare number is seconds, and
// none may be over an hour (kMaxLeaderElectionSeconds says why).
double Seconds(const std::string& text, const std::string& flag) {
  const auto seconds = base::ParseDurationFlag(
      text, flag,
      base::DurationSyntax{.bare = base::BareNumber::kSeconds,
                           .max = std::chrono::duration<double>(kMaxLeaderElectionSeconds)});
  if (!seconds) throw std::invalid_argument(seconds.error());
  return seconds->count();
}

}  // namespace

void AddLeaderElectionFlags(CLI::App& app, LeaderElectionFlags& f) {
  app.add_flag("--leader-elect", f.enabled,
               "run as one of several replicas: only the holder of a coordination.k8s.io Lease "
               "actuates and takes reports")
      ->envname("LAGSCALE_LEADER_ELECT");
  app.add_option("--leader-elect-resource-name", f.name, "name of the Lease")
      ->envname("LAGSCALE_LEADER_ELECT_RESOURCE_NAME")
      ->capture_default_str();
  app.add_option("--leader-elect-resource-namespace", f.name_space,
                 "namespace of the Lease (default: $POD_NAMESPACE, else the service account's)")
      ->envname("LAGSCALE_LEADER_ELECT_RESOURCE_NAMESPACE");
  app.add_option("--leader-elect-identity", f.identity,
                 "holderIdentity written to the Lease (default: $POD_NAME, else hostname_pid)")
      ->envname("LAGSCALE_LEADER_ELECT_IDENTITY");
  app.add_option("--leader-elect-lease-duration", f.lease_duration,
                 "how long a standby waits after the last renewal it saw before taking over")
      ->envname("LAGSCALE_LEADER_ELECT_LEASE_DURATION")
      ->capture_default_str();
  app.add_option("--leader-elect-renew-deadline", f.renew_deadline,
                 "how long the leader keeps acting without a successful renewal")
      ->envname("LAGSCALE_LEADER_ELECT_RENEW_DEADLINE")
      ->capture_default_str();
  app.add_option("--leader-elect-retry-period", f.retry_period,
                 "how often the leader renews and a standby tries to acquire")
      ->envname("LAGSCALE_LEADER_ELECT_RETRY_PERIOD")
      ->capture_default_str();
}

LeaderElectionConfig ResolveLeaderElection(const LeaderElectionFlags& f) {
  LeaderElectionConfig c;
  c.lease_name = f.name;
  c.lease_namespace = f.name_space.empty() ? DefaultNamespace() : f.name_space;
  c.identity = f.identity.empty() ? DefaultIdentity() : f.identity;
  c.lease_duration_s = Seconds(f.lease_duration, "--leader-elect-lease-duration");
  c.renew_deadline_s = Seconds(f.renew_deadline, "--leader-elect-renew-deadline");
  c.retry_period_s = Seconds(f.retry_period, "--leader-elect-retry-period");
  ValidateLeaderElection(c);
  return c;
}

std::unique_ptr<LeaderElector> MakeLeaderElector(
    const LeaderElectionFlags& flags, const std::function<KubeConnection()>& connection) {
  // Checked with leader election off too: a bad value stops start-up as any bad flag does, rather
  // than waiting for the day --leader-elect is turned on.
  LeaderElectionConfig config = ResolveLeaderElection(flags);  // bad flags first, then the API
  if (!flags.enabled) return nullptr;
  return std::make_unique<LeaderElector>(std::move(config), connection());
}

}  // namespace lagscale::coordinator
