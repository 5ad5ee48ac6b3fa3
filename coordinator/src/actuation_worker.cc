// The actuation thread: coalesces decisions per target, rate-limits, retries with backoff.
#include "lagscale/coordinator/actuation_worker.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include "lagscale/base/thread_name.h"

namespace lagscale::coordinator {
namespace {

using SteadyClock = std::chrono::steady_clock;

SteadyClock::duration FromSeconds(double s) {
  return std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(s));
}

}  // namespace

std::string ScaleRequest::Key() const { return TargetKey{kind, name}.ToString(); }

std::string TargetKey::ToString() const {
  return (kind == TargetKind::kModel ? "model/" : "server/") + name;
}

const char* StatusName(ActuationResult::Status status) {
  switch (status) {
    case ActuationResult::Status::kOk:
      return "ok";
    case ActuationResult::Status::kRetry:
      return "retry";
    case ActuationResult::Status::kFailed:
      return "failed";
    case ActuationResult::Status::kSkipped:
      return "skipped";
  }
  return "unknown";
}

ActuationWorker::ActuationWorker(std::unique_ptr<Actuator> actuator, WorkerOptions options)
    : actuator_(std::move(actuator)), name_(actuator_->name()), options_(options) {
  thread_ = std::thread([this] {
    base::NameThisThread("actuate");
    Run();
  });
}

ActuationWorker::~ActuationWorker() { Stop(); }

void ActuationWorker::Stop() {
  stop_.store(true);
  commands_.enqueue(Command{});  // wake the thread
  if (thread_.joinable()) thread_.join();
}

void ActuationWorker::Submit(ScaleRequest request) {
  Command c;
  c.kind = Command::Kind::kDecide;
  c.request = std::move(request);
  commands_.enqueue(std::move(c));
}

void ActuationWorker::RequestRead(TargetKey key, ScaleTarget target) {
  Command c;
  c.kind = Command::Kind::kRead;
  c.key = std::move(key);
  c.target = std::move(target);
  commands_.enqueue(std::move(c));
}

void ActuationWorker::Run() {
  RunState st;
  while (!stop_.load()) {
    WaitForCommands(st);
    if (stop_.load()) break;
    AnswerReads(st);
    ApplyDue(st);
  }
}

void ActuationWorker::WaitForCommands(RunState& st) {
  // Sleep until the next pending decision is due or a command arrives.
  const auto now = SteadyClock::now();
  auto wake = now + std::chrono::milliseconds(200);
  for (const auto& [key, p] : st.pending) wake = std::min(wake, p.not_before);
  Command c;
  if (commands_.wait_dequeue_timed(c, std::max<SteadyClock::duration>(wake - now, {}))) {
    Absorb(c, st);
    while (commands_.try_dequeue(c)) Absorb(c, st);
  }
}

void ActuationWorker::Absorb(Command& c, RunState& st) {
  if (c.kind == Command::Kind::kRead) {
    st.reads[c.key] = std::move(c.target);
    return;
  }
  if (c.kind == Command::Kind::kWake || c.request.name.empty()) return;  // nothing to actuate
  const std::string key = c.request.Key();
  auto it = st.pending.find(key);
  if (it != st.pending.end()) {
    // Newest wins, but it keeps the backoff the target earned: its attempts and its next try.
    it->second.request = std::move(c.request);
    return;
  }
  SteadyTime not_before{};
  if (auto l = st.last.find(key); l != st.last.end()) {
    not_before = l->second + FromSeconds(options_.min_interval_s);
  }
  st.pending.emplace(key, Pending{std::move(c.request), 0, not_before});
}

void ActuationWorker::AnswerReads(RunState& st) {
  for (auto& [key, target] : st.reads) {
    reads_done_.enqueue(ReadReport{target, key, actuator_->Read(target)});
  }
  st.reads.clear();
}

void ActuationWorker::ApplyDue(RunState& st) {
  for (auto it = st.pending.begin(); it != st.pending.end() && !stop_.load();) {
    if (it->second.not_before > SteadyClock::now()) {
      ++it;
    } else if (ApplyOne(it->first, it->second, st)) {
      it = st.pending.erase(it);
    } else {
      ++it;
    }
  }
}

bool ActuationWorker::ApplyOne(const std::string& key, Pending& p, RunState& st) {
  ++p.attempts;
  ActuationResult r = actuator_->Apply(p.request);
  const auto now = SteadyClock::now();
  st.last[key] = now;
  const bool retry = r.status == ActuationResult::Status::kRetry;
  if (retry && p.attempts >= options_.max_attempts) {
    r.status = ActuationResult::Status::kFailed;
    r.error = "gave up after " + std::to_string(p.attempts) + " attempts: " + r.error;
  }
  results_.enqueue(ActuationReport{p.request, r, p.attempts});
  if (r.status == ActuationResult::Status::kRetry) {
    double backoff = std::min(options_.max_backoff_s,
                              options_.initial_backoff_s * std::pow(2.0, p.attempts - 1));
    backoff = std::max({backoff, r.retry_after_s, options_.min_interval_s});
    spdlog::warn("actuator {}: {} -> {} replicas: {}; retrying in {:.2f}s", name_, key,
                 p.request.to, r.error, backoff);
    p.not_before = now + FromSeconds(backoff);
    return false;
  }
  if (r.status == ActuationResult::Status::kFailed) {
    spdlog::error("actuator {}: {} -> {} replicas failed: {}", name_, key, p.request.to, r.error);
  }
  return true;
}

}  // namespace lagscale::coordinator
