#include "admin.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "v2_json.h"

namespace lagscale::testserver {
namespace {

using nlohmann::json;

constexpr int64_t kMaxReplicas = 100'000;

AdminReply BadRequest(const std::string& problem) {
  return AdminReply{400, ErrorJson("/admin/scale: " + problem)};
}

// Optional payload fields must still have the contract's types when present.
std::string CheckOptional(const json& body) {
  for (const char* key : {"server", "namespace", "reason"}) {
    auto it = body.find(key);
    if (it != body.end() && !it->is_string()) return std::string(key) + " must be a string";
  }
  for (const char* key : {"from", "time_unix_ms"}) {
    auto it = body.find(key);
    if (it != body.end() && !it->is_number_integer()) {
      return std::string(key) + " must be an integer";
    }
  }
  return "";
}

}  // namespace

AdminReply ApplyScale(Capacity& capacity, std::string_view text) {
  json body = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return BadRequest("malformed JSON in request body");
  if (!body.is_object()) return BadRequest("body must be a JSON object");
  auto kind = body.find("kind");
  if (kind == body.end() || !kind->is_string()) return BadRequest("kind must be a string");
  if (*kind != "model" && *kind != "server") {
    return BadRequest("kind must be \"model\" or \"server\", got " + kind->dump());
  }
  auto name = body.find("name");
  if (name == body.end() || !name->is_string() || name->get<std::string>().empty()) {
    return BadRequest("name must be a non-empty string");
  }
  auto to = body.find("to");
  if (to == body.end() || !to->is_number_integer()) return BadRequest("to must be an integer");
  if (to->get<int64_t>() < 0 || to->get<int64_t>() > kMaxReplicas) {
    return BadRequest("to must be in [0, " + std::to_string(kMaxReplicas) + "], got " + to->dump());
  }
  if (std::string problem = CheckOptional(body); !problem.empty()) return BadRequest(problem);

  int replicas = static_cast<int>(to->get<int64_t>());
  std::string target = name->get<std::string>();
  std::string reason = body.value("reason", "");
  if (*kind == "model") {
    if (!capacity.SetModelReplicas(target, replicas)) {
      return AdminReply{404, ErrorJson("/admin/scale: model '" + target + "' is not served here")};
    }
    spdlog::info("scale model {} to {} replicas ({})", target, replicas, reason);
  } else {
    capacity.SetServerReplicas(replicas);
    spdlog::info("scale server {} to {} replicas ({})", target, replicas, reason);
  }
  return AdminReply{200, StateJson(capacity)};
}

std::string StateJson(const Capacity& capacity) {
  json models = json::object();
  for (const ModelState& s : capacity.States()) {
    models[s.name] = {
        {"replicas", s.replicas},
        {"concurrency", s.concurrency},
        {"capacity", s.concurrency == 0 ? json(nullptr)  // no limit
                                        : json(static_cast<int64_t>(s.replicas) * s.concurrency)},
        {"service_time_ms", s.service_time_ms},
        {"ttft_ms", s.llm.ttft_ms},
        {"token_ms", s.llm.token_ms},
        {"output_tokens", s.llm.output_tokens},
        {"serving", s.serving},
        {"queued", s.queued},
        {"inflight", s.serving + s.queued},
        {"served_total", s.served_total},
        {"rejected_total", s.rejected_total}};
  }
  return json{{"models", std::move(models)}, {"server_replicas", capacity.server_replicas()}}
      .dump();
}

}  // namespace lagscale::testserver
