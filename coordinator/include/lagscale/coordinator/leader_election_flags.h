#pragma once

// The lagscale-coordinator flags that turn on leader election (names follow
// kube-controller-manager's --leader-elect* flags), each with a LAGSCALE_* environment variable.
// Thread safety: plain functions, called from main before any thread starts.

#include <functional>
#include <memory>
#include <string>

#include "lagscale/coordinator/leader_election.h"

namespace CLI {
class App;
}

namespace lagscale::coordinator {

struct LeaderElectionFlags {
  bool enabled = false;
  std::string name = "lagscale-coordinator";
  std::string name_space;  // "": $POD_NAMESPACE, the service account's namespace, "default"
  std::string identity;    // "": $POD_NAME, else hostname_pid
  std::string lease_duration = "15s", renew_deadline = "10s", retry_period = "2s";
};

void AddLeaderElectionFlags(CLI::App& app, LeaderElectionFlags& flags);

// The election's settings with the defaults filled in. Throws std::invalid_argument naming the
// flag and value when a duration does not parse, is over an hour or the durations are not ordered,
// or when the Lease's name or namespace (given or defaulted) is not a Kubernetes name.
LeaderElectionConfig ResolveLeaderElection(const LeaderElectionFlags& flags);

// nullptr when leader election is off; else an elector (not started) talking to the API server
// `connection()` names. Throws what ResolveLeaderElection throws, whether or not leader election is
// on, and what the connection throws.
std::unique_ptr<LeaderElector> MakeLeaderElector(const LeaderElectionFlags& flags,
                                                 const std::function<KubeConnection()>& connection);

}  // namespace lagscale::coordinator
