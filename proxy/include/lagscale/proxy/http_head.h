#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lagscale::proxy {

// HttpHead: the start-line text (request target or response reason) and the header fields of one
// HTTP/1.1 message, copied out of the parser's input so they outlive the read buffer.
//
// Bounded: the Append* calls fail once the head passes `max_bytes` or kMaxFields fields, and the
// storage is reused message after message, so a connection allocates only while its largest head
// so far grows (never past the limit).
// Thread safety: none; owned by one connection.
class HttpHead {
 public:
  static constexpr size_t kMaxFields = 256;

  // Forgets the previous message. REQUIRES: max_bytes < 4 GiB.
  void Reset(size_t max_bytes);

  // Parser callbacks; each piece extends the current element. Return false past the limits.
  bool AppendStartText(std::string_view piece);
  bool AppendFieldName(std::string_view piece);
  bool AppendFieldValue(std::string_view piece);

  std::string_view start_text() const { return View(start_off_, start_len_); }
  size_t field_count() const { return fields_.size(); }
  std::string_view name(size_t i) const { return View(fields_[i].name_off, fields_[i].name_len); }
  // The value with surrounding whitespace removed.
  std::string_view value(size_t i) const;
  // How many fields are called `name` (case-insensitively); `first` gets the first one's value.
  size_t Count(std::string_view name, std::string_view* first = nullptr) const;

  // True if every field name is a token (RFC 9110 §5.1) and no value holds a control character
  // other than tab: anything else must not be forwarded.
  bool WellFormed() const;

  // True if the Transfer-Encoding fields name exactly one coding, chunked: the only one the
  // sidecar decodes and writes again. Another (gzip, chunked) would reach the next hop unlabelled.
  bool ChunkedIsTheOnlyCoding() const;

  // True if a field named `name` is hop-by-hop for this message: one of Connection, Keep-Alive,
  // Proxy-Connection, TE, Transfer-Encoding, Upgrade (RFC 9110 §7.6.1) or a field the Connection
  // header lists, except Content-Length and Host, which frame and route the message whatever
  // Connection says. (Trailer, the announcement of trailer fields, is end-to-end: trailers are
  // forwarded.)
  bool IsHopByHop(std::string_view name) const;
  // Appends "Name: value\r\n" for every field that is not hop-by-hop.
  void WriteEndToEndFields(std::string& out) const;
  // The same for a trailer section: also leaves out Content-Length and Host, which a trailer
  // must not carry (RFC 9110 §6.5.1).
  void WriteTrailerFields(std::string& out) const;
  // The same for the head of a response that ends with it (1xx, 204, 304; RFC 9110 §15.2, RFC
  // 9112 §6.3): also leaves out Content-Length, which frames nothing there and which a client's
  // parser (llhttp, so Node.js) would read as announcing a body, swallowing the start of the next
  // response.
  void WriteBodilessFields(std::string& out) const;

 private:
  struct Field {
    uint32_t name_off, name_len, value_off, value_len;
  };
  enum class Last : uint8_t { kStart, kName, kValue };

  std::string_view View(uint32_t off, uint32_t len) const { return {buf_.data() + off, len}; }
  bool Room(size_t n) const { return buf_.size() + n <= max_bytes_; }

  std::string buf_;
  std::vector<Field> fields_;
  uint32_t start_off_ = 0, start_len_ = 0;
  size_t max_bytes_ = 0;
  Last last_ = Last::kStart;
};

// Case-insensitive ASCII comparison, for field names and tokens.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);
// True if the comma-separated `list` contains `token` (case-insensitively, whitespace ignored).
bool ListContains(std::string_view list, std::string_view token);
// Appends the chunk-size line of a chunk of `size` bytes: hex digits and CRLF.
void AppendChunkSize(std::string& out, uint64_t size);

}  // namespace lagscale::proxy
