#include "lagscale/proxy/usage_scanner.h"

#include <charconv>
#include <cstring>
#include <string_view>

namespace lagscale::proxy {

void UsageScanner::Start(bool event_stream) {
  event_stream_ = event_stream;
  first_output_ = has_usage_ = false;
  prompt_ = completion_ = skipped_ = 0;
  line_ = Line::kStart;
  after_cr_ = false;
  field_len_ = 0;
  field_long_ = false;
  data_lines_ = 0;
  event_bytes_ = 0;
  event_skipped_ = false;
  doc_.Reset();
}

void UsageScanner::Feed(const char* data, size_t len) {
  if (len == 0) return;
  if (event_stream_) {
    FeedEvents(data, len);
    return;
  }
  first_output_ = true;
  doc_.Feed(data, len);
  if (doc_.read_any()) Take(doc_);
}

void UsageScanner::Take(const Document& doc) {
  has_usage_ = true;
  prompt_ = doc.prompt();
  completion_ = doc.completion();
}

void UsageScanner::FeedEvents(const char* data, size_t len) {
  const char* p = data;
  const char* const end = data + len;
  while (p < end) p += LineBytes(p, end);
}

// Consumes what it can of [p, end) within the current line; 0 means "look at this byte again".
size_t UsageScanner::LineBytes(const char* p, const char* end) {
  const char c = *p;
  if (after_cr_) {
    after_cr_ = false;
    if (c == '\n') return 1;  // the LF of a CRLF
  }
  switch (line_) {
    case Line::kStart:
    case Line::kField:
      if (c == '\r' || c == '\n') {
        after_cr_ = c == '\r';
        EndLine();
        return 1;
      }
      if (line_ == Line::kStart) {
        line_ = Line::kField;
        field_len_ = 0;
        field_long_ = false;
      }
      if (c == ':') {
        line_ = IsDataField() ? Line::kSpace : Line::kIgnored;
        if (line_ == Line::kSpace) BeginDataLine();
      } else if (field_len_ < sizeof field_) {
        field_[field_len_++] = c;
      } else {
        field_long_ = true;
      }
      return 1;
    case Line::kSpace:
      line_ = Line::kData;
      return c == ' ' ? 1 : 0;
    case Line::kData:
    case Line::kIgnored:
      break;
  }
  const char* q = p;
  while (q < end && *q != '\r' && *q != '\n') ++q;
  if (line_ == Line::kData) EventData(p, static_cast<size_t>(q - p));
  if (q == end) return static_cast<size_t>(q - p);
  after_cr_ = *q == '\r';
  EndLine();
  return static_cast<size_t>(q - p) + 1;
}

bool UsageScanner::IsDataField() const {
  return !field_long_ && std::string_view(field_, field_len_) == "data";
}

// Data lines of one event are joined with LF, which JSON reads as whitespace.
void UsageScanner::BeginDataLine() {
  if (data_lines_++ > 0) EventData("\n", 1);
}

void UsageScanner::EndLine() {
  if (line_ == Line::kStart) {
    EndEvent();  // a blank line
  } else if (line_ == Line::kField && IsDataField()) {
    BeginDataLine();  // "data" alone: a data line with an empty value
  }
  line_ = Line::kStart;
}

void UsageScanner::EventData(const char* p, size_t n) {
  event_bytes_ += n;
  if (event_bytes_ > kMaxEventBytes) {
    event_skipped_ = true;
    return;
  }
  doc_.Feed(p, n);
}

void UsageScanner::EndEvent() {
  if (data_lines_ == 0) return;  // no data: not an event anyone receives
  first_output_ = true;
  if (event_skipped_) {
    ++skipped_;
  } else {
    doc_.Finish();
    if (doc_.found()) Take(doc_);
  }
  doc_.Reset();
  data_lines_ = 0;
  event_bytes_ = 0;
  event_skipped_ = false;
}

void UsageScanner::Document::Reset() {
  JsonScanner::Reset();
  prompt_ = completion_ = 0;
  found_ = has_prompt_ = has_completion_ = false;
}

// usage.prompt_tokens and usage.completion_tokens, as non-negative integers; the scan stops once
// both are read.
bool UsageScanner::Document::OnScalar(const Scalar& scalar) {
  if (scalar.depth != 2 || scalar.kind != Kind::kNumber || scalar.key1 != "usage") return false;
  const bool prompt = scalar.key2 == "prompt_tokens";
  if (!prompt && scalar.key2 != "completion_tokens") return false;
  uint64_t n = 0;
  const char* end = scalar.text.data() + scalar.text.size();
  const auto [ptr, ec] = std::from_chars(scalar.text.data(), end, n);
  if (ec != std::errc() || ptr != end) return false;
  (prompt ? prompt_ : completion_) = n;
  (prompt ? has_prompt_ : has_completion_) = true;
  found_ = true;
  return has_prompt_ && has_completion_;
}

}  // namespace lagscale::proxy
