#include "json_input.h"

namespace lagscale::coordinator {

nlohmann::json ParseUntrustedJson(std::string_view text, bool* too_deep_out) {
  using json = nlohmann::json;
  bool too_deep = false;
  // The callback sees each value's depth as it is parsed; a too-deep array or object is skipped
  // (never built), and the whole document is then refused.
  const json::parser_callback_t limit = [&too_deep](int depth, json::parse_event_t event, json&) {
    if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) &&
        depth >= kMaxJsonDepth) {
      too_deep = true;
      return false;
    }
    return !too_deep;
  };
  json doc = json::parse(text.begin(), text.end(), limit, /*allow_exceptions=*/false);
  if (too_deep_out) *too_deep_out = too_deep;
  if (too_deep) return json(json::value_t::discarded);
  return doc;
}

}  // namespace lagscale::coordinator
