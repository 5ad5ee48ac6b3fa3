#include "lagscale/proxy/request_stream.h"

#include "llhttp_settings.h"

namespace lagscale::proxy {

namespace {

// The host[:port] of an absolute-form target ("http://u@h:1/x" -> "h:1"); empty for origin form.
std::string_view AuthorityOf(std::string_view target) {
  const size_t scheme = target.find("://");
  if (target.starts_with('/') || scheme == std::string_view::npos) return {};
  target.remove_prefix(scheme + 3);
  target = target.substr(0, target.find_first_of("/?#"));
  const size_t at = target.rfind('@');  // userinfo is never part of Host
  return at == std::string_view::npos ? target : target.substr(at + 1);
}

}  // namespace

// The llhttp callbacks: each one step of the message, on the stream in p->data.
struct RequestStream::Callbacks {
  static RequestStream& Self(llhttp_t* p) { return StreamOf<RequestStream>(p); }

  static int OnMessageBegin(llhttp_t* p) {
    RequestStream& s = Self(p);
    s.head_.Reset(s.limits_.max_header_bytes);
    s.trailers_.Reset(s.limits_.max_header_bytes);
    s.started_ = true;
    s.body_bytes_ = 0;
    s.model_header_ = {};
    s.openai_ = s.model_in_body_ = false;
    s.chunked_ = s.chunk_open_ = false;
    return 0;
  }

  static int OnStartText(llhttp_t* p, const char* at, size_t len) {
    RequestStream& s = Self(p);
    return s.head_.AppendStartText({at, len}) ? 0 : s.Fail(metrics::ParseError::kHeaderTooLarge);
  }

  static int OnHeaderField(llhttp_t* p, const char* at, size_t len) {
    RequestStream& s = Self(p);
    HttpHead& into = s.head_done_ ? s.trailers_ : s.head_;  // after the head: a trailer field
    return into.AppendFieldName({at, len}) ? 0 : s.Fail(metrics::ParseError::kHeaderTooLarge);
  }

  static int OnHeaderValue(llhttp_t* p, const char* at, size_t len) {
    RequestStream& s = Self(p);
    HttpHead& into = s.head_done_ ? s.trailers_ : s.head_;
    return into.AppendFieldValue({at, len}) ? 0 : s.Fail(metrics::ParseError::kHeaderTooLarge);
  }

  static int OnHeadersComplete(llhttp_t* p) {
    RequestStream& s = Self(p);
    s.method_ = p->method;
    // HTTP/0.9 (a request line without a version) has no head to forward: refused, not upgraded.
    if (p->http_major != 1) return s.Fail(metrics::ParseError::kMalformed);
    // CONNECT asks for a tunnel; the sidecar forwards requests to one server and opens none.
    if (p->method == HTTP_CONNECT) return s.Fail(metrics::ParseError::kMalformed);
    // Upgrade is hop-by-hop and not forwarded, so the upstream answers in HTTP/1.1 and the
    // connection stays HTTP/1.1: the parser must not take the bytes after this request for
    // another protocol.
    p->upgrade = 0;
    s.http11_ = p->http_major == 1 && p->http_minor >= 1;
    s.keep_alive_ = llhttp_should_keep_alive(p) != 0;
    s.chunked_ = (p->flags & F_CHUNKED) != 0;
    // llhttp already refuses Content-Length with Transfer-Encoding, a repeated Content-Length and a
    // request Transfer-Encoding that does not end in chunked; these checks keep that true whatever
    // the parser version, refuse a coding besides chunked (gzip, chunked: the sidecar would
    // forward the gzip bytes as chunked alone), and add Host, which HTTP/1.1 requires exactly
    // once.
    const size_t lengths = s.head_.Count("content-length");
    const size_t encodings = s.head_.Count("transfer-encoding");
    if (lengths > 1 || (lengths > 0 && encodings > 0) ||
        (encodings > 0 && !s.head_.ChunkedIsTheOnlyCoding())) {
      return s.Fail(metrics::ParseError::kSmuggling);
    }
    if (!s.head_.WellFormed()) return s.Fail(metrics::ParseError::kMalformed);
    // llhttp lets a tab (and other control bytes) through in the target; a URI has none (RFC
    // 3986), and a server may split the line there.
    for (const char c : s.head_.start_text()) {
      const auto u = static_cast<unsigned char>(c);
      if (u <= 0x20 || u == 0x7f) return s.Fail(metrics::ParseError::kMalformed);
    }
    const size_t hosts = s.head_.Count("host");
    if (hosts > 1 || (s.http11_ && hosts == 0)) return s.Fail(metrics::ParseError::kMalformed);
    s.FindModel();
    if (s.limits_.max_body_bytes != 0 && (p->flags & F_CONTENT_LENGTH) != 0 &&
        p->content_length > s.limits_.max_body_bytes) {
      s.head_done_ = true;  // the head is valid: the caller counts the request before refusing it
      return s.Fail(metrics::ParseError::kBodyTooLarge);
    }
    s.WriteHead();
    s.head_done_ = true;
    return 0;
  }

  static int OnBody(llhttp_t* p, const char* at, size_t len) {
    RequestStream& s = Self(p);
    s.body_bytes_ += len;
    if (s.limits_.max_body_bytes != 0 && s.body_bytes_ > s.limits_.max_body_bytes) {
      return s.Fail(metrics::ParseError::kBodyTooLarge);
    }
    if (s.model_in_body_ && s.body_model_.result() == JsonModelScanner::Result::kScanning) {
      s.body_model_.Feed(at, len);
    }
    s.out_->append(at, len);
    return 0;
  }

  static int OnChunkHeader(llhttp_t* p) {
    RequestStream& s = Self(p);
    s.chunk_open_ = p->content_length > 0;
    if (s.chunk_open_) AppendChunkSize(*s.out_, p->content_length);
    return 0;
  }

  static int OnChunkComplete(llhttp_t* p) {
    RequestStream& s = Self(p);
    if (s.chunk_open_) s.out_->append("\r\n");
    s.chunk_open_ = false;
    return 0;
  }

  static int OnMessageComplete(llhttp_t* p) {
    RequestStream& s = Self(p);
    if (s.chunked_) {
      if (!s.trailers_.WellFormed()) return s.Fail(metrics::ParseError::kMalformed);
      // The last chunk, then the trailer fields (chunk extensions are not kept: they have no
      // meaning beyond one hop).
      s.out_->append("0\r\n");
      s.trailers_.WriteTrailerFields(*s.out_);
      s.out_->append("\r\n");
    }
    if (s.model_in_body_) s.body_model_.Finish();  // no "model" by the end: none
    s.message_done_ = true;
    return HPE_PAUSED;
  }
};

const llhttp_settings_t RequestStream::kSettings = LlhttpSettings<RequestStream::Callbacks>();

RequestStream::RequestStream(Limits limits, const ModelRouting* routing)
    : limits_(limits), routing_(routing) {
  llhttp_init(&parser_, HTTP_REQUEST, &kSettings);
  parser_.data = this;
  head_.Reset(limits_.max_header_bytes);
  trailers_.Reset(limits_.max_header_bytes);
}

size_t RequestStream::Feed(const char* data, size_t len, std::string& out) {
  if (failed_ || message_done_ || len == 0) return 0;
  out_ = &out;
  const llhttp_errno_t err = llhttp_execute(&parser_, data, len);
  out_ = nullptr;
  if (err == HPE_OK) {
    // Padding (spaces before a value, say) is read but not stored: a head that is still not
    // complete is held to the limit by the bytes read, so it cannot grow past one read over it.
    if (!head_done_ && !failed_ && (head_bytes_ += len) > limits_.max_header_bytes) {
      failed_ = true;
      error_ = metrics::ParseError::kHeaderTooLarge;
    }
    return len;
  }
  const size_t consumed = static_cast<size_t>(llhttp_get_error_pos(&parser_) - data);
  if (err == HPE_PAUSED) return consumed;  // the end of one request
  if (!failed_) {
    // llhttp refused the bytes itself; framing ambiguities are told apart from plain garbage.
    failed_ = true;
    error_ = (err == HPE_UNEXPECTED_CONTENT_LENGTH || err == HPE_INVALID_TRANSFER_ENCODING ||
              err == HPE_INVALID_CONTENT_LENGTH)
                 ? metrics::ParseError::kSmuggling
                 : metrics::ParseError::kMalformed;
  }
  return consumed;
}

void RequestStream::NextMessage() {
  message_done_ = head_done_ = started_ = false;
  head_bytes_ = 0;
  llhttp_resume(&parser_);
}

bool RequestStream::idempotent() const {
  switch (method_) {
    case HTTP_GET:
    case HTTP_HEAD:
    case HTTP_PUT:
    case HTTP_DELETE:
    case HTTP_OPTIONS:
    case HTTP_TRACE:
      return true;
    default:
      return false;
  }
}

int RequestStream::error_status() const {
  switch (error_) {
    case metrics::ParseError::kHeaderTooLarge:
      return 431;
    case metrics::ParseError::kBodyTooLarge:
      return 413;
    case metrics::ParseError::kHeaderTimeout:
      return 408;
    default:
      return 400;
  }
}

int RequestStream::Fail(metrics::ParseError e) {
  failed_ = true;
  error_ = e;
  return HPE_USER;
}

// Where the current request's model is: a header, else (on an OpenAI path) the body, else the
// target, which the caller reads.
void RequestStream::FindModel() {
  if (routing_ == nullptr) return;
  model_header_ = ModelHeader(*routing_, head_);
  openai_ = method_ == HTTP_POST && IsOpenAiPath(*routing_, target());
  model_in_body_ = openai_ && model_header_.empty();
  if (model_in_body_) body_model_.Reset();
}

void RequestStream::WriteHead() {
  std::string& out = *out_;
  out.append(llhttp_method_name(static_cast<llhttp_method_t>(method_)))
      .append(" ")
      .append(head_.start_text())
      .append(" HTTP/1.1\r\n");
  head_.WriteEndToEndFields(out);
  // An HTTP/1.0 request may come without Host; forwarded as HTTP/1.1 it must have one, with the
  // target's authority or empty when it has none (RFC 9112 section 3.2), or the upstream
  // rightly refuses it.
  if (head_.Count("host") == 0) out.append("Host: ").append(AuthorityOf(target())).append("\r\n");
  if (chunked_) out.append("Transfer-Encoding: chunked\r\n");
  out.append("\r\n");
}

}  // namespace lagscale::proxy
