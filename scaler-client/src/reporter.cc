#include "lagscale/scaler_client/reporter.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <stdexcept>

#include "lagscale/base/pending_ops.h"
#include "lagscale/base/text_file.h"
#include "lagscale/base/thread_name.h"
#include "lagscale/v1/lag.grpc.pb.h"
#include "report.h"
#include "tls.h"

namespace lagscale::scaler_client {
namespace {

using SteadyClock = std::chrono::steady_clock;

// gRPC's canonical code names, for log lines an operator reads.
std::string_view CodeName(grpc::StatusCode code) {
  static constexpr std::string_view kNames[] = {"OK",
                                                "CANCELLED",
                                                "UNKNOWN",
                                                "INVALID_ARGUMENT",
                                                "DEADLINE_EXCEEDED",
                                                "NOT_FOUND",
                                                "ALREADY_EXISTS",
                                                "PERMISSION_DENIED",
                                                "RESOURCE_EXHAUSTED",
                                                "FAILED_PRECONDITION",
                                                "ABORTED",
                                                "OUT_OF_RANGE",
                                                "UNIMPLEMENTED",
                                                "INTERNAL",
                                                "UNAVAILABLE",
                                                "DATA_LOSS",
                                                "UNAUTHENTICATED"};
  const auto i = static_cast<size_t>(code);
  return i < std::size(kNames) ? kNames[i] : "UNKNOWN";
}

uint64_t SeedFromOs() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

// One connection attempt: its channel, the call and the operations in flight on it. At most one
// operation of each kind is outstanding; the stream is dropped once none is.
struct Stream {
  enum Op : uint8_t { kStart, kWrite, kRead, kFinish, kOpCount };
  using Ops = base::PendingOps<Stream, Op>;
  // The call, in order.
  enum class Phase : uint8_t {
    kConnecting,  // StartCall issued
    kOpen,        // started; an ack is always being read
    kEnded,       // the start or a read failed; Finish waits for the write in flight
    kFinishing,   // Finish issued; the status says why the call ended
  };

  Ops ops{this};
  std::unique_ptr<lagscale::v1::LagService::Stub> stub;
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientAsyncReaderWriter<lagscale::v1::PodReport, lagscale::v1::ReportAck>>
      rpc;
  lagscale::v1::PodReport out;
  lagscale::v1::ReportAck ack;
  grpc::Status status;
  Phase phase = Phase::kConnecting;
  bool write_pending = false;
  bool started = false;       // the call was established: a coordinator answered
  bool acknowledged = false;  // an ack has been read: a coordinator takes this stream's reports
  // The last sequence counted as acknowledged: once a report is sent, at least the one before it.
  uint64_t acked = UINT64_MAX;
  bool timed_out = false;  // cancelled for taking longer than connect_timeout to start
};

}  // namespace

// The report thread's state; lives on that thread only.
class Reporter::Loop {
 public:
  Loop(Reporter& r, uint64_t seed)
      : r_(r),
        rng_(seed),
        identity_{r.options_.server_name, r.options_.pod_name, r.incarnation_},
        backoff_(r.options_.backoff_initial) {}

  void Run() {
    const auto now = SteadyClock::now();
    next_attempt_ = next_poll_ = next_report_ = next_warning_ = now;
    bool cancelled = false;
    while (true) {
      SteadyClock::time_point wake;
      if (r_.stop_.load()) {
        if (!stream_) break;
        if (!cancelled) stream_->ctx.TryCancel();  // its operations now fail fast
        cancelled = true;
        wake = SteadyClock::now() + std::chrono::milliseconds(10);
      } else {
        const auto t = SteadyClock::now();
        if (!stream_ && t >= next_attempt_) Connect();
        if (t >= next_poll_) {
          Poll(t);
          next_poll_ = t + r_.options_.poll_interval;
        }
        wake = stream_ ? next_poll_ : std::min(next_poll_, next_attempt_);
      }
      void* tag;
      bool ok;
      // gRPC takes the wake-up time on its own monotonic clock.
      const int64_t wait_ns = std::max<int64_t>(
          0,
          std::chrono::duration_cast<std::chrono::nanoseconds>(wake - SteadyClock::now()).count());
      const gpr_timespec deadline =
          gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_nanos(wait_ns, GPR_TIMESPAN));
      if (cq_.AsyncNext(&tag, &ok, deadline) == grpc::CompletionQueue::GOT_EVENT) {
        const Stream::Ops::Tag& t = Stream::Ops::Returned(tag);
        Handle(*t.ops->owner(), t.op, ok);
      }
    }
    cq_.Shutdown();
    void* tag;
    bool ok;
    while (cq_.Next(&tag, &ok)) {
    }
  }

 private:
  void Connect() {
    const ReporterOptions& o = r_.options_;
    // Rotation may leave the file briefly unreadable, empty or wrong: the last good token stays.
    if (r_.token_) r_.token_->Reread();
    grpc::ChannelArguments args;
    // A fresh channel per attempt with its own subchannel: our backoff decides when to retry,
    // not a shared subchannel still waiting out an earlier failure.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    stream_ = std::make_unique<Stream>();
    connect_started_ = SteadyClock::now();
    stream_->stub = lagscale::v1::LagService::NewStub(
        grpc::CreateCustomChannel(o.coordinator, r_.tls_->Credentials(), args));
    if (r_.token_) stream_->ctx.AddMetadata("authorization", "Bearer " + r_.token_->value());
    stream_->rpc = stream_->stub->PrepareAsyncReport(&stream_->ctx, &cq_);
    stream_->rpc->StartCall(stream_->ops.Start(Stream::kStart));
  }

  bool Usable() const { return stream_ && stream_->phase == Stream::Phase::kOpen; }

  void Poll(SteadyClock::time_point now) {
    // An attempt that neither connects nor fails (an address that accepts and then says nothing,
    // a peer gone mid-handshake) would otherwise wait out gRPC's own 20 s connect deadline.
    if (stream_ && stream_->phase == Stream::Phase::kConnecting && !stream_->timed_out &&
        now - connect_started_ >= r_.options_.connect_timeout) {
      stream_->timed_out = true;
      stream_->ctx.TryCancel();  // its start fails; Drop backs off and tries again
    }
    const bool due = now >= next_report_;
    if (!Usable()) {
      // A stream still connecting gets one interval: the report goes out once it is up.
      const bool connecting = stream_ && stream_->phase == Stream::Phase::kConnecting &&
                              now - connect_started_ < r_.options_.interval;
      if (due &&
          !connecting) {  // this report is lost; the next one carries the same cumulative counters
        r_.counters_.report_failures().fetch_add(1, std::memory_order_relaxed);
        next_report_ = now + r_.options_.interval;
        Warn(now);
      }
      return;
    }
    if (!due && r_.options_.early_threshold <= 0) return;
    metrics::LedgerSnapshot snapshot = r_.ledger_.Snapshot();
    const bool early = !due && Jumped(snapshot);
    if (!due && !early) return;
    if (stream_->write_pending) {  // never queue: send the newest snapshot when the write is done
      send_when_written_ = true;
      return;
    }
    Send(snapshot, early);
  }

  // True if any model's in-flight rose by the threshold since the last report.
  bool Jumped(const metrics::LedgerSnapshot& snapshot) const {
    const int64_t threshold = r_.options_.early_threshold;
    auto rose = [&](const std::string& name, const metrics::ModelStats& stats) {
      auto it = reported_inflight_.find(name);
      return stats.inflight() - (it == reported_inflight_.end() ? 0 : it->second) >= threshold;
    };
    if (rose("", snapshot.unattributed)) return true;
    return std::any_of(snapshot.models.begin(), snapshot.models.end(),
                       [&](const auto& m) { return rose(m.first, m.second); });
  }

  void Send(const metrics::LedgerSnapshot& snapshot, bool early) {
    const int64_t unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
    stream_->out = BuildReport(snapshot, identity_, ++sequence_, unix_ms, early);
    if (stream_->acked == UINT64_MAX) stream_->acked = sequence_ - 1;
    reported_inflight_.clear();
    reported_inflight_[""] = snapshot.unattributed.inflight();
    for (const auto& [name, stats] : snapshot.models) reported_inflight_[name] = stats.inflight();
    next_report_ = SteadyClock::now() + r_.options_.interval;
    stream_->write_pending = true;
    stream_->rpc->Write(stream_->out, stream_->ops.Start(Stream::kWrite));
  }

  void Handle(Stream& s, Stream::Op op, bool ok) {
    switch (op) {
      case Stream::kStart:
        OnStarted(s, ok);
        break;
      case Stream::kWrite:
        OnWritten(s, ok);
        break;
      case Stream::kRead:
        OnRead(s, ok);
        break;
      case Stream::kFinish:
      case Stream::kOpCount:
        break;
    }
    if (s.ops.Settled()) Drop(s);
  }

  void OnStarted(Stream& s, bool ok) {
    if (ok) {
      s.phase = Stream::Phase::kOpen;
      s.started = true;
      r_.connected_.store(true, std::memory_order_relaxed);
      s.rpc->Read(&s.ack, s.ops.Start(Stream::kRead));
      next_report_ = next_poll_ = SteadyClock::now();  // tell the coordinator at once
    } else {
      s.phase = Stream::Phase::kEnded;  // no read was issued; the status says why
      MaybeFinish(s);
    }
  }

  void OnWritten(Stream& s, bool ok) {
    s.write_pending = false;
    if (ok) {
      if (send_when_written_ && s.phase == Stream::Phase::kOpen && !r_.stop_.load()) {
        send_when_written_ = false;
        Send(r_.ledger_.Snapshot(), false);
      }
    } else {
      s.ctx.TryCancel();  // the call is dead; make the read fail too
    }
    MaybeFinish(s);
  }

  // The coordinator's acks say that the stream is alive: keep reading until it is not. The first
  // one on a stream proves that a coordinator takes the reports (a written report only proves
  // that the bytes left: a coordinator that does not lead takes the call and then refuses it), so
  // only then does the backoff start over.
  void OnRead(Stream& s, bool ok) {
    if (ok) {
      // Acks are cumulative (a slow reader gets the newest only): count every report up to the
      // one acknowledged, sent on this stream, by this process.
      if (s.ack.incarnation() == identity_.incarnation && s.ack.sequence() > s.acked &&
          s.ack.sequence() <= sequence_) {
        r_.counters_.reports_sent().fetch_add(s.ack.sequence() - s.acked,
                                              std::memory_order_relaxed);
        s.acked = s.ack.sequence();
      }
      if (!s.acknowledged) {
        s.acknowledged = true;
        if (backoff_ != r_.options_.backoff_initial || !announced_) {
          spdlog::info("reporting to coordinator {}", r_.options_.coordinator);
          announced_ = true;
        }
        backoff_ = r_.options_.backoff_initial;
      }
      s.rpc->Read(&s.ack, s.ops.Start(Stream::kRead));
    } else {
      s.phase = Stream::Phase::kEnded;
      MaybeFinish(s);
    }
  }

  // Finish() only once no read or write is outstanding (they share call state in gRPC).
  void MaybeFinish(Stream& s) {
    if (s.phase != Stream::Phase::kEnded || s.write_pending) return;
    s.phase = Stream::Phase::kFinishing;
    s.rpc->Finish(&s.status, s.ops.Start(Stream::kFinish));
  }

  void Drop(Stream& s) {
    r_.connected_.store(false, std::memory_order_relaxed);
    send_when_written_ = false;
    if (!r_.stop_.load()) {
      r_.counters_.report_failures().fetch_add(1, std::memory_order_relaxed);
      last_error_ =
          s.timed_out ? "not connected within " +
                            std::to_string(r_.options_.connect_timeout.count()) + " ms"
          : s.status.error_message().empty()
              ? "stream ended"
              : std::string(CodeName(s.status.error_code())) + ": " + s.status.error_message();
      if (!s.started && s.status.error_message().find("Socket closed") != std::string::npos) {
        last_error_ += ClosedHint();
      }
      std::uniform_real_distribution<double> jitter(0.5, 1.0);
      next_attempt_ = SteadyClock::now() + std::chrono::duration_cast<std::chrono::milliseconds>(
                                               backoff_ * jitter(rng_));
      backoff_ = std::min(backoff_ * 2, Ceiling(s));
      Warn(SteadyClock::now());
    }
    stream_.reset();
  }

  // gRPC says only "Socket closed" when the coordinator closed the connection before the call
  // started, which is also how a TLS server refuses a plaintext client or a client certificate it
  // does not accept. What that likely means, by how this sidecar connects.
  std::string ClosedHint() const {
    const ReporterOptions& o = r_.options_;
    if (o.ca_file.empty()) {
      return "; a coordinator serving TLS closes plaintext connections: is --coordinator-ca "
             "needed?";
    }
    if (o.cert_file.empty()) {
      return "; a coordinator requiring client certificates closes connections without one: are "
             "--coordinator-cert and --coordinator-key needed?";
    }
    return "; a coordinator that does not accept this client certificate closes the connection: "
           "its log says why";
  }

  // A coordinator that took the call and refused it with UNAVAILABLE is a standby: it answers
  // at once, and the leader is one reconnection (through the Service) away, so the wait stays
  // short. Anything else (nothing listening, a silent address, a wrong token) waits up to the max.
  std::chrono::milliseconds Ceiling(const Stream& s) const {
    const bool standby = s.started && s.status.error_code() == grpc::StatusCode::UNAVAILABLE;
    return standby ? std::min(r_.options_.backoff_max, r_.options_.standby_backoff_max)
                   : r_.options_.backoff_max;
  }

  // Degraded mode is logged at most once per interval.
  void Warn(SteadyClock::time_point now) {
    if (now < next_warning_) return;
    next_warning_ = now + std::max(r_.options_.interval, std::chrono::milliseconds(1000));
    spdlog::warn(
        "coordinator {} not taking reports ({}); {} report failures so far; serving continues",
        r_.options_.coordinator, last_error_.empty() ? "connecting" : last_error_,
        r_.counters_.report_failures().load(std::memory_order_relaxed));
  }

  Reporter& r_;
  std::mt19937_64 rng_;
  ReportIdentity identity_;
  grpc::CompletionQueue cq_;
  std::unique_ptr<Stream> stream_;
  uint64_t sequence_ = 0;
  std::map<std::string, int64_t> reported_inflight_;  // per model ("" = unattributed)
  bool send_when_written_ = false;
  bool announced_ = false;
  std::string last_error_;
  std::chrono::milliseconds backoff_;
  SteadyClock::time_point connect_started_;
  SteadyClock::time_point next_attempt_, next_poll_, next_report_, next_warning_;
};

Reporter::Reporter(ReporterOptions options, const metrics::Ledger& ledger,
                   metrics::ServerCounters& counters)
    : options_(std::move(options)), ledger_(ledger), counters_(counters) {
  if (options_.seed == 0) options_.seed = SeedFromOs();
  std::mt19937_64 rng(options_.seed);
  incarnation_ = rng() | 1;  // never 0, which reads as "unset" on the wire
}

Reporter::~Reporter() { Stop(); }

void Reporter::Start() {
  if (options_.coordinator.empty()) {
    throw std::runtime_error("--coordinator is empty: nothing to report to");
  }
  if (!options_.token_file.empty()) {
    token_ = std::make_unique<base::LastGood<std::string>>(
        [path = options_.token_file] {
          return base::ReadTokenFile(path, "--coordinator-token-file");
        },
        "reporting with the last good token");
  }
  tls_ = std::make_unique<ReportChannelTls>(options_);
  stop_ = false;
  thread_ = std::thread([this, seed = options_.seed + 1] {
    base::NameThisThread("report");
    Loop(*this, seed).Run();
  });
}

void Reporter::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

}  // namespace lagscale::scaler_client
