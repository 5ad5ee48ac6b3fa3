#pragma once

// The admin routes that close the demo's loop: the coordinator's webhook actuator posts its
// decisions to POST /admin/scale, and GET /admin/state shows what the server now offers.

#include <string>
#include <string_view>

#include "capacity.h"

namespace lagscale::testserver {

struct AdminReply {
  int status = 200;
  std::string body;  // JSON
};

// Applies one webhook decision (contracts.md "Webhook actuator payload"):
//   {"kind":"model"|"server","name":...,"to":N, ...}
// 200 with StateJson() on success, 400 naming the problem, 404 for a model not served here.
AdminReply ApplyScale(Capacity& capacity, std::string_view body);

// {"models":{"<name>":{"replicas":R,"concurrency":C,"capacity":R*C (null: no limit),
//   "service_time_ms":T,"ttft_ms":F,"token_ms":K,"output_tokens":N,
//   "serving":S,"queued":Q,"inflight":S+Q,"served_total":N,"rejected_total":N}},
//  "server_replicas":R}
std::string StateJson(const Capacity& capacity);

}  // namespace lagscale::testserver
