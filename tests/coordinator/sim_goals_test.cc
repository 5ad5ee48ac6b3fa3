// bench/sim/goals.py, the goal table bench/sim/run.sh prints: fed lagscale-sim's JSON for a few
// seeds, it says which goal fails, by how much per seed, and where the oracle stands.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/command.h"
#include "support/scratch_dir.h"

namespace lagscale::testing {
namespace {

nlohmann::json Policy(const std::string& name, double slo_violation_s, double replica_seconds) {
  return {{"name", name},
          {"reaction_s", 0.5},
          {"ready_s", 10.0},
          {"reversals_per_5min", 0.0},
          {"scale_events", 0.0},
          {"replica_seconds", replica_seconds},
          {"replica_seconds_vs_oracle", replica_seconds / 100},
          {"slo_violation_s", slo_violation_s},
          {"timed_out_requests", 0.0}};
}

class SimGoalsTest : public ::testing::Test {
 protected:
  // One seed's results for trace `trace`, as lagscale-sim --json writes them.
  void Seed(const std::string& trace, int seed, double lagscale_slo, double keda_slo,
            double oracle_slo) {
    const nlohmann::json run = {
        {"policies",
         {Policy("lagscale", lagscale_slo, 110), Policy("keda", keda_slo, 130),
          Policy("oracle", oracle_slo, 100)}}};
    std::ofstream(dir_.Path(trace + "." + std::to_string(seed) + ".json")) << run.dump();
  }

  // The goal table's row whose goal text starts with `goal`.
  std::string Row(const CommandResult& result, const std::string& goal) const {
    const std::string needle = "| " + goal;
    const auto at = result.out.find(needle);
    if (at == std::string::npos) return "";
    return result.out.substr(at, result.out.find('\n', at) - at);
  }

  CommandResult Goals() const {
    return RunCommand({"/usr/bin/python3", LAGSCALE_SOURCE_DIR "/bench/sim/goals.py", dir_.path()});
  }

  ScratchDir dir_{"goals"};
};

TEST_F(SimGoalsTest, ALossShowsItsPairedDifferenceOverTheSeedsAndTheOracle) {
  // Per seed lagscale - keda: 1, 2, 3 -> mean 2, standard deviation 1, standard error 1/sqrt(3).
  Seed("square", 1, 2, 1, 1.5);
  Seed("square", 2, 3, 1, 1.5);
  Seed("square", 3, 4, 1, 1.5);
  const CommandResult result = Goals();
  EXPECT_EQ(result.exit_code, 1) << result.all();
  const std::string row = Row(result, "square: fewer SLO-violation seconds");
  EXPECT_NE(row.find("| FAIL |"), std::string::npos) << row;
  EXPECT_NE(row.find("lagscale 3.00 vs keda 1.00 (oracle 1.50)"), std::string::npos) << row;
  EXPECT_NE(row.find("lagscale - keda per seed +2.00 ± 0.58"), std::string::npos) << row;
}

TEST_F(SimGoalsTest, AWinHasNoDifferenceToReport) {
  Seed("square", 1, 1, 2, 1.5);
  Seed("square", 2, 1, 3, 1.5);
  const CommandResult result = Goals();
  EXPECT_EQ(result.exit_code, 0) << result.all();
  const std::string row = Row(result, "square: fewer SLO-violation seconds");
  EXPECT_NE(row.find("| PASS |"), std::string::npos) << result.all();
  EXPECT_EQ(row.find("per seed"), std::string::npos) << row;
}

TEST_F(SimGoalsTest, OneSeedHasNoStandardError) {
  Seed("square", 1, 3, 1, 1.5);
  const CommandResult result = Goals();
  const std::string row = Row(result, "square: fewer SLO-violation seconds");
  EXPECT_NE(row.find("| FAIL |"), std::string::npos) << result.all();
  EXPECT_EQ(row.find("per seed"), std::string::npos) << row;
}

}  // namespace
}  // namespace lagscale::testing
