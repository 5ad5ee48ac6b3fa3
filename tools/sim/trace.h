#pragma once

// Demand traces for lagscale-sim: CSV rows `t_seconds,model,arrival_rate_rps,service_time_ms`.
// Each row sets a model's arrival rate and service time from t_seconds until that model's next
// row (piecewise constant; two rows at the same time make a step). A header line is optional;
// blank lines and lines starting with '#' are skipped.
// Thread safety: immutable after loading.

#include <map>
#include <string>
#include <vector>

namespace lagscale::sim {

struct Segment {
  double start_s = 0;
  double rate_rps = 0;
  double service_s = 0;
  double tokens = 0;  // output tokens per request (LLM traces; 0: the answers carry none)
};

// One model's demand over time, sorted by start.
class ModelTrace {
 public:
  ModelTrace() = default;
  explicit ModelTrace(std::vector<Segment> segments, double end_s);

  const std::vector<Segment>& segments() const { return segments_; }
  double end_s() const { return end_s_; }
  // The segment in force at `t` (the first one before it starts).
  const Segment& At(double t) const;
  // Offered load in busy-replica-slots: rate x service time.
  double Load(double t) const { return At(t).rate_rps * At(t).service_s; }
  double MaxLoad(double from_s, double to_s) const;
  // The first segment start strictly after `t`; end_s() if none.
  double NextChange(double t) const;

 private:
  std::vector<Segment> segments_;
  double end_s_ = 0;
};

struct Trace {
  std::map<std::string, ModelTrace> models;
  double end_s = 0;  // the last row's time plus one second
};

// Throws std::runtime_error naming the file and line of the first bad row.
Trace LoadTrace(const std::string& path);
Trace ParseTrace(const std::string& text, const std::string& name);

}  // namespace lagscale::sim
