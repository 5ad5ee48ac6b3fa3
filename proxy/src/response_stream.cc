#include "lagscale/proxy/response_stream.h"

#include <charconv>

#include "llhttp_settings.h"

namespace lagscale::proxy {

namespace {

// A server-sent-events answer (Content-Type text/event-stream, parameters allowed).
bool IsEventStream(const HttpHead& head) {
  constexpr std::string_view kType = "text/event-stream";
  std::string_view type;
  if (head.Count("content-type", &type) == 0 || type.size() < kType.size()) return false;
  return EqualsIgnoreCase(type.substr(0, kType.size()), kType) &&
         (type.size() == kType.size() || type[kType.size()] == ';' || type[kType.size()] == ' ');
}

// reason-phrase = *( HTAB / SP / VCHAR / obs-text ) (RFC 9112 section 4): no other control byte.
bool ValidReason(std::string_view reason) {
  for (const char c : reason) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && u != '\t') || u == 0x7f) return false;
  }
  return true;
}

}  // namespace

// The llhttp callbacks: each one step of the message, on the stream in p->data.
struct ResponseStream::Callbacks {
  static ResponseStream& Self(llhttp_t* p) { return StreamOf<ResponseStream>(p); }

  static int OnMessageBegin(llhttp_t* p) {
    ResponseStream& s = Self(p);
    s.head_.Reset(s.max_header_bytes_);
    s.trailers_.Reset(s.max_header_bytes_);
    s.in_head_ = true;
    return 0;
  }

  static int OnStartText(llhttp_t* p, const char* at, size_t len) {
    return Self(p).head_.AppendStartText({at, len}) ? 0 : -1;
  }

  static int OnHeaderField(llhttp_t* p, const char* at, size_t len) {
    ResponseStream& s = Self(p);
    HttpHead& into = s.in_head_ ? s.head_ : s.trailers_;  // after the head: a trailer field
    return into.AppendFieldName({at, len}) ? 0 : -1;
  }

  static int OnHeaderValue(llhttp_t* p, const char* at, size_t len) {
    ResponseStream& s = Self(p);
    HttpHead& into = s.in_head_ ? s.head_ : s.trailers_;
    return into.AppendFieldValue({at, len}) ? 0 : -1;
  }

  static int OnHeadersComplete(llhttp_t* p) {
    ResponseStream& s = Self(p);
    s.in_head_ = false;
    // A reason with control bytes (NUL, VT...) is not forwarded: the client's parser may cut the
    // line there and read the rest as another response.
    if (!s.head_.WellFormed() || !ValidReason(s.head_.start_text())) return -1;
    const int status = p->status_code;
    // llhttp reads any digits as a status; RFC 9110 section 15 makes codes outside 100..599
    // invalid. A client's parser reads a "1" as no interim response at all, so forwarding it made
    // the two sides disagree on where the responses start.
    if (status < 100 || status > 599) return -1;
    if (status == 101) return -1;  // never asked for: Upgrade is not forwarded
    if (status < 200) {
      // An HTTP/1.0 client never gets an interim response (RFC 9110 section 15.2).
      if (s.client_http11_) s.WriteHead(status, /*interim=*/true);
      // An interim response ends with its head (RFC 9110 section 15.2). Told so, llhttp does not
      // read a body that a Transfer-Encoding on it would otherwise announce, which went to the
      // client raw, as if it were the next response.
      return 1;
    }
    s.status_ = status;
    if (s.request_pending_) s.close_client_ = true;
    const bool no_body = s.head_request_ || status == 204 || status == 304;
    if (no_body) {
      s.body_ = Body::kNone;
      // A 204 or 304 ends with its head (RFC 9112 section 6.3). llhttp honours a Transfer-Encoding
      // or a Content-Length on it before its status, so bytes after such a head were read as a body
      // and went to the client, whose parser read them as the next response. A server that frames
      // a body there is broken: what follows on its connection cannot be trusted, so it is not
      // reused. (A 304's Content-Length describes the representation; it is allowed.)
      const bool framed =
          (p->flags & F_TRANSFER_ENCODING) != 0 ||
          (status == 204 && (p->flags & F_CONTENT_LENGTH) != 0 && p->content_length > 0);
      s.framed_without_body_ = framed;
    } else if ((p->flags & F_TRANSFER_ENCODING) != 0 && !s.head_.ChunkedIsTheOnlyCoding()) {
      // A coding besides chunked (gzip, chunked): the body would go to the client re-framed
      // without its coding, so the client would read coded bytes as the content. 502, as nginx.
      return -1;
    } else if ((p->flags & F_CHUNKED) != 0) {
      s.body_ = s.client_http11_ ? Body::kRechunk : Body::kUntilClose;
    } else if ((p->flags & F_CONTENT_LENGTH) != 0) {
      s.body_ = Body::kRaw;
    } else {
      s.until_eof_ = true;
      s.body_ = s.client_http11_ ? Body::kWrapInChunks : Body::kUntilClose;
    }
    if (s.body_ == Body::kUntilClose) s.close_client_ = true;
    if (s.scan_usage_) s.usage_.Start(IsEventStream(s.head_));
    s.WriteHead(status, /*interim=*/false);
    s.final_head_done_ = true;
    return no_body ? 1 : 0;  // 1: no body follows, whatever the head announced
  }

  static int OnBody(llhttp_t* p, const char* at, size_t len) {
    ResponseStream& s = Self(p);
    if (s.scan_usage_) s.usage_.Feed(at, len);
    if (s.body_ == Body::kWrapInChunks) {
      AppendChunkSize(*s.out_, len);
      s.out_->append(at, len).append("\r\n");
    } else {
      s.out_->append(at, len);
    }
    return 0;
  }

  static int OnChunkHeader(llhttp_t* p) {
    ResponseStream& s = Self(p);
    s.chunk_open_ = p->content_length > 0;
    if (s.chunk_open_ && s.body_ == Body::kRechunk) AppendChunkSize(*s.out_, p->content_length);
    return 0;
  }

  static int OnChunkComplete(llhttp_t* p) {
    ResponseStream& s = Self(p);
    if (s.chunk_open_ && s.body_ == Body::kRechunk) s.out_->append("\r\n");
    s.chunk_open_ = false;
    return 0;
  }

  static int OnMessageComplete(llhttp_t* p) {
    ResponseStream& s = Self(p);
    if (s.status_ == 0) return 0;  // the end of an interim response: the final one follows
    if (!s.trailers_.WellFormed()) return -1;
    if (s.body_ == Body::kRechunk) {
      // The last chunk and the upstream's trailer fields. A close-delimited body for an HTTP/1.0
      // client (kUntilClose) has nowhere to put them: they are dropped there.
      s.out_->append("0\r\n");
      s.trailers_.WriteTrailerFields(*s.out_);
      s.out_->append("\r\n");
    } else if (s.body_ == Body::kWrapInChunks) {
      s.out_->append("0\r\n\r\n");
    }
    s.complete_ = true;
    s.upstream_reusable_ =
        llhttp_should_keep_alive(p) != 0 && !s.until_eof_ && !s.framed_without_body_;
    return HPE_PAUSED;
  }
};

const llhttp_settings_t ResponseStream::kSettings = LlhttpSettings<ResponseStream::Callbacks>();

ResponseStream::ResponseStream(size_t max_header_bytes) : max_header_bytes_(max_header_bytes) {
  llhttp_init(&parser_, HTTP_RESPONSE, &kSettings);
  parser_.data = this;
}

void ResponseStream::Start(bool head_request, bool client_http11, bool close_client,
                           bool scan_usage) {
  llhttp_reset(&parser_);
  head_request_ = head_request;
  client_http11_ = client_http11;
  close_client_ = close_client;
  body_ = Body::kNone;
  status_ = 0;
  in_head_ = received_any_ = final_head_done_ = complete_ = failed_ = chunk_open_ = false;
  request_pending_ = false;
  until_eof_ = false;
  framed_without_body_ = false;
  upstream_reusable_ = false;
  scan_usage_ = scan_usage;
  usage_.Start(false);
}

size_t ResponseStream::Feed(const char* data, size_t len, std::string& out) {
  if (failed_ || complete_ || len == 0) return 0;
  received_any_ = true;
  out_ = &out;
  const llhttp_errno_t err = llhttp_execute(&parser_, data, len);
  out_ = nullptr;
  if (err == HPE_OK) return len;
  if (err != HPE_PAUSED) failed_ = true;
  return static_cast<size_t>(llhttp_get_error_pos(&parser_) - data);
}

bool ResponseStream::FinishOnEof(std::string& out) {
  if (failed_ || complete_) return complete_;
  out_ = &out;
  const llhttp_errno_t err = llhttp_finish(&parser_);
  out_ = nullptr;
  if (err != HPE_OK && err != HPE_PAUSED) failed_ = true;
  upstream_reusable_ = false;
  return complete_;
}

void ResponseStream::WriteHead(int status, bool interim) {
  std::string& out = *out_;
  char code[8];
  const auto end = std::to_chars(code, code + sizeof code, status).ptr;
  out.append("HTTP/1.1 ").append(code, end).append(" ").append(head_.start_text()).append("\r\n");
  if (interim || status == 204 || status == 304) {
    head_.WriteBodilessFields(out);
  } else {
    head_.WriteEndToEndFields(out);
  }
  if (!interim) {
    if (body_ == Body::kRechunk || body_ == Body::kWrapInChunks) {
      out.append("Transfer-Encoding: chunked\r\n");
    }
    if (close_client_) {
      out.append("Connection: close\r\n");
    } else if (!client_http11_) {
      out.append("Connection: keep-alive\r\n");
    }
  }
  out.append("\r\n");
}

}  // namespace lagscale::proxy
