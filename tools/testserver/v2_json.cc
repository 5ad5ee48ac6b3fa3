#include "v2_json.h"

#include <array>
#include <nlohmann/json.hpp>

#include "lagscale/version.h"

namespace lagscale::testserver {
namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 13> kDatatypes = {
    "BOOL",  "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16",
    "INT32", "INT64", "FP16",   "FP32",   "FP64",   "BYTES"};

// Counts the scalars of a (possibly nested) data array; false on an object inside.
bool CountElements(const json& data, int64_t* count) {
  if (data.is_array()) {
    for (const auto& item : data) {
      if (!CountElements(item, count)) return false;
    }
    return true;
  }
  if (data.is_object() || data.is_null()) return false;
  ++*count;
  return true;
}

// Checks one input tensor; returns the problem or "".
std::string CheckInput(const json& input, size_t index) {
  std::string where = "inputs[" + std::to_string(index) + "]";
  if (!input.is_object()) return where + " must be an object";
  auto name = input.find("name");
  if (name == input.end() || !name->is_string()) return where + ".name must be a string";
  where = "input '" + name->get<std::string>() + "'";
  auto datatype = input.find("datatype");
  if (datatype == input.end() || !datatype->is_string()) return where + ": datatype is missing";
  if (std::find(kDatatypes.begin(), kDatatypes.end(), datatype->get<std::string>()) ==
      kDatatypes.end()) {
    return where + ": unknown datatype '" + datatype->get<std::string>() + "'";
  }
  auto shape = input.find("shape");
  if (shape == input.end() || !shape->is_array()) return where + ": shape must be an array";
  int64_t expected = 1;
  for (const auto& dim : *shape) {
    if (!dim.is_number_integer() || dim.get<int64_t>() < 0) {
      return where + ": shape must hold non-negative integers";
    }
    expected *= dim.get<int64_t>();
  }
  auto data = input.find("data");
  if (data == input.end()) return where + ": data is missing";
  int64_t count = 0;
  if (!CountElements(*data, &count)) return where + ": data must be an array of scalars";
  if (count != expected) {
    return where + ": shape holds " + std::to_string(expected) + " elements but data has " +
           std::to_string(count);
  }
  return "";
}

bool ParseObject(std::string_view body, json* out, std::string* error) {
  *out = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (out->is_discarded()) {
    *error = "malformed JSON in request body";
    return false;
  }
  if (!out->is_object()) {
    *error = "request body must be a JSON object";
    return false;
  }
  return true;
}

}  // namespace

std::string ErrorJson(std::string_view message) { return json{{"error", message}}.dump(); }

std::string ServerMetadataJson() {
  return json{{"name", "lagscale-testserver"},
              {"version", kVersion},
              {"extensions", json::array({"model_repository", "generate"})}}
      .dump();
}

std::string ModelMetadataJson(std::string_view model, std::string_view version) {
  json tensor = {{"name", "input0"}, {"datatype", "FP32"}, {"shape", {-1, -1}}};
  json out = {{"name", model},
              {"versions", json::array({version.empty() ? "1" : version})},
              {"platform", "lagscale-testserver"},
              {"inputs", json::array({tensor})},
              {"outputs", json::array({tensor})}};
  return out.dump();
}

bool InferResponseJson(std::string_view model, std::string_view version, std::string_view body,
                       std::string* out, std::string* error) {
  json request;
  if (!ParseObject(body, &request, error)) return false;
  auto inputs = request.find("inputs");
  if (inputs == request.end() || !inputs->is_array() || inputs->empty()) {
    *error = "inputs must be a non-empty array";
    return false;
  }
  json outputs = json::array();
  for (size_t i = 0; i < inputs->size(); ++i) {
    const json& input = (*inputs)[i];
    if (std::string problem = CheckInput(input, i); !problem.empty()) {
      *error = problem;
      return false;
    }
    outputs.push_back({{"name", input["name"]},
                       {"datatype", input["datatype"]},
                       {"shape", input["shape"]},
                       {"data", input["data"]}});
  }
  json response = {{"model_name", model}, {"outputs", std::move(outputs)}};
  if (!version.empty()) response["model_version"] = version;
  if (auto id = request.find("id"); id != request.end()) {
    if (!id->is_string()) {
      *error = "id must be a string";
      return false;
    }
    response["id"] = *id;
  }
  if (auto params = request.find("parameters"); params != request.end()) {
    if (!params->is_object()) {
      *error = "parameters must be an object";
      return false;
    }
    response["parameters"] = *params;
  }
  *out = response.dump();
  return true;
}

bool PredictResponseJson(std::string_view body, std::string* out, std::string* error) {
  json request;
  if (!ParseObject(body, &request, error)) return false;
  auto instances = request.find("instances");
  if (instances == request.end() || !instances->is_array()) {
    *error = "instances must be an array";
    return false;
  }
  *out = json{{"predictions", *instances}}.dump();
  return true;
}

std::string GenerateEvent(std::string_view model, int index, bool last) {
  json event = {{"model_name", model},
                {"index", index},
                {"text_output", "token" + std::to_string(index)},
                {"finished", last}};
  return "data: " + event.dump() + "\n\n";
}

}  // namespace lagscale::testserver
