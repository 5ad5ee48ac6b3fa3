#include "lagscale/proxy/grpc_proxy.h"

#include <absl/synchronization/mutex.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cctype>
#include <stdexcept>
#include <thread>
#include <vector>

#include "grpc_engine.h"
#include "grpc_proxy_call.h"
#include "h2_engine.h"
#include "lagscale/base/host_port.h"
#include "lagscale/base/tcp_address.h"
#include "lagscale/base/thread_name.h"

namespace lagscale::proxy {

// The calls engine: gRPC's generic async service, and a generic client call per proxied call.
class CallsEngine final : public internal::GrpcEngine {
 public:
  CallsEngine(GrpcProxyOptions options, metrics::Ledger& ledger, size_t first_shard, size_t shard_count,
       metrics::ServerCounters* counters)
      : options_(std::move(options)),
        ledger_(ledger),
        counters_(counters),
        first_(first_shard),
        count_(shard_count) {}

  void Start() override {
    CheckShards();
    // Debian builds Abseil without NDEBUG, so every absl::Mutex that gRPC takes per call also
    // runs the debug build's deadlock detector (a global lock-order graph, itself behind a
    // mutex): a few percent of the passthrough's CPU in perf. Process-wide, and harmless to
    // turn off: the detector finds lock-order bugs in gRPC, it does not prevent them.
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
    StartServer();
    for (size_t i = 0; i < count_; ++i) {
      auto channel = grpc::CreateCustomChannel(
          options_.upstream, grpc::InsecureChannelCredentials(), UpstreamChannelArguments());
      stubs_.push_back(std::make_unique<grpc::GenericStub>(channel));
      envs_.push_back(MakeEnv(i));
    }
    accepting_ = true;
    for (size_t i = 0; i < count_; ++i) {
      // Two calls waiting per queue, so a new call never waits for a thread to re-arm.
      internal::ProxyCall::Listen(*envs_[i]);
      internal::ProxyCall::Listen(*envs_[i]);
      threads_.emplace_back([env = envs_[i].get(), i] {
        base::NameThisThread("grpc-cq-" + std::to_string(i));
        ServeQueue(*env);
      });
    }
  }

  void Shutdown(std::chrono::milliseconds drain) override {
    if (!server_ || stopped_) return;
    stopped_ = true;
    accepting_ = false;
    // Waits for calls in progress until the deadline, then cancels them; cancellation reaches
    // their upstream calls, so every call ends promptly on its own thread.
    server_->Shutdown(std::chrono::system_clock::now() + drain);
    const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (live_.load() > 0 && std::chrono::steady_clock::now() < limit) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    for (auto& cq : cqs_) cq->Shutdown();
    for (auto& t : threads_) t.join();
    if (threads_.empty()) {  // Start() failed half-way: drain the queues here
      for (auto& cq : cqs_) {
        void* tag;
        bool ok;
        while (cq->Next(&tag, &ok)) {
        }
      }
    }
  }

  int port() const override { return port_; }
  std::string address() const override {
    base::HostPort listen{"", static_cast<uint16_t>(port_)};
    if (auto parsed = base::ParseHostPort(options_.listen)) listen.host = parsed->host;
    return base::Dialable(listen).ToString();
  }
  int64_t live() const override { return live_.load(std::memory_order_relaxed); }

 private:
  void CheckShards() const {
    if (count_ == 0 || first_ + count_ > ledger_.shard_count() ||
        (counters_ && first_ + count_ > counters_->shard_count())) {
      throw std::invalid_argument("gRPC proxy: ledger shards out of range");
    }
  }

  // Binds options_.listen with one completion queue per thread and starts the server.
  void StartServer() {
    grpc::ServerBuilder builder;
    // gRPC sets SO_REUSEPORT by default, so a second sidecar on the same port would silently
    // share the calls: bind exclusively, as the HTTP listener's port is.
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    if (options_.idle_timeout.count() > 0) {
      builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                                 static_cast<int>(options_.idle_timeout.count()));
    }
    builder.AddListeningPort(options_.listen, grpc::InsecureServerCredentials(), &port_);
    builder.RegisterAsyncGenericService(&service_);
    // Size limits are the inference server's business: the proxy passes any message.
    builder.SetMaxReceiveMessageSize(-1);
    builder.SetMaxSendMessageSize(-1);
    for (size_t i = 0; i < count_; ++i) cqs_.push_back(builder.AddCompletionQueue());
    server_ = builder.BuildAndStart();
    if (!server_ || port_ == 0) {
      throw std::runtime_error("cannot listen for gRPC on --grpc-listen " + options_.listen + ": " +
                               base::BindError(options_.listen, "--grpc-listen"));
    }
  }

  // The settings of each thread's channel to the upstream.
  grpc::ChannelArguments UpstreamChannelArguments() const {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    args.SetMaxSendMessageSize(-1);
    // No retries: they would buffer every message, and a proxy must not replay calls.
    args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
    // One HTTP/2 connection per thread instead of one shared by all.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    // The upstream is in the same pod: notice it coming back within a second.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    // Despite its name, gRPC uses this as the minimum time a connection attempt gets (TCP and
    // HTTP/2 handshake). At 100 ms a slow or busy machine failed attempts that were merely
    // slow, and the calls waiting on them ended as UNAVAILABLE (upstream_error).
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
                static_cast<int>(options_.connect_timeout.count()));
    return args;
  }

  // What the calls of thread `i` share.
  std::unique_ptr<internal::CallEnv> MakeEnv(size_t i) {
    auto env = std::make_unique<internal::CallEnv>();
    env->service = &service_;
    env->cq = cqs_[i].get();
    env->stub = stubs_[i].get();
    env->shard = &ledger_.shard(first_ + i);
    env->counters = counters_ ? &counters_->shard(first_ + i) : nullptr;
    env->table = &ledger_.table();
    env->model_headers = options_.model_headers;
    env->live = &live_;
    env->accepting = &accepting_;
    env->turn_clock.emplace(ledger_.clock());
    return env;
  }

  // One thread's loop: every event of its queue, until the queue is shut down and drained.
  static void ServeQueue(internal::CallEnv& env) {
    void* tag;
    bool ok;
    while (env.cq->Next(&tag, &ok)) {
      env.turn_clock->NewTurn();
      internal::ProxyCall::Dispatch(tag, ok);
    }
  }

  GrpcProxyOptions options_;
  metrics::Ledger& ledger_;
  metrics::ServerCounters* counters_;
  const size_t first_;
  const size_t count_;
  grpc::AsyncGenericService service_;
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> cqs_;
  std::unique_ptr<grpc::Server> server_;
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs_;
  std::vector<std::unique_ptr<internal::CallEnv>> envs_;
  std::vector<std::thread> threads_;
  std::atomic<int64_t> live_{0};
  std::atomic<bool> accepting_{false};
  int port_ = 0;
  bool stopped_ = false;
};

namespace {

std::unique_ptr<internal::GrpcEngine> MakeEngine(GrpcProxyOptions options,
                                                 metrics::Ledger& ledger, size_t first_shard,
                                                 size_t shard_count,
                                                 metrics::ServerCounters* counters) {
  // Metadata keys arrive lower-case on HTTP/2: both engines compare against lower-case names.
  for (std::string& header : options.model_headers) {
    std::transform(header.begin(), header.end(), header.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  }
  if (options.engine == GrpcProxyOptions::Engine::kFrames) {
    return std::make_unique<internal::FramesEngine>(std::move(options), ledger, first_shard,
                                                    shard_count, counters);
  }
  return std::make_unique<CallsEngine>(std::move(options), ledger, first_shard, shard_count,
                                       counters);
}

}  // namespace

GrpcProxy::GrpcProxy(GrpcProxyOptions options, metrics::Ledger& ledger, size_t first_shard,
                     size_t shard_count, metrics::ServerCounters* counters)
    : impl_(MakeEngine(std::move(options), ledger, first_shard, shard_count, counters)) {}

GrpcProxy::~GrpcProxy() { impl_->Shutdown(std::chrono::milliseconds(0)); }

void GrpcProxy::Start() { impl_->Start(); }
int GrpcProxy::port() const { return impl_->port(); }
std::string GrpcProxy::address() const { return impl_->address(); }
void GrpcProxy::Shutdown(std::chrono::milliseconds drain) { impl_->Shutdown(drain); }
int64_t GrpcProxy::active_calls() const { return impl_->live(); }

}  // namespace lagscale::proxy
