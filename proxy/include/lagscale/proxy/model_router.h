#pragma once

#include <string_view>

#include "lagscale/metrics/model_table.h"

namespace lagscale::proxy {

// Which model a request is for. Model names arrive from the network, so nothing here trusts them:
// the path parser only cuts out a candidate segment, and ModelTable validates and caps it.
// Thread safety: free functions; RouteModel() is as thread-safe as ModelTable::Resolve (fully).

// The model a request target names, or an empty view. Recognises, after dropping a scheme and
// authority (absolute form) and the query:
//   /v2/models/{name}                       and anything under it (/infer, /ready, /versions/...)
//   /v1/models/{name}:predict | :explain    and /v1/models/{name}/versions/{v}:predict|:explain
// The result points into `target`.
std::string_view ModelFromTarget(std::string_view target);

// The ledger id for a request: the header value when the header is present and not empty (an
// invalid name then counts as unattributed, it does not fall through to the path), else the model
// in the target, else table.unattributed().
metrics::ModelId RouteModel(metrics::ModelTable& table, bool has_header, std::string_view header,
                            std::string_view target);

}  // namespace lagscale::proxy
