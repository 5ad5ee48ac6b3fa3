#include "support/prometheus.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

namespace lagscale::testing {
namespace {

std::string UrlEncode(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c)) {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

// The `result` array of an instant query; null on any error.
nlohmann::json Result(const std::string& address, const std::string& promql) {
  const HttpResponse r = HttpGet(address, "/api/v1/query?query=" + UrlEncode(promql));
  if (r.status != 200) return nullptr;
  auto doc = nlohmann::json::parse(r.body, nullptr, false);
  if (doc.is_discarded() || !doc["data"]["result"].is_array()) return nullptr;
  return doc["data"]["result"];
}

}  // namespace

std::unique_ptr<Prometheus> Prometheus::Start(const std::vector<std::string>& targets) {
  std::unique_ptr<Prometheus> p(new Prometheus);
  std::ofstream config(p->dir_.Path("prometheus.yml"));
  config << "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: lagscale\n"
         << "    static_configs:\n      - targets: [";
  for (size_t i = 0; i < targets.size(); ++i) config << (i ? ", '" : "'") << targets[i] << "'";
  config << "]\n";
  config.close();
  // Prometheus must bind its port itself: another process may take a free port in between, so a
  // failed start is retried on another one.
  for (int attempt = 0; attempt < 5 && !p->process_; ++attempt) {
    p->address_ = "127.0.0.1:" + std::to_string(FreeLoopbackPort());
    p->process_ = ChildProcess::Start(
        {"/usr/bin/prometheus", "--config.file=" + p->dir_.Path("prometheus.yml"),
         "--storage.tsdb.path=" + p->dir_.Path("data"), "--web.listen-address=" + p->address_});
    ChildProcess* proc = p->process_.get();
    const std::string address = p->address_;
    if (!proc ||
        !Eventually([&] { return HttpGet(address, "/-/ready").status == 200 || !proc->running(); },
                    30s) ||
        !proc->running()) {
      p->process_.reset();
    }
  }
  if (!p->process_) {
    ADD_FAILURE() << "prometheus did not start";
    return nullptr;
  }
  return p;
}

double Prometheus::Query(const std::string& promql) const {
  const nlohmann::json result = Result(address_, promql);
  if (!result.is_array() || result.empty()) return std::nan("");
  return std::stod(result[0]["value"][1].get<std::string>());
}

std::vector<std::pair<std::string, double>> Prometheus::QueryBy(const std::string& promql,
                                                               const std::string& label) const {
  std::vector<std::pair<std::string, double>> out;
  const nlohmann::json result = Result(address_, promql);
  if (!result.is_array()) return out;
  for (const auto& series : result) {
    out.emplace_back(series["metric"].value(label, std::string()),
                     std::stod(series["value"][1].get<std::string>()));
  }
  return out;
}

}  // namespace lagscale::testing
