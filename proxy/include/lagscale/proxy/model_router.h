#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "lagscale/metrics/model_table.h"
#include "lagscale/proxy/http_head.h"

namespace lagscale::proxy {

// Which model a request is for. Model names arrive from the network, so nothing here trusts them:
// the path parser only cuts out a candidate segment, and ModelTable validates and caps it.
// Thread safety: free functions; RouteModel() is as thread-safe as ModelTable::Resolve (fully).

// Paths of OpenAI-compatible APIs whose POST bodies name the model in a top-level "model" field.
std::vector<std::string> DefaultOpenAiPaths();

// ModelRouting: where the proxy looks for a request's model; filled from flags. A plain value.
struct ModelRouting {
  // Headers naming the model, in order of precedence; matched case-insensitively.
  std::vector<std::string> headers = {"seldon-model"};
  // Exact paths (no query) on which a POST without a model header is attributed from its body.
  std::vector<std::string> openai_paths = DefaultOpenAiPaths();
};

// The value of the first of routing.headers present in `head` with a non-empty value; empty if
// none is.
std::string_view ModelHeader(const ModelRouting& routing, const HttpHead& head);

// True if the path of `target` (absolute form and query allowed) is one of routing.openai_paths.
bool IsOpenAiPath(const ModelRouting& routing, std::string_view target);

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
