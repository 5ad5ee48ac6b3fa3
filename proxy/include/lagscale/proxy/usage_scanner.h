#pragma once

#include <cstddef>
#include <cstdint>

#include "lagscale/proxy/json_scanner.h"

namespace lagscale::proxy {

// UsageScanner: reads the answer to an OpenAI-compatible request as it streams to the client, for
// two things the ledger counts per model: when the first piece of the answer came (the first body
// byte; in a server-sent-events stream the first event, i.e. the first token) and the token counts
// of its `usage` object (`prompt_tokens`, `completion_tokens`).
//
// A plain answer is one JSON document whose top-level "usage" counts once read (what follows it
// is not checked, as for the request's model). A stream (Content-Type
// text/event-stream) is cut into events (RFC 8895 framing: CR, LF or CRLF line ends, a blank line
// ends an event, the `data` lines of an event joined by LF) and the data of each event is scanned
// as a JSON document of its own, judged when the event ends (an event that is not valid JSON
// does not count); the last event carrying a usage object wins (with
// stream_options.include_usage it is the last one before `data: [DONE]`; servers that report
// running totals in every event are counted once, at their final total). Nothing is buffered:
// data is scanned as it passes, so the state is a few hundred bytes whatever the answer's size.
// An event with more than kMaxEventBytes of data is not scanned past that and counts as skipped.
// Thread safety: none; one per connection.
class UsageScanner {
 public:
  static constexpr size_t kMaxEventBytes = 64 * 1024;

  // Prepares for one answer's body. `event_stream`: the answer is server-sent events.
  void Start(bool event_stream);
  // The next piece of the body (de-chunked).
  void Feed(const char* data, size_t len);

  // The first body byte, or for an event stream the first complete event with data, arrived.
  bool first_output() const { return first_output_; }
  bool has_usage() const { return has_usage_; }
  uint64_t prompt_tokens() const { return prompt_; }
  uint64_t completion_tokens() const { return completion_; }
  // Events skipped for being longer than kMaxEventBytes, since Start().
  uint64_t skipped_events() const { return skipped_; }

 private:
  // The usage object of one JSON document.
  class Document final : private JsonScanner {
   public:
    void Reset();
    void Feed(const char* data, size_t len) { JsonScanner::Feed(data, len); }
    void Finish() { JsonScanner::Finish(); }
    // A usage count was read, whatever follows it.
    bool read_any() const { return found_; }
    // A usage count was read and the document was valid JSON to its end (or to the scan's stop).
    bool found() const { return found_ && status() != Status::kInvalid; }
    uint64_t prompt() const { return prompt_; }
    uint64_t completion() const { return completion_; }

   private:
    bool OnScalar(const Scalar& scalar) override;
    uint64_t prompt_ = 0, completion_ = 0;
    bool found_ = false;
    bool has_prompt_ = false, has_completion_ = false;
  };

  // Where the event-stream parser stands within a line.
  enum class Line : uint8_t {
    kStart,    // at the start of a line
    kField,    // reading the field name
    kSpace,    // after "data:": one optional space
    kData,     // the value of a data line
    kIgnored,  // the value of another field, or a comment
  };

  void FeedEvents(const char* data, size_t len);
  size_t LineBytes(const char* p, const char* end);
  void EndLine();
  void EndEvent();
  void BeginDataLine();
  bool IsDataField() const;
  void EventData(const char* p, size_t n);
  void Take(const Document& doc);

  Document doc_;
  bool event_stream_ = false;
  bool first_output_ = false;
  bool has_usage_ = false;
  uint64_t prompt_ = 0, completion_ = 0;
  uint64_t skipped_ = 0;
  // Event-stream state.
  Line line_ = Line::kStart;
  bool after_cr_ = false;  // a CR ended the last line: an LF right after it is part of that end
  char field_[5] = {};     // the field name's first bytes ("data" is all that matters)
  uint8_t field_len_ = 0;
  bool field_long_ = false;
  uint32_t data_lines_ = 0;  // of the current event
  size_t event_bytes_ = 0;
  bool event_skipped_ = false;
};

}  // namespace lagscale::proxy
