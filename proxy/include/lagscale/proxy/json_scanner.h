#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace lagscale::proxy {

// JsonScanner: an incremental JSON reader for bodies that stream through the proxy. Bytes are fed
// as they arrive, split anywhere (one at a time if need be); nothing is buffered but a few short
// strings, and there is no document tree. It checks the grammar (nesting, strings with their
// escapes, numbers, literals, whitespace) and reports each scalar value found inside the top-level
// object or one level below it, with the keys that lead to it, so a subclass can pick out a field
// such as the top-level "model" or "usage"."prompt_tokens" without a full parse.
//
// Limits that keep the state small: keys are kept up to kMaxKeyBytes (a longer key is reported cut
// to that length, so it never equals a shorter name), values up to kMaxValueBytes (longer ones are
// reported truncated), nesting up to kMaxDepth (deeper is refused as invalid). A document whose
// top-level value is not an object has nothing to report: the scan ends at its first byte. Raw
// bytes above 0x7f inside strings are passed through, not checked as UTF-8; \uXXXX escapes
// (surrogate pairs included) are decoded to UTF-8. Containers nested deeper than depth 2 (the
// contents of "messages", "tools") hold nothing to report, so there only strings and brackets are
// followed (the nesting is still checked, the rest of the grammar is not), with memchr across
// string contents: that keeps a long chat body cheap to scan.
// Thread safety: none; one scanner per request or response.
class JsonScanner {
 public:
  static constexpr size_t kMaxKeyBytes = 32;
  static constexpr size_t kMaxValueBytes = 130;
  static constexpr int kMaxDepth = 512;

  enum class Status : uint8_t {
    kScanning,  // more bytes may come
    kStopped,   // the subclass has what it wanted
    kEnded,     // the top-level object closed (or the document is not an object)
    kInvalid,   // not JSON
  };
  enum class Kind : uint8_t { kString, kNumber, kLiteral };

  // A scalar at depth 1 (a member of the top-level object: key1 is its key) or depth 2 (inside
  // that member's object or array: key2 is its key, empty in an array).
  struct Scalar {
    int depth;
    std::string_view key1;
    std::string_view key2;
    Kind kind;
    std::string_view text;  // decoded string, number or literal as written
    bool truncated;         // text was longer than kMaxValueBytes
  };

  JsonScanner(const JsonScanner&) = delete;
  JsonScanner& operator=(const JsonScanner&) = delete;

  // Scans `len` more bytes; returns the status after them.
  Status Feed(const char* data, size_t len);
  // The document ended: a scan still in progress becomes kInvalid. Returns the final status.
  Status Finish();
  Status status() const { return status_; }
  // Starts over on a new document.
  void Reset();

 protected:
  JsonScanner() = default;
  ~JsonScanner() = default;
  // One complete scalar at depth 1 or 2. Returns true to stop scanning (status kStopped).
  virtual bool OnScalar(const Scalar& scalar) = 0;

 private:
  enum class State : uint8_t {
    kValue,         // a value must follow
    kValueOrClose,  // after '[': a value or ']'
    kKeyOrClose,    // after '{': a key or '}'
    kKey,           // after ',' in an object: a key
    kColon,
    kCommaOrClose,
    kString,
    kEscape,
    kUnicode,       // reading the four hex digits of \uXXXX
    kLowBackslash,  // after a high surrogate: "\" of the low one must follow
    kLowU,          // ... then "u"
    kNumber,
    kLiteral,
    kAfterDocument,
  };
  // Where a number stands in -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  enum class Num : uint8_t { kMinus, kZero, kInt, kDot, kFrac, kE, kESign, kExp };
  // A bounded copy of a key or value being read.
  struct Text {
    char* buf;
    size_t cap;
    size_t len;
    bool truncated;
  };

  size_t Step(const char* p, const char* end);
  size_t BetweenTokens(char c);
  size_t StringBytes(const char* p, const char* end);
  size_t SkipBytes(const char* p, const char* end);
  // Inside a skipped string: consumes up to its closing quote or `end`; returns where it stopped.
  const char* SkipStringBytes(const char* q, const char* end);
  void StartValue(char c);
  void StartString(bool key);
  void EndString();
  size_t NumberChar(char c);
  void EndNumber();
  void LiteralChar(char c);
  void Open(bool object);
  void Close(char c);
  void AfterValue();
  bool Report(Kind kind, std::string_view text);
  void Append(const char* p, size_t n);
  bool in_object() const;
  void Fail() { status_ = Status::kInvalid; }

  // String escapes (json_scanner_escapes.cc).
  void EscapeChar(char c);
  void UnicodeDigit(char c);
  void LowSurrogateChar(char c);
  void AppendCodePoint(uint32_t cp);

  Status status_ = Status::kScanning;
  State state_ = State::kValue;
  Num num_ = Num::kMinus;
  bool string_is_key_ = false;
  uint8_t hex_digits_ = 0;
  uint8_t literal_pos_ = 0;
  const char* literal_ = nullptr;
  uint32_t code_unit_ = 0;
  uint32_t high_surrogate_ = 0;
  int depth_ = 0;
  bool skipping_ = false;     // inside a container deeper than depth 2 (see SkipBytes)
  bool skip_string_ = false;  // ... and inside a string there
  bool skip_escape_ = false;  // ... right after its backslash
  uint64_t object_bits_[kMaxDepth / 64] = {};  // bit d: container at depth d+1 is {}
  Text* capture_ = nullptr;  // where the string or number being read is copied, if anywhere
  // The copies point into these arrays, which is why a scanner is not copyable.
  char key1_buf_[kMaxKeyBytes] = {};
  char key2_buf_[kMaxKeyBytes] = {};
  char value_buf_[kMaxValueBytes] = {};
  Text key1_{key1_buf_, kMaxKeyBytes, 0, false};
  Text key2_{key2_buf_, kMaxKeyBytes, 0, false};
  Text value_{value_buf_, kMaxValueBytes, 0, false};
};

}  // namespace lagscale::proxy
