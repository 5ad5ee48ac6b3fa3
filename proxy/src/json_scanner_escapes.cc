// The escapes of a JSON string: \n and the like, and \uXXXX with its surrogate pairs, decoded
// to UTF-8 into the captured value.
#include <cstdint>

#include "lagscale/proxy/json_scanner.h"

namespace lagscale::proxy {

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

void JsonScanner::EscapeChar(char c) {
  char decoded;
  switch (c) {
    case '"':
    case '\\':
    case '/':
      decoded = c;
      break;
    case 'b':
      decoded = '\b';
      break;
    case 'f':
      decoded = '\f';
      break;
    case 'n':
      decoded = '\n';
      break;
    case 'r':
      decoded = '\r';
      break;
    case 't':
      decoded = '\t';
      break;
    case 'u':
      state_ = State::kUnicode;
      hex_digits_ = 0;
      code_unit_ = 0;
      return;
    default:
      Fail();
      return;
  }
  Append(&decoded, 1);
  state_ = State::kString;
}

// One hex digit of \uXXXX; after the fourth, the code unit is decoded. A high surrogate must be
// followed by a \u low surrogate; a lone one of either kind is not JSON.
void JsonScanner::UnicodeDigit(char c) {
  const int v = HexValue(c);
  if (v < 0) {
    Fail();
    return;
  }
  code_unit_ = code_unit_ * 16 + static_cast<uint32_t>(v);
  if (++hex_digits_ < 4) return;
  const bool high = code_unit_ >= 0xD800 && code_unit_ <= 0xDBFF;
  const bool low = code_unit_ >= 0xDC00 && code_unit_ <= 0xDFFF;
  if (high_surrogate_ != 0) {
    if (!low) {
      Fail();
      return;
    }
    AppendCodePoint(0x10000 + ((high_surrogate_ - 0xD800) << 10) + (code_unit_ - 0xDC00));
    high_surrogate_ = 0;
  } else if (high) {
    high_surrogate_ = code_unit_;
    state_ = State::kLowBackslash;
    return;
  } else if (low) {
    Fail();
    return;
  } else {
    AppendCodePoint(code_unit_);
  }
  state_ = State::kString;
}

// The "\u" that must follow a high surrogate's escape.
void JsonScanner::LowSurrogateChar(char c) {
  if (state_ == State::kLowBackslash) {
    c == '\\' ? void(state_ = State::kLowU) : Fail();
  } else if (c != 'u') {
    Fail();
  } else {
    state_ = State::kUnicode;
    hex_digits_ = 0;
    code_unit_ = 0;
  }
}

void JsonScanner::AppendCodePoint(uint32_t cp) {
  char utf8[4];
  size_t n;
  if (cp < 0x80) {
    utf8[0] = static_cast<char>(cp);
    n = 1;
  } else if (cp < 0x800) {
    utf8[0] = static_cast<char>(0xC0 | (cp >> 6));
    utf8[1] = static_cast<char>(0x80 | (cp & 0x3F));
    n = 2;
  } else if (cp < 0x10000) {
    utf8[0] = static_cast<char>(0xE0 | (cp >> 12));
    utf8[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    utf8[2] = static_cast<char>(0x80 | (cp & 0x3F));
    n = 3;
  } else {
    utf8[0] = static_cast<char>(0xF0 | (cp >> 18));
    utf8[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    utf8[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    utf8[3] = static_cast<char>(0x80 | (cp & 0x3F));
    n = 4;
  }
  Append(utf8, n);
}

}  // namespace lagscale::proxy
