#pragma once

namespace lagscale::metrics {

// The basics of Prometheus's process collector, read from /proc/self (Linux only).
struct ProcessStats {
  bool valid = false;
  double cpu_seconds = 0;
  double resident_bytes = 0;
  double open_fds = 0;
  double start_time_seconds = 0;
};

ProcessStats ReadProcessStats();

}  // namespace lagscale::metrics
