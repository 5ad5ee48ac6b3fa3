#pragma once

// Actuator: where replica decisions go (the seam between deciding and changing the cluster).
// Implementations: dry-run (log only), webhook (POST the decision as JSON), kubernetes (PATCH the
// scale subresource). Each Apply() writes an absolute replica count, so repeating one is harmless.
// Thread safety: an Actuator is used by exactly one thread, one of the ActuationWorker's (which
// makes one per thread); Apply() may block, bounded by the implementation's own timeouts.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "lagscale/coordinator/config.h"

namespace lagscale::coordinator {

enum class TargetKind { kModel, kServer };

struct ScaleRequest {
  TargetKind kind = TargetKind::kModel;
  std::string name;
  std::string server;      // for a server decision: the server again
  std::string name_space;  // from the target, else "default"
  std::optional<ScaleTarget> target;
  int from = 0;
  int to = 0;
  std::string reason;
  int64_t time_unix_ms = 0;
  // Within a new leader's hand-over hold: an actuator that reads the target before writing must
  // not lower what it finds (it may have changed since the term's first read).
  bool never_lower = false;
  // "model/iris" or "server/mlserver": decisions for one key replace each other.
  std::string Key() const;
};

struct ActuationResult {
  enum class Status {
    kOk,       // the target now has `to` replicas (or already had them)
    kRetry,    // transient (429, 5xx, timeout, connection): try again after a backoff
    kFailed,   // permanent for this decision (403, 404, other 4xx): not retried
    kSkipped,  // nothing to do here (e.g. no scale target configured)
  };
  Status status = Status::kOk;
  int http_status = 0;         // 0 when no HTTP exchange happened
  int observed_replicas = -1;  // replicas the target reported, -1 if unknown
  double retry_after_s = -1;   // from a Retry-After header, -1 if none
  std::string error;           // one line a person can read
};

// Current replicas and (in Seldon mode) the bounds the resource itself declares.
struct TargetReading {
  bool ok = false;
  int replicas = -1;
  std::optional<int> min_replicas, max_replicas;
  std::string error;
};

class Actuator {
 public:
  virtual ~Actuator() = default;
  virtual const char* name() const = 0;
  virtual ActuationResult Apply(const ScaleRequest& request) = 0;
  // Reads a target's replicas and spec.minReplicas/maxReplicas; only the kubernetes actuator can.
  virtual TargetReading Read(const ScaleTarget&) { return {}; }
};

const char* StatusName(ActuationResult::Status status);

std::unique_ptr<Actuator> MakeDryRunActuator();

struct WebhookOptions {
  std::string url;  // http://host:port/path (https:// verifies against the system CAs)
  double timeout_s = 5;
};
// Throws std::invalid_argument when the URL cannot be used.
std::unique_ptr<Actuator> MakeWebhookActuator(const WebhookOptions& options);

}  // namespace lagscale::coordinator
