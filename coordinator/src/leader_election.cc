// Lease-based leader election, client-go's algorithm; see leader_election.h.
#include "lagscale/coordinator/leader_election.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "json_input.h"
#include "kube_api.h"
#include "lagscale/base/thread_name.h"
#include "lagscale/coordinator/api_responses.h"

namespace lagscale::coordinator {
namespace {

using nlohmann::json;

// metav1.MicroTime: RFC 3339 with exactly six fractional digits, UTC.
std::string MicroTime(int64_t unix_ns) {
  const time_t secs = static_cast<time_t>(unix_ns / 1'000'000'000);
  const long micros = static_cast<long>((unix_ns % 1'000'000'000) / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%06ldZ", micros);
  return buf;
}

std::string ErrorOf(const HttpResponse& res, const std::string& what) {
  if (res.status == 0) return what + ": " + res.error;
  std::string out = what + ": HTTP " + std::to_string(res.status);
  if (const std::string message = ApiStatusMessage(res.body); !message.empty()) {
    out += " " + message;
  }
  return out;
}

// A Lease's spec as this elector writes it.
json Spec(const std::string& holder, int duration_s, const json& acquire_time,
          const std::string& renew_time, int64_t transitions) {
  return {{"holderIdentity", holder},
          {"leaseDurationSeconds", duration_s},
          {"acquireTime", acquire_time},
          {"renewTime", renew_time},
          {"leaseTransitions", transitions}};
}

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// [a-z0-9]([-a-z0-9]*[a-z0-9])?: one label of an RFC 1123 DNS name, of any length.
bool IsDnsLabelShape(std::string_view s) {
  return !s.empty() && IsLowerAlnum(s.front()) && IsLowerAlnum(s.back()) &&
         std::all_of(s.begin(), s.end(), [](char c) { return IsLowerAlnum(c) || c == '-'; });
}

// A namespace name, as the API server checks it (IsDNS1123Label): one label, at most 63 bytes.
bool IsNamespaceName(std::string_view s) { return s.size() <= 63 && IsDnsLabelShape(s); }

// A Lease's name, as the API server checks it (IsDNS1123Subdomain): labels joined by '.', at most
// 253 bytes. Anything else would not even make a well-formed request path.
bool IsObjectName(std::string_view s) {
  if (s.size() > 253) return false;
  for (;;) {
    const size_t dot = s.find('.');
    if (!IsDnsLabelShape(s.substr(0, dot))) return false;
    if (dot == std::string_view::npos) return true;
    s.remove_prefix(dot + 1);
  }
}

}  // namespace

void ValidateLeaderElection(const LeaderElectionConfig& c) {
  auto bad = [](const std::string& flag, const std::string& why) {
    throw std::invalid_argument(flag + ": " + why);
  };
  if (c.identity.empty()) bad("--leader-elect-identity", "empty (set POD_NAME or the flag)");
  if (!IsObjectName(c.lease_name)) {
    bad("--leader-elect-resource-name",
        "invalid value \"" + c.lease_name +
            "\" (expected a Kubernetes object name: at most 253 lower-case letters, digits, '-' "
            "and '.', starting and ending with a letter or digit)");
  }
  if (!IsNamespaceName(c.lease_namespace)) {
    bad("--leader-elect-resource-namespace",
        "invalid value \"" + c.lease_namespace +
            "\" (expected a Kubernetes namespace: at most 63 lower-case letters, digits and '-', "
            "starting and ending with a letter or digit; without the flag it is $POD_NAMESPACE, "
            "else the service account's)");
  }
  const std::pair<const char*, double> durations[] = {
      {"--leader-elect-lease-duration", c.lease_duration_s},
      {"--leader-elect-renew-deadline", c.renew_deadline_s},
      {"--leader-elect-retry-period", c.retry_period_s}};
  for (const auto& [flag, seconds] : durations) {
    if (seconds > kMaxLeaderElectionSeconds) {
      bad(flag, std::to_string(seconds) + "s is over the maximum of " +
                    std::to_string(static_cast<int>(kMaxLeaderElectionSeconds)) + "s");
    }
  }
  if (!(c.retry_period_s > 0)) bad("--leader-elect-retry-period", "must be positive");
  // client-go's own checks: the renew deadline must leave room for jittered retries, and the
  // lease must outlast the renew deadline (that gap is what keeps two leaders apart).
  if (!(c.renew_deadline_s > c.retry_period_s * 1.2)) {
    bad("--leader-elect-renew-deadline",
        std::to_string(c.renew_deadline_s) + "s must exceed 1.2 x the retry period");
  }
  if (!(c.lease_duration_s > c.renew_deadline_s)) {
    bad("--leader-elect-lease-duration",
        std::to_string(c.lease_duration_s) + "s must exceed the renew deadline");
  }
}

// The Lease as last read or written, and when the record last changed by our clock.
struct LeaderElector::State {
  explicit State(const KubeConnection& c) : api(c) {}
  KubeApi api;
  json lease;               // the whole object (metadata.resourceVersion included)
  std::string record;       // its spec, serialised: a change restarts the expiry clock
  int64_t observed_ns = 0;  // when `record` was first seen (our monotonic clock)
  std::mt19937_64 rng{std::random_device{}()};

  // Keeps the Lease as read or written at `at_ns`; a changed spec restarts the expiry clock.
  void Observe(json next, int64_t at_ns) {
    const auto spec_it = next.find("spec");
    const std::string next_record = spec_it != next.end() ? spec_it->dump() : "{}";
    if (next_record != record) {
      record = next_record;
      observed_ns = at_ns;
    }
    lease = std::move(next);
  }
};

LeaderElector::LeaderElector(LeaderElectionConfig config, const KubeConnection& connection,
                             const base::Clock* clock)
    : config_(std::move(config)),
      clock_(clock ? clock : &base::SystemClock::Get()),
      state_(std::make_unique<State>(connection)) {
  ValidateLeaderElection(config_);
  status_.identity = config_.identity;
  status_.lease = config_.lease_namespace + "/" + config_.lease_name;
}

LeaderElector::~LeaderElector() { Stop(); }

bool LeaderElector::Leading() const {
  return leading_.load(std::memory_order_acquire) &&
         clock_->MonotonicNs() < valid_until_ns_.load(std::memory_order_acquire);
}

LeadershipStatus LeaderElector::Status() const {
  std::lock_guard lock(mu_);
  LeadershipStatus s = status_;
  s.leading = Leading();
  return s;
}

void LeaderElector::Became(bool leading) {
  if (leading_.load() == leading) return;
  {
    std::lock_guard lock(mu_);
    if (leading) {
      ++status_.acquired;
      status_.leading_since_unix_ms = clock_->UnixNs() / 1'000'000;
    } else {
      ++status_.lost;
      status_.leading_since_unix_ms = 0;
    }
  }
  if (leading) term_.fetch_add(1, std::memory_order_acq_rel);
  leading_.store(leading, std::memory_order_release);
  if (leading) {
    spdlog::info("leader election: {} now leads (lease {}/{})", config_.identity,
                 config_.lease_namespace, config_.lease_name);
  } else {
    spdlog::warn("leader election: {} stopped leading", config_.identity);
  }
}

std::string LeaderElector::LeasesPath() const {
  return "/apis/coordination.k8s.io/v1/namespaces/" + config_.lease_namespace + "/leases";
}

std::string LeaderElector::LeasePath() const { return LeasesPath() + "/" + config_.lease_name; }

double LeaderElector::CallTimeoutSeconds() const { return config_.renew_deadline_s / 2; }

bool LeaderElector::TryAcquireOrRenew() {
  State& s = *state_;
  const int64_t start_ns = clock_->MonotonicNs();
  const std::string now = MicroTime(clock_->UnixNs());
  // 1. Read the Lease; create it when there is none.
  const HttpResponse got = s.api.Call("GET", LeasePath(), "", "", CallTimeoutSeconds());
  if (got.status == 404) return Create(now, start_ns);
  if (got.status != 200) return Fail(ErrorOf(got, "GET " + LeasePath()));
  json lease = ParseUntrustedJson(got.body);
  if (!lease.is_object()) return Fail("GET " + LeasePath() + ": not a JSON object");
  if (!lease.contains("spec") || !lease["spec"].is_object()) lease["spec"] = json::object();
  const int64_t read_ns = clock_->MonotonicNs();
  s.Observe(std::move(lease), read_ns);
  ShowHolder();

  // 2. Someone else holds a Lease that has not expired by our own observation: wait.
  const LeaseSpec old = ReadLeaseSpec(s.lease);
  const bool ours = old.holder == config_.identity;
  if (!old.holder.empty() && !ours && s.observed_ns + old.duration_s * 1'000'000'000 > read_ns) {
    Became(false);  // we may have been paused past our deadline and been replaced
    ClearError();   // a standby only reads: this read is its success
    return false;
  }

  // 3. Take or renew it, with the resourceVersion just read (optimistic concurrency).
  json next = s.lease;
  next["spec"] = Spec(config_.identity, DurationSeconds(),
                      ours && old.acquire_time.is_string() ? old.acquire_time : json(now), now,
                      old.transitions + (ours ? 0 : 1));
  const HttpResponse put =
      s.api.Call("PUT", LeasePath(), next.dump(), "application/json", CallTimeoutSeconds());
  if (put.status == 200 || put.status == 201) return Succeeded(put.body, start_ns);
  return Fail(ErrorOf(put, "PUT " + LeasePath()));  // 409: the Lease moved on since our read
}

bool LeaderElector::Create(const std::string& now, int64_t start_ns) {
  const json lease = {
      {"apiVersion", "coordination.k8s.io/v1"},
      {"kind", "Lease"},
      {"metadata", {{"name", config_.lease_name}, {"namespace", config_.lease_namespace}}},
      {"spec", Spec(config_.identity, DurationSeconds(), now, now, 0)}};
  const HttpResponse made = state_->api.Call("POST", LeasesPath(), lease.dump(), "application/json",
                                             CallTimeoutSeconds());
  if (made.status == 200 || made.status == 201) return Succeeded(made.body, start_ns);
  return Fail(ErrorOf(made, "POST " + LeasesPath()));  // 409: another candidate created it
}

bool LeaderElector::Fail(const std::string& error) {
  std::lock_guard lock(mu_);
  if (status_.last_error != error) spdlog::warn("leader election: {}", error);
  status_.last_error = error;
  return false;
}

void LeaderElector::ShowHolder() {
  const LeaseSpec spec = ReadLeaseSpec(state_->lease);
  std::lock_guard lock(mu_);
  status_.holder = spec.holder;
  status_.lease_transitions = spec.transitions;
}

bool LeaderElector::Succeeded(const std::string& reply, int64_t start_ns) {
  try {
    json lease = ParseUntrustedJson(reply);
    if (!lease.is_object()) return Fail("lease written but its reply is not a JSON object");
    state_->Observe(std::move(lease), clock_->MonotonicNs());
    ShowHolder();
  } catch (const std::exception& e) {
    return Fail(std::string("lease written but its reply is not a Lease: ") + e.what());
  }
  valid_until_ns_.store(start_ns + static_cast<int64_t>(config_.renew_deadline_s * 1e9));
  ClearError();
  Became(true);
  return true;
}

void LeaderElector::ClearError() {
  std::lock_guard lock(mu_);
  status_.last_error.clear();
}

int LeaderElector::DurationSeconds() const {
  return static_cast<int>(std::ceil(config_.lease_duration_s));
}

void LeaderElector::CheckDeadline() {
  if (leading_.load() && clock_->MonotonicNs() >= valid_until_ns_.load()) Became(false);
}

void LeaderElector::Release() {
  State& s = *state_;
  if (!leading_.load() || s.lease.is_null()) return;
  Became(false);  // stop actuating before anyone else can start
  const std::string now = MicroTime(clock_->UnixNs());
  json next = s.lease;
  const int64_t transitions = ReadLeaseSpec(next).transitions;
  next["spec"] = Spec("", 1, now, now, transitions);
  const std::string path = LeasePath();
  const HttpResponse put =
      s.api.Call("PUT", path, next.dump(), "application/json", CallTimeoutSeconds());
  if (put.status == 200) {
    spdlog::info("leader election: released lease {}/{}", config_.lease_namespace,
                 config_.lease_name);
  } else {
    spdlog::warn("leader election: release failed ({}); the lease expires on its own",
                 ErrorOf(put, "PUT " + path));
  }
}

void LeaderElector::Start() {
  if (thread_.joinable()) return;
  {
    std::lock_guard lock(stop_mu_);
    stop_ = false;
  }
  thread_ = std::thread([this] {
    base::NameThisThread("leader-elect");
    Run();
  });
}

void LeaderElector::Stop() {
  {
    std::lock_guard lock(stop_mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (!thread_.joinable()) return;
  thread_.join();
  Release();
}

void LeaderElector::Run() {
  std::uniform_real_distribution<double> jitter(0, 1.2);  // client-go's JitterFactor
  for (;;) {
    const bool renewing = leading_.load();
    if (!TryAcquireOrRenew()) CheckDeadline();
    // A leader renews every retry period; a candidate waits a jittered retry period.
    double wait_s = config_.retry_period_s;
    if (!leading_.load() && !renewing) wait_s *= 1 + jitter(state_->rng);
    std::unique_lock lock(stop_mu_);
    if (stop_cv_.wait_for(lock, std::chrono::duration<double>(wait_s), [this] { return stop_; })) {
      return;
    }
  }
}

namespace {

class LeaderOnly final : public Actuator {
 public:
  LeaderOnly(std::unique_ptr<Actuator> inner, const Leadership& leadership)
      : inner_(std::move(inner)), leadership_(leadership) {}
  const char* name() const override { return inner_->name(); }
  ActuationResult Apply(const ScaleRequest& request) override {
    if (!leadership_.Leading()) {
      ActuationResult out;
      out.status = ActuationResult::Status::kSkipped;
      out.error = "not the leader: not written";
      return out;
    }
    return inner_->Apply(request);
  }
  TargetReading Read(const ScaleTarget& target) override { return inner_->Read(target); }

 private:
  std::unique_ptr<Actuator> inner_;
  const Leadership& leadership_;
};

}  // namespace

std::unique_ptr<Actuator> MakeLeaderOnlyActuator(std::unique_ptr<Actuator> inner,
                                                 const Leadership& leadership) {
  return std::make_unique<LeaderOnly>(std::move(inner), leadership);
}

}  // namespace lagscale::coordinator
