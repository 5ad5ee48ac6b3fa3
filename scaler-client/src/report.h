#pragma once
// Internal to scaler-client/: turning a ledger snapshot into the wire report.

#include <cstdint>
#include <string>

#include "lagscale/metrics/ledger.h"
#include "lagscale/v1/lag.pb.h"

namespace lagscale::scaler_client {

struct ReportIdentity {
  std::string server;
  std::string pod;
  uint64_t incarnation = 0;
};

// The cumulative PodReport for `snapshot`. Pure; allocation is fine here (report thread only).
lagscale::v1::PodReport BuildReport(const metrics::LedgerSnapshot& snapshot,
                                    const ReportIdentity& identity, uint64_t sequence,
                                    int64_t report_unix_ms, bool early);

}  // namespace lagscale::scaler_client
