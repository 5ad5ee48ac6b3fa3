#pragma once

// Prometheus: a real Prometheus server (Debian's /usr/bin/prometheus) scraping the given targets
// every second from a temporary directory, and instant queries against it, for tests that assert
// what a user's monitoring would see.
// Thread safety: Query() may be called from any thread; Start()/destruction from the test's.

#include <memory>
#include <string>
#include <vector>

#include "support/process.h"
#include "support/scratch_dir.h"

namespace lagscale::testing {

class Prometheus {
 public:
  // Starts Prometheus scraping each host:port in `targets` (/metrics, every 1 s) and waits until it
  // is ready. Returns nullptr (and fails the test) if it does not start.
  static std::unique_ptr<Prometheus> Start(const std::vector<std::string>& targets);

  // The value of the first series an instant query returns; NaN when there is none or on error.
  double Query(const std::string& promql) const;
  // Every series of an instant query as (value of `label`, value) pairs.
  std::vector<std::pair<std::string, double>> QueryBy(const std::string& promql,
                                                      const std::string& label) const;
  const std::string& address() const { return address_; }

 private:
  Prometheus() = default;
  ScratchDir dir_{"prometheus"};  // declared first: removed after the process has stopped
  std::string address_;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace lagscale::testing
