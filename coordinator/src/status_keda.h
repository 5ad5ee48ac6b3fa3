#pragma once

// The KEDA parts of /status: what KEDA asked about and was told (status_keda.cc).

#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "lagscale/coordinator/status.h"

namespace lagscale::coordinator {

// Sets each model's and server's keda_read (newest GetMetrics answer) and keeps every read.
void AttachKedaReads(StatusSnapshot& status, std::vector<KedaRead> reads);
nlohmann::json KedaReadJson(const std::optional<KedaRead>& read);
nlohmann::json KedaReadsJson(const std::vector<KedaRead>& reads);

}  // namespace lagscale::coordinator
