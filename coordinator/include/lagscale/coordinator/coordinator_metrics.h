#pragma once

// CoordinatorMetrics: the coordinator's own Prometheus series (lagscale_coordinator_*), declared
// in one place. Per-model/per-server series are created when a name is first seen, never per
// report.
// Thread safety: the Set*/On* methods that take a model or server name are called only from the
// decision loop; OnStream*/OnUnauthenticated may be called from gRPC threads; Render() from any
// thread.

#include <memory>
#include <string>

#include "lagscale/coordinator/aggregator.h"
#include "lagscale/coordinator/policy.h"

namespace lagscale::coordinator {

class CoordinatorMetrics {
 public:
  CoordinatorMetrics();
  ~CoordinatorMetrics();

  void OnReport(Aggregator::Outcome outcome, size_t models);
  void OnPodsExpired(int n);
  void SetPods(size_t n);
  void SetModelReplicas(const std::string& model, int current, int desired);
  // Drops a model's series (the coordinator forgot it).
  void ForgetModel(const std::string& model);
  // Adds newly refused model entries, pods and reports with absurd values.
  void OnRefusals(uint64_t models, uint64_t pods, uint64_t values);
  void SetServerReplicas(const std::string& server, int current, int desired);
  void OnDecision(Direction direction);
  void OnActuation(const char* result, int http_status);
  void SetDecisionCycleSeconds(double s);
  void OnReload(bool ok);
  void OnStreamOpened();
  void OnStreamClosed();
  void OnUnauthenticated();
  // From gRPC threads: a report dropped because the decision loop's queue was full.
  void OnReportShed();
  // From the webhook thread: one admission review answered (result as injector.h OutcomeName,
  // or "invalid_review" / "ignored").
  void OnInjection(const char* result);
  void OnNotLeader();
  // From the decision loop: leading now, and how often leadership changed hands in this process.
  void SetLeadership(bool leading, uint64_t transitions);

  // Prometheus text format 0.0.4.
  std::string Render() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace lagscale::coordinator
