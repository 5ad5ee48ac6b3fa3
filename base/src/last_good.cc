#include "lagscale/base/last_good.h"

#include <spdlog/spdlog.h>

namespace lagscale::base {

void LogRereadError(const std::string& error, const std::string& meanwhile, std::string& last) {
  if (error != last) spdlog::warn("{}; {}", error, meanwhile);
  last = error;
}

void LogRereadGood(std::string& last) {
  if (!last.empty()) spdlog::info("resolved: {}", last);
  last.clear();
}

}  // namespace lagscale::base
