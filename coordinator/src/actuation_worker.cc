// The actuation threads: coalesce decisions per target, rate-limit, retry with backoff, and never
// write one target from two threads at once.
#include "lagscale/coordinator/actuation_worker.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <stdexcept>

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
    : name_(actuator->name()), options_(options) {
  actuators_.push_back(std::move(actuator));
  StartThreads();
}

ActuationWorker::ActuationWorker(const ActuatorFactory& make, int threads, WorkerOptions options)
    : name_(nullptr), options_(options) {
  if (threads < 1 || threads > kMaxThreads) {
    throw std::invalid_argument("actuation threads: " + std::to_string(threads) +
                                " is not between 1 and " + std::to_string(kMaxThreads));
  }
  for (int i = 0; i < threads; ++i) actuators_.push_back(make());
  name_ = actuators_.front()->name();
  StartThreads();
}

void ActuationWorker::StartThreads() {
  for (auto& actuator : actuators_) {
    threads_.emplace_back([this, a = actuator.get()] {
      base::NameThisThread("actuate");
      Run(*a);
    });
  }
}

ActuationWorker::~ActuationWorker() { Stop(); }

void ActuationWorker::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void ActuationWorker::Submit(ScaleRequest request) {
  if (request.name.empty()) return;  // nothing to actuate
  std::string key = request.Key();
  {
    std::lock_guard lock(mu_);
    auto it = pending_.find(key);
    if (it != pending_.end()) {
      // Newest wins, but it keeps the backoff the target earned: its attempts and its next try.
      it->second.request = std::move(request);
      it->second.version = ++versions_;
    } else {
      SteadyTime not_before{};
      if (auto l = last_.find(key); l != last_.end()) {
        not_before = l->second + FromSeconds(options_.min_interval_s);
      }
      pending_.emplace(std::move(key), Pending{std::move(request), 0, not_before, ++versions_});
    }
  }
  wake_.notify_one();
}

void ActuationWorker::RequestRead(TargetKey key, ScaleTarget target) {
  {
    std::lock_guard lock(mu_);
    reads_[std::move(key)] = std::move(target);
  }
  wake_.notify_one();
}

void ActuationWorker::Run(Actuator& actuator) {
  std::unique_lock lock(mu_);
  while (!stop_) {
    Job job;
    SteadyTime wake = SteadyClock::now() + std::chrono::milliseconds(200);
    if (!Take(job, wake)) {
      wake_.wait_until(lock, wake);
      continue;
    }
    busy_.insert(job.key);
    lock.unlock();
    LogLine line;
    if (job.read) {
      job.read->reading = actuator.Read(job.read->target);
      reads_done_.enqueue(std::move(*job.read));
      lock.lock();
    } else {
      ActuationResult r = actuator.Apply(job.pending.request);
      lock.lock();
      line = Finish(job, r);
    }
    busy_.erase(job.key);
    // The target is free again: a thread may take its next decision.
    wake_.notify_all();
    if (!line.text.empty()) {  // logged without the lock: Submit() never waits for stderr
      lock.unlock();
      spdlog::log(line.error ? spdlog::level::err : spdlog::level::warn, "actuator {}: {}", name_,
                  line.text);
      lock.lock();
    }
  }
}

bool ActuationWorker::Take(Job& job, SteadyTime& wake) {
  // Reads first, as they are quick and the decision loop waits for them to settle bounds.
  for (auto it = reads_.begin(); it != reads_.end(); ++it) {
    std::string key = it->first.ToString();
    if (busy_.count(key)) continue;
    job.key = std::move(key);
    job.read = ReadReport{std::move(it->second), it->first, {}};
    reads_.erase(it);
    return true;
  }
  const SteadyTime now = SteadyClock::now();
  for (auto& [key, p] : pending_) {
    if (busy_.count(key)) continue;
    if (p.not_before > now) {
      wake = std::min(wake, p.not_before);
      continue;
    }
    ++p.attempts;
    job.key = key;
    job.pending = p;
    return true;
  }
  return false;
}

ActuationWorker::LogLine ActuationWorker::Finish(const Job& job, ActuationResult& r) {
  const Pending& done = job.pending;
  const auto now = SteadyClock::now();
  last_[job.key] = now;
  const bool retry = r.status == ActuationResult::Status::kRetry;
  if (retry && done.attempts >= options_.max_attempts) {
    r.status = ActuationResult::Status::kFailed;
    r.error = "gave up after " + std::to_string(done.attempts) + " attempts: " + r.error;
  }
  results_.enqueue(ActuationReport{done.request, r, done.attempts});
  auto it = pending_.find(job.key);  // only Finish() erases: still there
  Pending& p = it->second;
  const bool replaced = p.version != done.version;
  const std::string what = job.key + " -> " + std::to_string(done.request.to) + " replicas";
  if (r.status == ActuationResult::Status::kRetry) {
    double backoff = std::min(options_.max_backoff_s,
                              options_.initial_backoff_s * std::pow(2.0, done.attempts - 1));
    backoff = std::max({backoff, r.retry_after_s, options_.min_interval_s});
    p.not_before = now + FromSeconds(backoff);
    return {false, fmt::format("{}: {}; retrying in {:.2f}s", what, r.error, backoff)};
  }
  if (replaced) {  // a newer decision came while this one was written: it is next
    p.attempts = 0;
    p.not_before = now + FromSeconds(options_.min_interval_s);
  } else {
    pending_.erase(it);
  }
  if (r.status == ActuationResult::Status::kFailed) return {true, what + " failed: " + r.error};
  return {};
}

}  // namespace lagscale::coordinator
