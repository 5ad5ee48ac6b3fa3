#pragma once

// FakeCoordinator: a real lagscale.v1.LagService on 127.0.0.1 (an OS-chosen port) that records
// every report it receives, with its arrival time, and acknowledges each one as the coordinator
// does; or, as a standby, takes each stream's first report and refuses it as a coordinator that
// is not the leader does. The report client's, the sidecar's and the integration tests'
// coordinator, written once.
// Thread safety: every method may be called from any thread; the log is guarded by mu_ and the
// gRPC handlers append to it under that mutex.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "lagscale/v1/lag.pb.h"

namespace grpc {
class Server;
}

namespace lagscale::testing {

class FakeCoordinator {
 public:
  // A report as it arrived.
  struct Received {
    lagscale::v1::PodReport report;
    std::chrono::steady_clock::time_point at;
  };
  // Everything this coordinator has seen since it last started.
  struct Log {
    std::vector<Received> received;  // in arrival order
    int rejected = 0;                // streams refused for a missing or wrong token
    // When each stream refused as a standby began, in order (see SetStandby()).
    std::vector<std::chrono::steady_clock::time_point> refused;

    // The number of reports that arrived at or after `since`.
    int ReportsSince(std::chrono::steady_clock::time_point since) const;
  };

  // Serves at once. With a non-empty `token`, a stream without "authorization: Bearer <token>" is
  // refused with UNAUTHENTICATED and counted in Log::rejected.
  explicit FakeCoordinator(std::string token = "");
  ~FakeCoordinator();
  FakeCoordinator(const FakeCoordinator&) = delete;
  FakeCoordinator& operator=(const FakeCoordinator&) = delete;

  // Goes away like a crashed process would: open streams are cut, the port is closed.
  void Stop();
  // Serves again on the same port with an empty log, like a restarted process. port() is 0 if the
  // port could not be bound again.
  // REQUIRES: Stop() was called.
  void Restart();

  // As a standby, each stream is refused with UNAVAILABLE ("not the leader") after its first
  // report has been read, and its start is logged in Log::refused; the report is not acknowledged
  // nor logged as received.
  void SetStandby(bool standby) { standby_ = standby; }

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  std::vector<lagscale::v1::PodReport> reports();
  int rejected();
  std::vector<std::chrono::steady_clock::time_point> refused();
  // Log::ReportsSince of the log as it is now.
  int ReportsSince(std::chrono::steady_clock::time_point since);

  // Blocks until `holds` is true of the log or `limit` passes; returns whether it held. `holds`
  // runs under the log's mutex at the call and after every change, so it must not call back into
  // this object.
  bool WaitFor(const std::function<bool(const Log&)>& holds,
               std::chrono::milliseconds limit = std::chrono::seconds(10));

 private:
  class Service;

  void Serve(int port);
  void Record(lagscale::v1::PodReport report);
  void Reject();
  void Refuse(std::chrono::steady_clock::time_point began);

  const std::string token_;
  std::atomic<bool> standby_{false};
  int port_ = 0;
  // The service must outlive the server that dispatches to it: declared first, destroyed last.
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  std::mutex mu_;
  std::condition_variable changed_;  // notified after every change to log_
  Log log_;                          // guarded by mu_
};

}  // namespace lagscale::testing
