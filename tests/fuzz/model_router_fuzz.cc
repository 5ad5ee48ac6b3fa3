// Model resolution from request targets and headers (proxy/src/model_router.cc) and the model
// table behind it (metrics/src/model_table.cc), fed arbitrary targets, header values and names
// built into the V1/V2 path shapes.
//
// Invariants checked on every input:
//  - ModelFromTarget returns a piece of the target (or nothing) holding no '/', '?' or '#';
//  - a name put into a V2 or V1 path shape (origin or absolute form, with versions, verbs, query,
//    fragment) comes back out exactly;
//  - RouteModel: a non-empty header wins over the path; a valid name ([A-Za-z0-9][A-Za-z0-9._-]*,
//    at most 128 bytes) gets a tracked id whose Name() is that name, or the overflow id once the
//    table is full; anything else is unattributed; the same name always gets the same id and two
//    names never share one; the table never tracks more than its cap.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

#include "fuzz_checks.h"
#include "lagscale/metrics/model_table.h"
#include "lagscale/proxy/model_router.h"

namespace {

using lagscale::metrics::ModelId;
using lagscale::metrics::ModelTable;
using lagscale::proxy::ModelFromTarget;
using lagscale::proxy::RouteModel;

using lagscale::fuzz::Fail;

// The documented rule, written out independently of the table's own check.
bool Valid(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-'))) return false;
  }
  return true;
}

void CheckPiece(std::string_view target) {
  const std::string_view name = ModelFromTarget(target);
  if (name.empty()) return;
  if (name.data() < target.data() || name.data() + name.size() > target.data() + target.size()) {
    Fail("ModelFromTarget returned memory outside the target");
  }
  if (name.find_first_of("/?#") != std::string_view::npos) Fail("name holds / ? or #");
}

std::string Shape(FuzzedDataProvider& in, const std::string& name) {
  std::string t = in.ConsumeBool() ? "" : "http://host:8080";
  if (in.ConsumeBool()) {
    t += "/v2/models/" + name;
    t += in.PickValueInArray<std::string>({"", "/infer", "/ready", "/versions/1/infer", "/"});
  } else {
    t += "/v1/models/" + name;
    if (in.ConsumeBool()) t += "/versions/7";
    t += in.ConsumeBool() ? ":predict" : ":explain";
  }
  t += in.PickValueInArray<std::string>({"", "?a=b", "#f", "?x=/v2/models/other"});
  return t;
}

// Routes and checks one request against the oracle; `seen` remembers the ids handed out.
void Route(ModelTable& table, std::map<std::string, ModelId>& seen, bool has_header,
           std::string_view header, std::string_view target) {
  const ModelId id = RouteModel(table, has_header, header, target);
  const std::string_view name = has_header && !header.empty() ? header : ModelFromTarget(target);
  if (!Valid(name)) {
    if (id != table.unattributed()) Fail("invalid or missing name got an id: " + std::string(name));
    return;
  }
  if (id == table.unattributed()) Fail("valid name unattributed: " + std::string(name));
  auto [it, added] = seen.try_emplace(std::string(name), id);
  if (!added && it->second != id) Fail("same name, another id: " + std::string(name));
  if (id == table.overflow()) return;
  if (id >= table.max_models() || table.Name(id) != name) Fail("id names another model");
  for (const auto& [other, other_id] : seen) {
    if (other_id == id && other != name) Fail("two names share an id");
  }
  if (table.tracked() > table.max_models()) Fail("tracked past the cap");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  ModelTable table(4);
  std::map<std::string, ModelId> seen;
  while (in.remaining_bytes() > 0) {
    switch (in.ConsumeIntegralInRange(0, 2)) {
      case 0: {  // an arbitrary target, maybe with a header
        const std::string target = in.ConsumeRandomLengthString(256);
        const bool has_header = in.ConsumeBool();
        const std::string header = in.ConsumeRandomLengthString(160);
        CheckPiece(target);
        Route(table, seen, has_header, header, target);
        break;
      }
      case 1: {  // a name in a known shape comes back out
        std::string name = in.ConsumeRandomLengthString(140);
        if (name.find_first_of("/?#:") != std::string::npos || name.empty()) break;
        const std::string target = Shape(in, name);
        if (ModelFromTarget(target) != name) {
          Fail("\"" + name + "\" not found in \"" + target + "\": got \"" +
               std::string(ModelFromTarget(target)) + "\"");
        }
        Route(table, seen, false, "", target);
        break;
      }
      default: {  // the header wins over the path
        const std::string header = in.ConsumeRandomLengthString(140);
        Route(table, seen, true, header, "/v2/models/from-path/infer");
        break;
      }
    }
  }
  return 0;
}
