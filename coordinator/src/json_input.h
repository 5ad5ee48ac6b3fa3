// JSON read from the network (admission reviews, API server answers, a coordinator's /status),
// parsed with a nesting limit.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

namespace lagscale::coordinator {

// Deeper than any document the coordinator reads (a Pod is about 10 levels) and far below the
// depth at which copying or comparing a value (recursive in nlohmann::json) overflows a thread's
// stack: about 100,000 levels, reached by a 200 KB body.
inline constexpr int kMaxJsonDepth = 256;

// The document in `text`, or a discarded value (is_discarded()) when `text` is not JSON or nests
// arrays and objects deeper than kMaxJsonDepth; *too_deep (when given) says which.
nlohmann::json ParseUntrustedJson(std::string_view text, bool* too_deep = nullptr);

}  // namespace lagscale::coordinator
