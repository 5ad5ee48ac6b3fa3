#pragma once

// Logging, set up the same way by every binary: one named logger on stderr, at the level given by
// --log-level (environment LAGSCALE_LOG_LEVEL).
// Thread safety: SetUpLogging once, on the main thread, before any other thread logs.

#include <array>
#include <string>
#include <string_view>

namespace lagscale::base {

// The values --log-level accepts, from the most to the least verbose.
inline constexpr std::array<std::string_view, 7> kLogLevels = {"trace", "debug",    "info", "warn",
                                                               "error", "critical", "off"};

// Makes a stderr logger called `name` the default one and sets `level` (one of kLogLevels).
void SetUpLogging(const std::string& name, const std::string& level);

}  // namespace lagscale::base
