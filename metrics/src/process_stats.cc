#include "process_stats.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

namespace lagscale::metrics {

namespace {

// Seconds since the epoch at which the machine booted (the "btime" line of /proc/stat).
double BootTimeSeconds() {
  std::ifstream stat("/proc/stat");
  std::string key;
  double value = 0;
  while (stat >> key) {
    if (key == "btime") {
      stat >> value;
      return value;
    }
    stat.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return 0;
}

}  // namespace

ProcessStats ReadProcessStats() {
  ProcessStats p;
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return p;
  // Fields after the command name, which is in parentheses and may contain spaces.
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return p;
  std::istringstream fields(line.substr(close + 2));
  std::string f[22];
  for (auto& field : f) fields >> field;
  // Field numbers per proc(5): utime 14, stime 15, starttime 22, rss 24 (here offset by 3).
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  try {
    p.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / ticks;
    p.start_time_seconds = BootTimeSeconds() + std::stod(f[19]) / ticks;
    p.resident_bytes = std::stod(f[21]) * page;
  } catch (const std::exception&) {
    return p;
  }
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++p.open_fds;
  }
  p.valid = true;
  return p;
}

}  // namespace lagscale::metrics
