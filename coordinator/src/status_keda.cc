// /status: per model and server, the newest value KEDA read, and the list of every KEDA query.
#include "status_keda.h"

namespace lagscale::coordinator {
namespace {

template <class Status>
void Attach(std::vector<Status>& targets, const char* kind, const std::vector<KedaRead>& reads) {
  for (Status& t : targets) {
    for (const KedaRead& r : reads) {
      if (r.kind != kind || r.name != t.name || r.call != "GetMetrics") continue;
      if (!t.keda_read || r.time_unix_ms > t.keda_read->time_unix_ms) t.keda_read = r;
    }
  }
}

}  // namespace

void AttachKedaReads(StatusSnapshot& status, std::vector<KedaRead> reads) {
  Attach(status.models, "model", reads);
  Attach(status.servers, "server", reads);
  status.keda_reads = std::move(reads);
}

nlohmann::json KedaReadJson(const std::optional<KedaRead>& r) {
  if (!r) return nullptr;
  nlohmann::json doc = {{"metric", r->metric},
                        {"call", r->call},
                        {"scaled_object", r->scaled_object},
                        {"status", r->status},
                        {"time_unix_ms", r->time_unix_ms}};
  doc["value"] = r->status == "ok" ? nlohmann::json(r->value) : nlohmann::json(nullptr);
  return doc;
}

nlohmann::json KedaReadsJson(const std::vector<KedaRead>& reads) {
  nlohmann::json out = nlohmann::json::array();
  for (const KedaRead& r : reads) {
    nlohmann::json doc = KedaReadJson(r);
    doc["kind"] = r.kind;
    doc["name"] = r.name;
    out.push_back(std::move(doc));
  }
  return out;
}

}  // namespace lagscale::coordinator
