#include "lagscale/proxy/http_head.h"

#include <algorithm>
#include <array>

namespace lagscale::proxy {

namespace {

constexpr std::array<std::string_view, 6> kHopByHop = {
    "connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade"};

// Fields a trailer section must not carry (RFC 9110 section 6.5.1): they frame or route the
// message, which is settled by the time trailers arrive.
constexpr std::array<std::string_view, 2> kNotInTrailers = {"content-length", "host"};

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

bool ListContains(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    if (EqualsIgnoreCase(Trim(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

void AppendChunkSize(std::string& out, uint64_t size) {
  static constexpr char kHex[] = "0123456789abcdef";
  char digits[16];
  int n = 0;
  do {
    digits[n++] = kHex[size & 0xf];
    size >>= 4;
  } while (size != 0);
  while (n > 0) out.push_back(digits[--n]);
  out.append("\r\n");
}

void HttpHead::Reset(size_t max_bytes) {
  buf_.clear();
  fields_.clear();
  start_off_ = start_len_ = 0;
  max_bytes_ = max_bytes;
  last_ = Last::kStart;
}

bool HttpHead::AppendStartText(std::string_view piece) {
  if (!Room(piece.size())) return false;
  if (start_len_ == 0) start_off_ = static_cast<uint32_t>(buf_.size());
  buf_.append(piece);
  start_len_ += static_cast<uint32_t>(piece.size());
  return true;
}

bool HttpHead::AppendFieldName(std::string_view piece) {
  // Each field costs at least its separators ": " and CRLF in the limit, like on the wire.
  if (!Room(piece.size() + 4)) return false;
  if (last_ != Last::kName) {
    if (fields_.size() == kMaxFields) return false;
    const auto off = static_cast<uint32_t>(buf_.size());
    fields_.push_back(Field{off, 0, off, 0});
    last_ = Last::kName;
  }
  buf_.append(piece);
  fields_.back().name_len += static_cast<uint32_t>(piece.size());
  return true;
}

bool HttpHead::AppendFieldValue(std::string_view piece) {
  if (fields_.empty() || !Room(piece.size())) return false;
  Field& f = fields_.back();
  if (last_ != Last::kValue) {
    f.value_off = static_cast<uint32_t>(buf_.size());
    last_ = Last::kValue;
  }
  buf_.append(piece);
  f.value_len += static_cast<uint32_t>(piece.size());
  return true;
}

std::string_view HttpHead::value(size_t i) const {
  return Trim(View(fields_[i].value_off, fields_[i].value_len));
}

size_t HttpHead::Count(std::string_view field, std::string_view* first) const {
  size_t n = 0;
  for (size_t i = 0; i < fields_.size(); ++i) {
    if (!EqualsIgnoreCase(name(i), field)) continue;
    if (n++ == 0 && first != nullptr) *first = value(i);
  }
  return n;
}

bool HttpHead::WellFormed() const {
  auto is_tchar = [](unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
  };
  for (size_t i = 0; i < fields_.size(); ++i) {
    const std::string_view n = name(i);
    if (n.empty()) return false;
    for (char c : n) {
      if (!is_tchar(static_cast<unsigned char>(c))) return false;
    }
    for (char c : View(fields_[i].value_off, fields_[i].value_len)) {
      const auto u = static_cast<unsigned char>(c);
      if ((u < 0x20 && c != '\t') || u == 0x7f) return false;
    }
  }
  return true;
}

bool HttpHead::ChunkedIsTheOnlyCoding() const {
  size_t codings = 0;
  bool chunked = false;
  for (size_t i = 0; i < fields_.size(); ++i) {
    if (!EqualsIgnoreCase(name(i), "transfer-encoding")) continue;
    std::string_view list = value(i);
    for (;;) {
      const size_t comma = list.find(',');
      if (const std::string_view coding = Trim(list.substr(0, comma)); !coding.empty()) {
        ++codings;
        chunked = EqualsIgnoreCase(coding, "chunked");
      }
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  return codings == 1 && chunked;
}

bool HttpHead::IsHopByHop(std::string_view field) const {
  for (std::string_view h : kHopByHop) {
    if (EqualsIgnoreCase(field, h)) return true;
  }
  // Content-Length and Host frame and route the message: a Connection header naming them must
  // not strip them, or the body goes on without its length and the next hop reads it as the
  // start of the next request on the connection (request smuggling).
  if (EqualsIgnoreCase(field, "content-length") || EqualsIgnoreCase(field, "host")) return false;
  for (size_t i = 0; i < fields_.size(); ++i) {
    if (EqualsIgnoreCase(name(i), "connection") && ListContains(value(i), field)) return true;
  }
  return false;
}

void HttpHead::WriteEndToEndFields(std::string& out) const {
  for (size_t i = 0; i < fields_.size(); ++i) {
    if (IsHopByHop(name(i))) continue;
    out.append(name(i)).append(": ").append(value(i)).append("\r\n");
  }
}

void HttpHead::WriteBodilessFields(std::string& out) const {
  for (size_t i = 0; i < fields_.size(); ++i) {
    const std::string_view n = name(i);
    if (IsHopByHop(n) || EqualsIgnoreCase(n, "content-length")) continue;
    out.append(n).append(": ").append(value(i)).append("\r\n");
  }
}

void HttpHead::WriteTrailerFields(std::string& out) const {
  for (size_t i = 0; i < fields_.size(); ++i) {
    const std::string_view n = name(i);
    if (IsHopByHop(n) || std::any_of(kNotInTrailers.begin(), kNotInTrailers.end(),
                                     [&](std::string_view f) { return EqualsIgnoreCase(n, f); })) {
      continue;
    }
    out.append(n).append(": ").append(value(i)).append("\r\n");
  }
}

}  // namespace lagscale::proxy
