#include "lagscale/base/names.h"

#include <algorithm>

namespace lagscale::base {
namespace {

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool IsNameChar(char c) { return IsAlnum(c) || c == '.' || c == '_' || c == '-'; }

}  // namespace

bool IsValidModelName(std::string_view name) {
  if (name.empty() || name.size() > kMaxModelNameBytes || !IsAlnum(name.front())) return false;
  return std::all_of(name.begin(), name.end(), IsNameChar);
}

bool IsValidIdentityName(std::string_view name) {
  return !name.empty() && name.size() <= kMaxIdentityBytes &&
         std::all_of(name.begin(), name.end(), IsNameChar);
}

}  // namespace lagscale::base
