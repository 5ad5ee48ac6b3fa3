// The response side of a proxied HTTP/1.1 connection: a well-formed client request (one of a few
// shapes, picked by the first input byte) through one proxy worker to an in-process upstream that
// answers every request with the rest of the input, then closes or keeps the connection (bit 3
// of the first byte). See proxy_harness.h.
//
// Invariants checked on every input:
//  - the ledger stays exact (arrivals = completions over the run, in-flight 0 afterwards);
//  - the proxy closes the connection once the client has left;
//  - what the client receives is valid HTTP/1.1 to a strict parser: whatever the upstream sends,
//    the proxy never passes on broken framing (the stream may only stop short, when the upstream
//    failed mid-response and the proxy closed);
//  - a request ends as success exactly when the client received a complete response with a
//    status below 400 for it.
#include <llhttp.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proxy_harness.h"

namespace {

using lagscale::fuzz::InvariantFailed;
using lagscale::fuzz::ProxyHarness;
using lagscale::fuzz::UpstreamAnswer;

struct Shape {
  std::string_view bytes;
  std::vector<bool> heads;  // per request: HEAD
};

const std::array<Shape, 8> kShapes = {{
    {"GET /v2/models/a/infer HTTP/1.1\r\nHost: x\r\n\r\n", {false}},
    {"HEAD /v2/models/a/ready HTTP/1.1\r\nHost: x\r\n\r\n", {true}},
    {"POST /v2/models/a/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody", {false}},
    {"GET /v2/models/a/infer HTTP/1.0\r\n\r\n", {false}},
    {"GET /v2/models/a/infer HTTP/1.1\r\nHost: x\r\n\r\nGET /v2/models/b/infer HTTP/1.1\r\n"
     "Host: x\r\n\r\n",
     {false, false}},
    {"GET /v2/models/a/infer HTTP/1.1\r\nHost: x\r\n\r\nHEAD /v2/models/b/ready HTTP/1.1\r\n"
     "Host: x\r\n\r\n",
     {false, true}},
    {"GET /v2/models/a/infer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", {false}},
    {"POST /v2/models/a/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     "4\r\nbody\r\n0\r\n\r\n",
     {false}},
}};

// What the upstream answers in the current run.
UpstreamAnswer g_answer;

ProxyHarness& Harness() {
  static ProxyHarness harness(lagscale::proxy::ProxyConfig{},
                              [](const lagscale::proxy::RequestStream&) { return g_answer; });
  return harness;
}

// Parses what the client received as the responses to `heads`, strictly.
struct ClientView {
  const std::vector<bool>* heads = nullptr;
  size_t index = 0;  // the request the response being parsed answers
  int status = 0;
  size_t ok_responses = 0;  // complete final responses with status < 400
  size_t final_responses = 0;
  bool at_eof = false;   // llhttp_finish: the client's end of the stream
  size_t ok_at_eof = 0;  // ok responses that only the end of the stream completed

  static ClientView& Of(llhttp_t* p) { return *static_cast<ClientView*>(p->data); }
  static int OnHeadersComplete(llhttp_t* p) {
    ClientView& v = Of(p);
    v.status = p->status_code;
    const bool head = v.index < v.heads->size() && (*v.heads)[v.index];
    return v.status >= 200 && head ? 1 : 0;
  }
  static int OnMessageComplete(llhttp_t* p) {
    ClientView& v = Of(p);
    if (v.status < 200) return 0;  // interim
    ++v.final_responses;
    if (v.status < 400) ++v.ok_responses;
    if (v.status < 400 && v.at_eof) ++v.ok_at_eof;
    ++v.index;
    return 0;
  }
};

void CheckClientStream(const std::string& bytes, const Shape& shape, uint64_t successes) {
  llhttp_settings_t settings;
  llhttp_settings_init(&settings);
  settings.on_headers_complete = &ClientView::OnHeadersComplete;
  settings.on_message_complete = &ClientView::OnMessageComplete;
  llhttp_t parser;
  llhttp_init(&parser, HTTP_RESPONSE, &settings);
  ClientView view;
  view.heads = &shape.heads;
  parser.data = &view;
  llhttp_errno_t err = llhttp_execute(&parser, bytes.data(), bytes.size());
  view.at_eof = true;
  if (err == HPE_OK) llhttp_finish(&parser);  // ends a close-delimited body; short is allowed
  // The proxy's own error answers carry a body even to HEAD; it closes right after them.
  const bool head_error = view.index < shape.heads.size() && shape.heads[view.index] &&
                          (view.status == 502 || view.status == 504);
  if (err != HPE_OK && !head_error) {
    InvariantFailed("client received invalid HTTP", std::string(llhttp_errno_name(err)) + " " +
                                                        llhttp_get_error_reason(&parser) +
                                                        "\n--- client received:\n" + bytes);
  }
  if (view.final_responses > shape.heads.size()) {
    InvariantFailed("client received more responses than it sent requests", bytes);
  }
  // A close-delimited body (HTTP/1.0 client) ends at the close, which the client cannot tell
  // from the proxy closing after an upstream failure or after the client's own abort: such a
  // response may count either way, every other one exactly.
  if (!head_error &&
      (successes > view.ok_responses || successes < view.ok_responses - view.ok_at_eof)) {
    InvariantFailed("success completions != complete responses below 400",
                    "successes=" + std::to_string(successes) + " ok_responses=" +
                        std::to_string(view.ok_responses) + "\n--- client received:\n" + bytes);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const Shape& shape = kShapes[data[0] & 7];
  g_answer.close = (data[0] & 8) != 0;
  g_answer.bytes.assign(reinterpret_cast<const char*>(data) + 1, size - 1);
  const ProxyHarness::Result r = Harness().Run(shape.bytes);
  if (!r.upstream_parse_error.empty()) {
    InvariantFailed("proxy forwarded invalid HTTP", r.upstream_parse_error);
  }
  if (!r.closed) InvariantFailed("proxy kept the connection open after the client left");
  if (r.delta.arrivals != r.delta.completions()) InvariantFailed("arrivals != completions");
  if (r.inflight_after != 0 || r.min_inflight_after != 0) InvariantFailed("in-flight not 0");
  if (r.delta.arrivals > shape.heads.size()) InvariantFailed("more arrivals than requests sent");
  CheckClientStream(r.to_client, shape, r.delta.outcome(lagscale::metrics::Outcome::kSuccess));
  return 0;
}
