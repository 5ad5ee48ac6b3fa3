#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "lagscale/base/last_good.h"
#include "lagscale/metrics/ledger.h"
#include "lagscale/metrics/server_counters.h"

namespace lagscale::scaler_client {

class ReportChannelTls;

struct ReporterOptions {
  std::string coordinator;  // host:port of the coordinator's LagService
  std::string server_name;  // PodReport.server
  std::string pod_name;     // PodReport.pod
  std::chrono::milliseconds interval{1000};
  // An early report goes out as soon as any model's in-flight has risen by this much since the
  // last report; 0 disables early reports.
  int64_t early_threshold = 8;
  // File holding the bearer token sent as `authorization: Bearer <token>`; empty = none. Read at
  // Start() and again at every reconnect (so a rotated token is picked up).
  std::string token_file;
  // TLS: a CA bundle file turns it on (the coordinator's certificate must chain to it and name the
  // host dialled); cert_file + key_file add a client certificate for mutual TLS. Empty = plaintext.
  // The files are read again once tls_reload_interval has passed, so rotated certificates are used
  // from the next connection on; files that do not make a good set keep the last good one.
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::chrono::milliseconds tls_reload_interval{60'000};
  // How often the ledger is looked at for an early report (a snapshot is a few microseconds).
  std::chrono::milliseconds poll_interval{25};
  // How long one attempt may take to open the stream (TCP, TLS, HTTP/2, the call's start) before
  // it is cancelled and retried with backoff.
  std::chrono::milliseconds connect_timeout{3'000};
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{5000};
  // The ceiling after a coordinator took the call and refused it as a standby (UNAVAILABLE): the
  // leader is one reconnection through the Service away, and a standby answers cheaply.
  std::chrono::milliseconds standby_backoff_max{1000};
  uint64_t seed = 0;  // randomness for the incarnation and the jitter; 0 = from the OS
};

// Reporter: streams the ledger's cumulative counters to the coordinator (LagService.Report), from
// its own thread. Every interval it snapshots the ledger and sends a PodReport (incarnation random
// per process, sequence +1 per report); between intervals it polls the ledger and reports early
// when a model's in-flight jumps. It keeps one stream open and reconnects after failures with
// exponential backoff and jitter. Nothing is queued: a report that cannot go out is dropped (the
// next one carries the same cumulative counters), and a report due while the previous write is
// still pending is built from a fresh snapshot once that write completes. Failures and reports the
// coordinator acknowledged are counted in ServerCounters::report_failures()/reports_sent() (a
// report refused for a wrong token or by a coordinator that does not lead is not sent); while the
// coordinator
// is away a warning is logged at most once per interval. The request path is never touched: the
// only shared state is Ledger::Snapshot(), which never blocks the shards' writers.
//
// Thread safety: Start(), Stop() and the destructor from one controlling thread; incarnation()
// and connected() from any thread.
class Reporter {
 public:
  // REQUIRES: ledger and counters outlive the reporter.
  Reporter(ReporterOptions options, const metrics::Ledger& ledger,
           metrics::ServerCounters& counters);
  ~Reporter();  // Stop()
  Reporter(const Reporter&) = delete;
  Reporter& operator=(const Reporter&) = delete;

  // Starts the report thread. Throws std::runtime_error naming the file if a token, CA or client
  // certificate file is set but cannot be read, or naming the value if the coordinator address
  // is empty.
  void Start();
  // Cancels the stream and joins the thread; returns within about one poll interval. Idempotent.
  void Stop();

  uint64_t incarnation() const { return incarnation_; }
  // True while a report stream is established.
  bool connected() const { return connected_.load(std::memory_order_relaxed); }

 private:
  class Loop;
  ReporterOptions options_;
  const metrics::Ledger& ledger_;
  metrics::ServerCounters& counters_;
  uint64_t incarnation_;
  // Set by Start(), then used by the loop thread only.
  std::unique_ptr<ReportChannelTls> tls_;
  std::unique_ptr<base::LastGood<std::string>> token_;  // null without a token file
  std::atomic<bool> stop_{false};
  std::atomic<bool> connected_{false};
  std::thread thread_;
};

}  // namespace lagscale::scaler_client
