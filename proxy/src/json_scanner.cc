#include "lagscale/proxy/json_scanner.h"

#include <algorithm>
#include <array>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace lagscale::proxy {

namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// The first byte of [p, end) that ends a run of string content a reported value may be in: '"',
// '\\' and the control characters (invalid raw in a string). One pass for all three, 16 bytes at
// a time where SSE2 exists (every x86-64): a long top-level "prompt" is most of its body.
const char* FindStringStop(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i below_space = _mm_set1_epi8(0x1f);
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    __m128i hit = _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash));
    // Unsigned v <= 0x1f exactly when min(v, 0x1f) == v.
    hit = _mm_or_si128(hit, _mm_cmpeq_epi8(_mm_min_epu8(v, below_space), v));
    if (const int mask = _mm_movemask_epi8(hit); mask != 0) return p + __builtin_ctz(mask);
    p += 16;
  }
#endif
  for (; p < end; ++p) {
    const auto c = static_cast<unsigned char>(*p);
    if (c == '"' || c == '\\' || c < 0x20) return p;
  }
  return end;
}

const char* Find(const char* p, const char* end, char c) {
  const void* at = std::memchr(p, c, static_cast<size_t>(end - p));
  return at != nullptr ? static_cast<const char*>(at) : end;
}

// Bytes that matter inside a skipped container: strings and brackets.
constexpr std::array<bool, 256> kSkipStop = [] {
  std::array<bool, 256> stop{};
  stop['"'] = stop['{'] = stop['['] = stop['}'] = stop[']'] = true;
  return stop;
}();

}  // namespace

void JsonScanner::Reset() {
  status_ = Status::kScanning;
  state_ = State::kValue;
  depth_ = 0;
  skipping_ = skip_string_ = skip_escape_ = false;
  high_surrogate_ = 0;
  capture_ = nullptr;
  key1_.len = key2_.len = value_.len = 0;
  key1_.truncated = key2_.truncated = value_.truncated = false;
}

JsonScanner::Status JsonScanner::Feed(const char* data, size_t len) {
  const char* p = data;
  const char* const end = data + len;
  while (p < end && status_ == Status::kScanning) p += Step(p, end);
  return status_;
}

JsonScanner::Status JsonScanner::Finish() {
  if (status_ == Status::kScanning) status_ = Status::kInvalid;
  return status_;
}

// Consumes what it can of [p, end) in the current state; 0 means "look at this byte again" (a
// number ends at the first byte that is not part of it).
size_t JsonScanner::Step(const char* p, const char* end) {
  if (skipping_) return SkipBytes(p, end);
  const char c = *p;
  switch (state_) {
    case State::kString:
      return StringBytes(p, end);
    case State::kEscape:
      EscapeChar(c);
      return 1;
    case State::kUnicode:
      UnicodeDigit(c);
      return 1;
    case State::kLowBackslash:
    case State::kLowU:
      LowSurrogateChar(c);
      return 1;
    case State::kNumber:
      return NumberChar(c);
    case State::kLiteral:
      LiteralChar(c);
      return 1;
    default:
      return BetweenTokens(c);
  }
}

// A byte between tokens: white space, the start of a value or a key, or punctuation. Returns 1
// (consumed), so Step() can end with a jump here.
size_t JsonScanner::BetweenTokens(char c) {
  if (IsSpace(c)) return 1;
  switch (state_) {
    case State::kValue:
      StartValue(c);
      break;
    case State::kValueOrClose:
      c == ']' ? Close(c) : StartValue(c);
      break;
    case State::kKeyOrClose:
      c == '}' ? Close(c) : c == '"' ? StartString(true) : Fail();
      break;
    case State::kKey:
      c == '"' ? StartString(true) : Fail();
      break;
    case State::kColon:
      c == ':' ? void(state_ = State::kValue) : Fail();
      break;
    case State::kCommaOrClose:
      if (c == ',') {
        state_ = in_object() ? State::kKey : State::kValue;
      } else {
        Close(c);
      }
      break;
    default:  // kAfterDocument: the status is no longer kScanning
      Fail();
      break;
  }
  return 1;
}

void JsonScanner::StartValue(char c) {
  if (depth_ == 0 && c != '{') {
    status_ = Status::kEnded;  // not an object: no member to report
    return;
  }
  switch (c) {
    case '{':
      Open(true);
      return;
    case '[':
      Open(false);
      return;
    case '"':
      StartString(false);
      return;
    case 't':
      literal_ = "true";
      break;
    case 'f':
      literal_ = "false";
      break;
    case 'n':
      literal_ = "null";
      break;
    default:
      if (c != '-' && !IsDigit(c)) {
        Fail();
        return;
      }
      capture_ = depth_ <= 2 ? &value_ : nullptr;
      value_.len = 0;
      value_.truncated = false;
      Append(&c, 1);
      num_ = c == '-' ? Num::kMinus : c == '0' ? Num::kZero : Num::kInt;
      state_ = State::kNumber;
      return;
  }
  literal_pos_ = 1;
  state_ = State::kLiteral;
}

void JsonScanner::Open(bool object) {
  if (depth_ >= kMaxDepth) {
    Fail();
    return;
  }
  const uint64_t bit = uint64_t{1} << (depth_ % 64);
  if (object) {
    object_bits_[depth_ / 64] |= bit;
  } else {
    object_bits_[depth_ / 64] &= ~bit;
  }
  ++depth_;
  if (depth_ == 2) key2_.len = 0;  // an array member has no key
  state_ = object ? State::kKeyOrClose : State::kValueOrClose;
  skipping_ = depth_ > 2;  // nothing in here is reported: follow only strings and brackets
}

// Inside a container nested deeper than depth 2 (message lists, tool definitions): nothing there
// is reported, so only strings (to know which brackets are real) and brackets (to find the end,
// and to check the nesting) are followed, a vector scan across string contents. A long chat body
// is mostly this.
size_t JsonScanner::SkipBytes(const char* p, const char* end) {
  const char* q = p;
  while (q < end) {
    if (skip_escape_) {  // the byte after a backslash; \uXXXX digits need no care here
      skip_escape_ = false;
      ++q;
    } else if (skip_string_) {
      q = SkipStringBytes(q, end);
    } else {
      while (q < end && !kSkipStop[static_cast<unsigned char>(*q)]) ++q;
      if (q == end) break;
      const char c = *q++;
      if (c == '"') {
        skip_string_ = true;
      } else if (c == '{' || c == '[') {
        Open(c == '{');
        if (status_ != Status::kScanning) break;
      } else {
        Close(c);  // back at depth 2 it leaves skipping (see AfterValue)
        if (status_ != Status::kScanning || !skipping_) break;
      }
    }
  }
  return static_cast<size_t>(q - p);
}

// Inside a skipped string: to its closing quote (or the end of the piece). Message contents are
// most of a chat body, so this is the scanner's hot loop: glibc's memchr (vectorised) finds the
// next quote, and then each backslash before it; the quote is searched again only when an escape
// consumed it, so every byte is looked at about twice whatever the number of escapes.
const char* JsonScanner::SkipStringBytes(const char* q, const char* end) {
  const char* quote = Find(q, end, '"');
  while (true) {
    const char* backslash = Find(q, quote, '\\');
    if (backslash == quote) break;
    if (backslash + 1 == end) {
      skip_escape_ = true;  // the escaped byte comes in the next piece
      return end;
    }
    q = backslash + 2;
    if (backslash + 1 == quote) quote = Find(q, end, '"');
  }
  if (quote == end) return end;
  skip_string_ = false;
  return quote + 1;
}

void JsonScanner::Close(char c) {
  if (c != (in_object() ? '}' : ']')) {
    Fail();
    return;
  }
  --depth_;
  AfterValue();
}

void JsonScanner::AfterValue() {
  skipping_ = depth_ > 2;
  if (depth_ == 0) {
    state_ = State::kAfterDocument;
    if (status_ == Status::kScanning) status_ = Status::kEnded;
    return;
  }
  state_ = State::kCommaOrClose;
}

bool JsonScanner::in_object() const {
  const int d = depth_ - 1;
  return d >= 0 && (object_bits_[d / 64] >> (d % 64) & 1) != 0;
}

void JsonScanner::StartString(bool key) {
  string_is_key_ = key;
  if (key) {
    capture_ = depth_ == 1 ? &key1_ : depth_ == 2 ? &key2_ : nullptr;
  } else {
    capture_ = depth_ <= 2 ? &value_ : nullptr;
  }
  if (capture_ != nullptr) {
    capture_->len = 0;
    capture_->truncated = false;
  }
  state_ = State::kString;
}

// The plain bytes of a string, many at a time: a long message body is mostly these.
size_t JsonScanner::StringBytes(const char* p, const char* end) {
  const char* q = FindStringStop(p, end);
  Append(p, static_cast<size_t>(q - p));
  if (q == end) return static_cast<size_t>(q - p);
  if (*q == '"') {
    EndString();
  } else if (*q == '\\') {
    state_ = State::kEscape;
  } else {
    Fail();  // a raw control character
  }
  return static_cast<size_t>(q - p) + 1;
}

void JsonScanner::EndString() {
  if (string_is_key_) {
    state_ = State::kColon;
    return;
  }
  if (capture_ != nullptr && !Report(Kind::kString, {value_.buf, value_.len})) return;
  AfterValue();
}

size_t JsonScanner::NumberChar(char c) {
  const bool digit = IsDigit(c);
  const bool exp = c == 'e' || c == 'E';
  Num next = num_;
  bool takes = true;
  switch (num_) {
    case Num::kMinus:
      takes = digit;
      next = c == '0' ? Num::kZero : Num::kInt;
      break;
    case Num::kZero:
      takes = c == '.' || exp;
      next = c == '.' ? Num::kDot : Num::kE;
      break;
    case Num::kInt:
      takes = digit || c == '.' || exp;
      next = digit ? Num::kInt : c == '.' ? Num::kDot : Num::kE;
      break;
    case Num::kDot:
      takes = digit;
      next = Num::kFrac;
      break;
    case Num::kFrac:
      takes = digit || exp;
      next = digit ? Num::kFrac : Num::kE;
      break;
    case Num::kE:
      takes = digit || c == '+' || c == '-';
      next = digit ? Num::kExp : Num::kESign;
      break;
    case Num::kESign:
    case Num::kExp:
      takes = digit;
      next = Num::kExp;
      break;
  }
  if (!takes) {
    EndNumber();
    return 0;
  }
  num_ = next;
  Append(&c, 1);
  return 1;
}

void JsonScanner::EndNumber() {
  if (num_ != Num::kZero && num_ != Num::kInt && num_ != Num::kFrac && num_ != Num::kExp) {
    Fail();
    return;
  }
  if (capture_ != nullptr && !Report(Kind::kNumber, {value_.buf, value_.len})) return;
  AfterValue();
}

void JsonScanner::LiteralChar(char c) {
  if (c != literal_[literal_pos_]) {
    Fail();
    return;
  }
  if (literal_[++literal_pos_] != '\0') return;
  if (depth_ <= 2 && !Report(Kind::kLiteral, literal_)) return;
  AfterValue();
}

// Hands a scalar to the subclass; false if it stopped the scan.
bool JsonScanner::Report(Kind kind, std::string_view text) {
  const std::string_view key2 =
      depth_ == 2 && in_object() ? std::string_view(key2_.buf, key2_.len) : std::string_view();
  const bool truncated = kind != Kind::kLiteral && value_.truncated;
  const Scalar scalar{depth_, {key1_.buf, key1_.len}, key2, kind, text, truncated};
  if (!OnScalar(scalar)) return true;
  status_ = Status::kStopped;
  return false;
}

void JsonScanner::Append(const char* p, size_t n) {
  if (capture_ == nullptr || n == 0) return;
  const size_t room = capture_->cap - capture_->len;
  const size_t take = std::min(room, n);
  std::memcpy(capture_->buf + capture_->len, p, take);
  capture_->len += take;
  if (take < n) capture_->truncated = true;
}

}  // namespace lagscale::proxy
