// Server sizing from the models' decisions (DESIGN.md "Server shapes"): scale up at once, scale
// down only when the smaller size still holds every model replica and has done so for the whole
// drain delay (then to the largest size needed during that delay).
#include <cmath>
#include <limits>

#include "policy/packing.h"
#include "policy/policies.h"

namespace lagscale::coordinator {
namespace {

using policy::Clamp;
using policy::Format;

class Sizer : public ServerSizer {
 public:
  explicit Sizer(const ServerPolicyConfig& config) : config_(config) {}

  Decision Decide(const ServerContext& context) override {
    const int current = context.current_replicas;
    if (!context.fresh) {
      below_since_s_ = std::numeric_limits<double>::quiet_NaN();
      return policy::HoldOnStaleData(last_desired_, current, config_.min_replicas);
    }
    int need = 0;
    std::string why;
    switch (config_.placement) {
      case Placement::kAll:
      case Placement::kOneToOne: {
        std::string widest = "no model";
        for (const auto& m : context.models) {
          if (m.desired_replicas > need || widest == "no model") widest = m.model;
          need = std::max(need, m.desired_replicas);
        }
        why = Format("%s wants %d replicas (%s placement)", widest.c_str(), need,
                     config_.placement == Placement::kAll ? "all" : "one-to-one");
        break;
      }
      case Placement::kScheduled: {
        const auto packed = policy::PackFirstFitDecreasing(context.models, config_.capacity_bytes);
        need = packed.servers;
        why = Format("widest model %d replicas, packing all model memory needs %d", packed.widest,
                     packed.servers);
        if (packed.oversized > 0) {
          why += Format(" (%d replicas larger than one server)", packed.oversized);
        }
        break;
      }
    }
    need = Clamp(need, config_.min_replicas, config_.max_replicas);

    int desired = current;
    if (need >= current) {
      below_since_s_ = std::numeric_limits<double>::quiet_NaN();
      desired = need;
    } else {
      if (std::isnan(below_since_s_)) {
        below_since_s_ = context.now_s;
        max_need_while_below_ = need;
      }
      max_need_while_below_ = std::max(max_need_while_below_, need);
      const double waited = context.now_s - below_since_s_;
      if (waited >= config_.drain_delay_s) {
        desired = max_need_while_below_;
        below_since_s_ = std::numeric_limits<double>::quiet_NaN();
        why += Format("; %d enough for %.0fs", desired, waited);
      } else {
        why += Format("; %d would hold every replica, draining %.0fs of %.0fs", need, waited,
                      config_.drain_delay_s);
      }
    }
    last_desired_ = desired;
    return policy::Decided(current, desired, std::move(why));
  }

 private:
  ServerPolicyConfig config_;
  int last_desired_ = -1;
  double below_since_s_ = std::numeric_limits<double>::quiet_NaN();
  int max_need_while_below_ = 0;
};

}  // namespace

std::unique_ptr<ServerSizer> MakeServerSizer(const ServerPolicyConfig& config) {
  return std::make_unique<Sizer>(config);
}

}  // namespace lagscale::coordinator
