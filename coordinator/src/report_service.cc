// LagService.Report as a callback bidi reactor feeding the Engine queue.
#include "lagscale/coordinator/report_service.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <cctype>
#include <chrono>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string_view>

#include "lagscale/base/host_port.h"
#include "lagscale/base/last_good.h"
#include "lagscale/base/tcp_address.h"
#include "lagscale/base/text_file.h"
#include "lagscale/v1/lag.grpc.pb.h"

namespace lagscale::coordinator {
namespace {

// Compares without an early exit so the time taken does not reveal how much of a guess matched.
bool SameSecret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// The token of an "Authorization: Bearer <token>" value; the scheme is case-insensitive (RFC 9110
// 11.1) and may be followed by more than one space. Empty when the scheme is not Bearer.
std::string BearerCredentials(std::string_view value) {
  constexpr std::string_view kScheme = "bearer";
  if (value.size() <= kScheme.size() || value[kScheme.size()] != ' ') return {};
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(value[i])) != kScheme[i]) return {};
  }
  value.remove_prefix(kScheme.size());
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  return std::string(value);
}

// The --token-file, read again at most once a second as streams open: a token rotated in place
// (a mounted Secret) takes effect, and a revoked one stops working, without a restart. A file
// briefly unreadable, empty or invalid during a rotation keeps the last good token (logged once).
class RotatingToken {
 public:
  explicit RotatingToken(const std::string& path) {
    if (path.empty()) return;
    token_.emplace([path] { return base::ReadTokenFile(path, "--token-file"); },
                   "keeping the last good token");
  }
  bool enabled() const { return token_.has_value(); }
  bool Accepts(std::string_view credentials) {
    std::lock_guard lock(mu_);
    if (token_->RereadEvery(std::chrono::seconds(1))) {
      spdlog::info("--token-file: the token changed; streams must present it");
    }
    return SameSecret(credentials, token_->value());
  }

 private:
  std::mutex mu_;  // guards token_
  std::optional<base::LastGood<std::string>> token_;
};

// The stream is read and written as raw bytes and parsed here: gRPC's own parsing reports a message
// that is not a PodReport as the end of the stream, which would then finish OK.
using RawReactor = grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>;

class Refused final : public RawReactor {
 public:
  explicit Refused(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

// What a coordinator that does not lead answers: the sidecar's reporter backs off and reconnects.
grpc::Status NotLeader() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                      "this coordinator is not the leader; reconnect to reach it");
}

class ReportReactor final : public RawReactor {
 public:
  ReportReactor(Engine& engine, CoordinatorMetrics* metrics)
      : engine_(engine), producer_(engine), metrics_(metrics) {
    if (metrics_) metrics_->OnStreamOpened();
    StartRead(&read_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The sidecar closed its side (or the stream broke): finish once no ack is in flight.
      EndReading(grpc::Status::OK);
      return;
    }
    if (!engine_.Leading()) {
      // Leadership moved on: end the stream so the sidecar reconnects (through the Service) and
      // finds the new leader. The report is dropped; the next one carries the same counters.
      if (metrics_) metrics_->OnNotLeader();
      EndReading(NotLeader());
      return;
    }
    const size_t bytes = read_.Length();
    v1::PodReport* report = producer_.Next();
    if (!grpc::SerializationTraits<v1::PodReport>::Deserialize(&read_, report).ok()) {
      // Not a PodReport (another protocol, a truncated message, a string that is not UTF-8): a
      // client that sends one will not send a good one next, so the stream ends saying why.
      if (metrics_) metrics_->OnReport(Aggregator::Outcome::kInvalid, 0);
      EndReading(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                              "a message on this stream is not a valid lagscale.v1.PodReport"));
      return;
    }
    const uint64_t incarnation = report->incarnation();
    const uint64_t sequence = report->sequence();
    if (!producer_.EnqueueNext(bytes)) {
      // The decision loop is behind by kMaxQueuedReportBytes: shed, unacknowledged. The stream
      // stays open and the pod's next report carries the same cumulative counters.
      if (metrics_) metrics_->OnReportShed();
      StartRead(&read_);
      return;
    }
    {
      std::lock_guard lock(mu_);
      // Acks are cumulative in meaning: if one is still being written, the newest replaces the
      // queued one rather than piling up behind a slow reader.
      next_.set_incarnation(incarnation);
      next_.set_sequence(sequence);
      has_next_ = true;
      MaybeWrite();
    }
    StartRead(&read_);
  }

  void OnWriteDone(bool ok) override {
    bool finish = false;
    {
      std::lock_guard lock(mu_);
      writing_ = false;
      if (ok)
        MaybeWrite();
      else
        has_next_ = false;
      finish = !writing_ && reading_done_;
    }
    // A failed write means the stream is broken: the pending read fails too and ends the call.
    if (finish) Finish(end_);
  }

  void OnDone() override {
    if (metrics_) metrics_->OnStreamClosed();
    delete this;
  }

 private:
  // No more reads: the call ends with `status` once no ack is being written.
  void EndReading(grpc::Status status) {
    bool finish = false;
    {
      std::lock_guard lock(mu_);
      reading_done_ = true;
      end_ = std::move(status);
      finish = !writing_;
    }
    if (finish) Finish(end_);
  }

  void MaybeWrite() {  // REQUIRES: mu_ held
    if (writing_ || !has_next_) return;
    bool own = false;
    grpc::SerializationTraits<v1::ReportAck>::Serialize(next_, &ack_, &own);
    has_next_ = false;
    writing_ = true;
    StartWrite(&ack_);
  }

  Engine& engine_;
  Engine::Producer producer_;  // keeps this stream's reports in order (read side only)
  CoordinatorMetrics* metrics_;
  grpc::ByteBuffer read_;  // read side only
  std::mutex mu_;          // guards the fields below
  grpc::ByteBuffer ack_;   // being written
  v1::ReportAck next_;     // to write next
  bool has_next_ = false, writing_ = false, reading_done_ = false;
  grpc::Status end_ = grpc::Status::OK;  // how the call ends once reading is done
};

}  // namespace

struct ReportServer::Service final
    : public v1::LagService::WithRawCallbackMethod_Report<v1::LagService::Service> {
  Service(Engine& e, CoordinatorMetrics* m, std::string token_file)
      : engine(e), metrics(m), token(std::move(token_file)) {}

  RawReactor* Report(grpc::CallbackServerContext* context) override {
    if (token.enabled()) {
      const auto& md = context->client_metadata();
      auto it = md.find("authorization");
      const bool ok = it != md.end() &&
                      token.Accepts(BearerCredentials({it->second.data(), it->second.size()}));
      if (!ok) {
        if (metrics) metrics->OnUnauthenticated();
        return new Refused(
            grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "missing or wrong bearer token"));
      }
    }
    if (!engine.Leading()) {
      if (metrics) metrics->OnNotLeader();
      return new Refused(NotLeader());
    }
    return new ReportReactor(engine, metrics);
  }

  Engine& engine;
  CoordinatorMetrics* metrics;
  RotatingToken token;
};

ReportServer::ReportServer(const std::string& listen, Engine& engine, CoordinatorMetrics* metrics,
                           std::string token_file, const ReportTlsOptions& tls,
                           grpc::Service* extra_service)
    : service_(std::make_unique<Service>(engine, metrics, std::move(token_file))) {
  // Checked here, as every listen flag is: gRPC would take "host" or "host:99999" its own way.
  if (auto parsed = base::ParseHostPort(listen, "--grpc-listen", base::EmptyHost::kWildcard);
      !parsed) {
    throw std::invalid_argument(parsed.error());
  }
  grpc::ServerBuilder builder;
  // gRPC would set SO_REUSEPORT, letting a second coordinator silently share the port.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  tls_ = std::make_unique<ReportServerTls>(tls);
  builder.AddListeningPort(listen, tls_->credentials(), &port_);
  builder.RegisterService(service_.get());
  if (extra_service) builder.RegisterService(extra_service);  // KEDA's external scaler
  // Sidecars keep their stream open for days; keepalive notices the ones that vanished.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 30'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10'000);
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0) {
    throw std::runtime_error("cannot listen on --grpc-listen " + listen + ": " +
                             base::BindError(listen, "--grpc-listen"));
  }
}

ReportServer::~ReportServer() { Shutdown(); }

void ReportServer::Shutdown() {
  if (!server_) return;
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server_->Wait();
  server_.reset();
}

}  // namespace lagscale::coordinator
