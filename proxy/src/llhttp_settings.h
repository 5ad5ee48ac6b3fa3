#pragma once

#include <llhttp.h>

namespace lagscale::proxy {

// The llhttp callback table of a stream parser (RequestStream, ResponseStream), written once.
// Callbacks holds the stream's callbacks as static functions of llhttp's signatures, named after
// the llhttp settings they fill. The start line's text (a request's target, a response's reason)
// comes through OnStartText: llhttp calls on_url only for requests and on_status only for
// responses, so one table serves both directions.
template <typename Callbacks>
llhttp_settings_t LlhttpSettings() {
  llhttp_settings_t s;
  llhttp_settings_init(&s);
  s.on_message_begin = &Callbacks::OnMessageBegin;
  s.on_url = &Callbacks::OnStartText;
  s.on_status = &Callbacks::OnStartText;
  s.on_header_field = &Callbacks::OnHeaderField;
  s.on_header_value = &Callbacks::OnHeaderValue;
  s.on_headers_complete = &Callbacks::OnHeadersComplete;
  s.on_body = &Callbacks::OnBody;
  s.on_chunk_header = &Callbacks::OnChunkHeader;
  s.on_chunk_complete = &Callbacks::OnChunkComplete;
  s.on_message_complete = &Callbacks::OnMessageComplete;
  return s;
}

// The stream a parser belongs to: each stream sets parser.data to itself.
template <typename Stream>
Stream& StreamOf(llhttp_t* parser) {
  return *static_cast<Stream*>(parser->data);
}

}  // namespace lagscale::proxy
