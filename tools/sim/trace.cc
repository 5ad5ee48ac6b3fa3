// CSV reading: four numeric/name columns, split on commas (no quoting is needed or accepted, a
// model name is a Kubernetes name), numbers through std::stod with the whole field consumed.
#include "trace.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace lagscale::sim {
namespace {

std::string Trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

double Number(const std::string& field, const std::string& what, const std::string& where) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(field, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != field.size() || !(v >= 0) || v > 1e12) {
    throw std::runtime_error(where + ": " + what + " must be a non-negative number, got '" + field +
                             "'");
  }
  return v;
}

}  // namespace

ModelTrace::ModelTrace(std::vector<Segment> segments, double end_s)
    : segments_(std::move(segments)), end_s_(end_s) {}

const Segment& ModelTrace::At(double t) const {
  auto it = std::upper_bound(segments_.begin(), segments_.end(), t,
                             [](double v, const Segment& s) { return v < s.start_s; });
  return it == segments_.begin() ? segments_.front() : *std::prev(it);
}

double ModelTrace::MaxLoad(double from_s, double to_s) const {
  double best = Load(from_s);
  for (const auto& s : segments_) {
    if (s.start_s > from_s && s.start_s <= to_s) best = std::max(best, s.rate_rps * s.service_s);
  }
  return best;
}

double ModelTrace::NextChange(double t) const {
  auto it = std::upper_bound(segments_.begin(), segments_.end(), t,
                             [](double v, const Segment& s) { return v < s.start_s; });
  return it == segments_.end() ? end_s_ : std::min(it->start_s, end_s_);
}

Trace ParseTrace(const std::string& text, const std::string& name) {
  std::map<std::string, std::vector<Segment>> rows;
  std::istringstream in(text);
  std::string line;
  double last_t = 0;
  bool any = false;
  for (int number = 1; std::getline(in, line); ++number) {
    line = Trim(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> fields;
    std::stringstream ls(line);
    for (std::string f; std::getline(ls, f, ',');) fields.push_back(Trim(f));
    const std::string where = name + ":" + std::to_string(number);
    if (fields.size() != 4 && fields.size() != 5) {
      throw std::runtime_error(
          where + ": expected t_seconds,model,arrival_rate_rps,service_time_ms[,output_tokens]");
    }
    if (!any && fields[0] == "t_seconds") continue;  // header
    Segment s{Number(fields[0], "t_seconds", where), Number(fields[2], "arrival_rate_rps", where),
              Number(fields[3], "service_time_ms", where) / 1000,
              fields.size() == 5 ? Number(fields[4], "output_tokens", where) : 0};
    if (fields[1].empty()) throw std::runtime_error(where + ": empty model name");
    if (any && s.start_s < last_t) throw std::runtime_error(where + ": t_seconds goes backwards");
    last_t = s.start_s;
    any = true;
    rows[fields[1]].push_back(s);
  }
  if (!any) throw std::runtime_error(name + ": no rows");
  Trace trace;
  trace.end_s = last_t + 1;
  for (auto& [model, segments] : rows) {
    trace.models.emplace(model, ModelTrace(std::move(segments), trace.end_s));
  }
  return trace;
}

Trace LoadTrace(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot read trace '" + path + "'");
  std::stringstream buf;
  buf << f.rdbuf();
  return ParseTrace(buf.str(), path);
}

}  // namespace lagscale::sim
