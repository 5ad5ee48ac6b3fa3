// KedaScaler: externalscaler.ExternalScaler as callback handlers over the ScalerViewHub.
#include "lagscale/coordinator/keda_scaler.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "externalscaler/externalscaler.grpc.pb.h"
#include "lagscale/base/names.h"
#include "lagscale/base/thread_name.h"

namespace lagscale::coordinator {
namespace {

namespace es = ::externalscaler;

std::map<std::string, std::string> Metadata(const es::ScaledObjectRef& ref) {
  return {ref.scalermetadata().begin(), ref.scalermetadata().end()};
}

std::string ScaledObject(const es::ScaledObjectRef& ref) {
  return ref.namespace_() + "/" + ref.name();
}

// The query of `ref`; an error message when its metadata is bad or its names are not Kubernetes
// names. The ScaledObject's namespace/name are kept for /status, so they are bounded like names.
std::string ParseRef(const es::ScaledObjectRef& ref, KedaQuery& query) {
  for (const std::string* name : {&ref.namespace_(), &ref.name()}) {
    if (!name->empty() && !base::IsValidIdentityName(*name)) {
      return "scaledObjectRef: namespace and name must be Kubernetes names ([A-Za-z0-9._-], at "
             "most " +
             std::to_string(base::kMaxIdentityBytes) + " characters)";
    }
  }
  return ParseKedaQuery(Metadata(ref), query);
}

int64_t UnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

grpc::Status ToStatus(const KedaAnswer& a) {
  return a.code == KedaAnswer::Code::kOk ? grpc::Status::OK
                                         : grpc::Status(grpc::StatusCode::UNAVAILABLE, a.message);
}

void Record(ScalerViewHub& hub, const KedaQuery& q, const char* call, const std::string& so,
            const KedaAnswer& a, double value) {
  hub.RecordRead(KedaRead{q.server ? "server" : "model", q.name, KedaMetricName(q.metric), call, so,
                          a.code == KedaAnswer::Code::kOk ? "ok" : "UNAVAILABLE", value, UnixMs()});
}

// A unary call's query and the latest view's answer to it.
struct Answered {
  KedaQuery query;
  KedaAnswer answer;
};

// Reads the query of `ref` and answers it from the latest view; nullopt when the metadata is bad
// (the call is then finished with INVALID_ARGUMENT).
std::optional<Answered> AnswerOrRefuse(ScalerViewHub& hub, const es::ScaledObjectRef& ref,
                                       grpc::ServerUnaryReactor* reactor) {
  Answered out;
  if (std::string error = ParseRef(ref, out.query); !error.empty()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, error));
    return std::nullopt;
  }
  out.answer = AnswerKedaQuery(*hub.Latest(), out.query);
  return out;
}

}  // namespace

class ActivityStream;

struct KedaScaler::Impl final : public es::ExternalScaler::CallbackService {
  explicit Impl(ScalerViewHub& h) : hub(h) {
    pusher = std::thread([this] {
      base::NameThisThread("keda-push");
      Push();
    });
  }

  grpc::ServerUnaryReactor* IsActive(grpc::CallbackServerContext* ctx,
                                     const es::ScaledObjectRef* ref,
                                     es::IsActiveResponse* out) override;
  grpc::ServerWriteReactor<es::IsActiveResponse>* StreamIsActive(
      grpc::CallbackServerContext* ctx, const es::ScaledObjectRef* ref) override;
  grpc::ServerUnaryReactor* GetMetricSpec(grpc::CallbackServerContext* ctx,
                                          const es::ScaledObjectRef* ref,
                                          es::GetMetricSpecResponse* out) override;
  grpc::ServerUnaryReactor* GetMetrics(grpc::CallbackServerContext* ctx,
                                       const es::GetMetricsRequest* req,
                                       es::GetMetricsResponse* out) override;

  void Push();  // the pusher thread: offers every view whose activity changed to every stream
  void Register(ActivityStream* s);
  void Unregister(ActivityStream* s);
  void Shutdown();

  ScalerViewHub& hub;
  std::thread pusher;
  std::mutex mu;  // guards `streams` and `stopped`
  std::set<ActivityStream*> streams;
  bool stopped = false;
};

// One StreamIsActive call: sends the activity once it is known, then on every change.
class ActivityStream final : public grpc::ServerWriteReactor<es::IsActiveResponse> {
 public:
  ActivityStream(KedaScaler::Impl& owner, KedaQuery query, std::string so)
      : owner_(owner), query_(std::move(query)), so_(std::move(so)) {}

  // Any thread. Unavailable answers are not pushed: the stream holds the last activity.
  void Offer(const ScalerView& view) {
    const KedaAnswer a = AnswerKedaQuery(view, query_);
    if (a.code != KedaAnswer::Code::kOk) return;
    std::lock_guard lock(mu_);
    if (ending_ || (queued_ && *queued_ == a.active)) return;
    queued_ = a.active;
    pending_ = true;
    Record(owner_.hub, query_, "StreamIsActive", so_, a, a.active ? 1 : 0);
    MaybeWrite();
  }

  // Any thread: ends the call once no write is in flight.
  void End(grpc::Status status) {
    std::lock_guard lock(mu_);
    if (ending_) return;
    ending_ = true;
    end_status_ = std::move(status);
    if (!writing_) Finish(end_status_);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    writing_ = false;
    if (ending_) {
      Finish(end_status_);
    } else if (!ok) {
      ending_ = true;
      Finish(grpc::Status::CANCELLED);
    } else {
      MaybeWrite();
    }
  }
  void OnCancel() override { End(grpc::Status::CANCELLED); }
  void OnDone() override {
    owner_.Unregister(this);
    delete this;
  }

 private:
  void MaybeWrite() {  // REQUIRES: mu_ held
    if (writing_ || !pending_) return;
    pending_ = false;
    writing_ = true;
    message_.set_result(*queued_);
    StartWrite(&message_);
  }

  KedaScaler::Impl& owner_;
  const KedaQuery query_;
  const std::string so_;
  std::mutex mu_;               // guards the fields below
  std::optional<bool> queued_;  // the newest activity handed to a write
  bool pending_ = false, writing_ = false, ending_ = false;
  grpc::Status end_status_;
  es::IsActiveResponse message_;
};

// A call refused before it started streaming.
class RefusedStream final : public grpc::ServerWriteReactor<es::IsActiveResponse> {
 public:
  explicit RefusedStream(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

void KedaScaler::Impl::Register(ActivityStream* s) {
  std::lock_guard lock(mu);
  if (stopped) {
    s->End(grpc::Status(grpc::StatusCode::UNAVAILABLE, "coordinator shutting down"));
    return;
  }
  streams.insert(s);
  s->Offer(*hub.Latest());
}

void KedaScaler::Impl::Unregister(ActivityStream* s) {
  std::lock_guard lock(mu);
  streams.erase(s);
}

void KedaScaler::Impl::Push() {
  uint64_t seen = hub.activity_generation();
  while (!hub.closed()) {
    seen = hub.WaitForActivityChange(seen, std::chrono::seconds(1));
    const auto view = hub.Latest();
    std::lock_guard lock(mu);
    for (ActivityStream* s : streams) s->Offer(*view);
  }
}

void KedaScaler::Impl::Shutdown() {
  {
    std::lock_guard lock(mu);
    if (stopped) return;
    stopped = true;
    for (ActivityStream* s : streams) {
      s->End(grpc::Status(grpc::StatusCode::UNAVAILABLE, "coordinator shutting down"));
    }
  }
  hub.Close();
  if (pusher.joinable()) pusher.join();
}

grpc::ServerUnaryReactor* KedaScaler::Impl::IsActive(grpc::CallbackServerContext* ctx,
                                                     const es::ScaledObjectRef* ref,
                                                     es::IsActiveResponse* out) {
  auto* reactor = ctx->DefaultReactor();
  const auto answered = AnswerOrRefuse(hub, *ref, reactor);
  if (!answered) return reactor;
  const auto& [q, a] = *answered;
  out->set_result(a.active);
  Record(hub, q, "IsActive", ScaledObject(*ref), a, a.active ? 1 : 0);
  reactor->Finish(ToStatus(a));
  return reactor;
}

grpc::ServerWriteReactor<es::IsActiveResponse>* KedaScaler::Impl::StreamIsActive(
    grpc::CallbackServerContext*, const es::ScaledObjectRef* ref) {
  KedaQuery q;
  if (std::string error = ParseRef(*ref, q); !error.empty()) {
    return new RefusedStream(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, error));
  }
  auto* stream = new ActivityStream(*this, std::move(q), ScaledObject(*ref));
  Register(stream);
  return stream;
}

grpc::ServerUnaryReactor* KedaScaler::Impl::GetMetricSpec(grpc::CallbackServerContext* ctx,
                                                          const es::ScaledObjectRef* ref,
                                                          es::GetMetricSpecResponse* out) {
  auto* reactor = ctx->DefaultReactor();
  const auto answered = AnswerOrRefuse(hub, *ref, reactor);
  if (!answered) return reactor;
  const auto& [q, a] = *answered;
  auto* spec = out->add_metricspecs();
  spec->set_metricname(q.MetricName());
  spec->set_targetsizefloat(a.target);
  spec->set_targetsize(std::max<int64_t>(1, std::llround(a.target)));
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* KedaScaler::Impl::GetMetrics(grpc::CallbackServerContext* ctx,
                                                       const es::GetMetricsRequest* req,
                                                       es::GetMetricsResponse* out) {
  auto* reactor = ctx->DefaultReactor();
  const auto answered = AnswerOrRefuse(hub, req->scaledobjectref(), reactor);
  if (!answered) return reactor;
  const auto& [q, a] = *answered;
  Record(hub, q, "GetMetrics", ScaledObject(req->scaledobjectref()), a, a.value);
  if (a.code == KedaAnswer::Code::kOk) {
    auto* v = out->add_metricvalues();
    v->set_metricname(req->metricname().empty() ? q.MetricName() : req->metricname());
    v->set_metricvaluefloat(a.value);
    v->set_metricvalue(static_cast<int64_t>(std::ceil(a.value)));
  }
  reactor->Finish(ToStatus(a));
  return reactor;
}

KedaScaler::KedaScaler(ScalerViewHub& hub) : impl_(std::make_unique<Impl>(hub)) {}
KedaScaler::~KedaScaler() { Shutdown(); }
grpc::Service* KedaScaler::service() { return impl_.get(); }
void KedaScaler::Shutdown() { impl_->Shutdown(); }

}  // namespace lagscale::coordinator
