// The coordinator's status page as headless Chromium renders it (opt-in: ctest label "browser";
// skipped when chromium is not installed). A real sidecar reports real traffic for one busy model
// among 1,000 configured ones; the page, loaded after the fact, must draw that model's history at
// once (SVG lines with points, time and value axes, the scale-up marked on the replica line), list
// it first when sorted by lag, page the other 999, and filter them from the URL's fragment.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/live_stack.h"

namespace lagscale::testing {
namespace {

std::string Browser() {
  for (const char* path : {"/usr/bin/chromium", "/usr/bin/chromium-browser"}) {
    if (access(path, X_OK) == 0) return path;
  }
  return "";
}

// 1,000 models; only "zeta" gets traffic, so only sorting by lag puts it first.
std::string Config() {
  std::vector<std::string> models = {"zeta"};
  for (int i = 0; i < 999; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "m%04d", i);
    models.emplace_back(name);
  }
  return LiveStack::Config(models);
}

// The page's DOM after Chromium ran its scripts for `budget_ms` of virtual time.
std::string DumpDom(const std::string& browser, const std::filesystem::path& dir,
                    const std::string& url, int budget_ms) {
  const auto out = dir / "dom.html";
  const std::string cmd =
      browser +
      " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run"
      " --disable-background-networking --disable-component-update --disable-sync"
      " --user-data-dir=" +
      (dir / "profile").string() + " --virtual-time-budget=" + std::to_string(budget_ms) +
      " --dump-dom '" + url + "' > " + out.string() + " 2>/dev/null";
  auto child = ChildProcess::Start({"/bin/sh", "-c", cmd});
  if (!child) return "";
  const auto code = child->Wait(90s);
  EXPECT_EQ(code, std::optional<int>(0)) << cmd;
  std::ifstream in(out);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The outer HTML of the element with id `id` (up to its closing tag at the same depth).
std::string Element(const std::string& dom, const std::string& id) {
  const size_t at = dom.find("id=\"" + id + "\"");
  if (at == std::string::npos) return "";
  const size_t open = dom.rfind('<', at);
  int depth = 0;
  for (size_t i = open; i < dom.size(); ++i) {
    if (dom.compare(i, 4, "<div") == 0) ++depth;
    if (dom.compare(i, 6, "</div>") == 0 && --depth == 0) return dom.substr(open, i + 6 - open);
  }
  return "";
}

int Count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(StatusPageBrowserTest, DrawsHistoryOfTheBusiestModelAmongAThousand) {
  const std::string browser = Browser();
  if (browser.empty()) GTEST_SKIP() << "chromium is not installed (apt-get install chromium)";
  LiveStack stack(Config(), {"zeta:200"});
  ASSERT_TRUE(stack.ok());
  BusyClients clients(stack, "zeta", 12);
  // Let the coordinator keep several seconds of history and decide to scale zeta up.
  nlohmann::json history;
  const bool ready = Eventually(
      [&] {
        const auto r = HttpGet(stack.coordinator_http(), "/status/models/zeta/history");
        if (r.status != 200) return false;
        history = nlohmann::json::parse(r.body);
        return history["series"]["inflight"].size() >= 6 && !history["decisions"].empty();
      },
      30s);
  ASSERT_TRUE(ready) << history.dump();

  const std::string base = "http://" + stack.coordinator_http() + "/";
  const std::string dom = DumpDom(browser, stack.dir(), base, 8000);
  clients.Stop();
  ASSERT_FALSE(dom.empty());
  EXPECT_EQ(dom.find("id=\"summary\" class=\"meta\">cannot reach"), std::string::npos);
  EXPECT_NE(dom.find("id=\"summary\" class=\"meta\">actuator <b>dry-run</b>"), std::string::npos);

  // Sorted by lag, zeta comes first, and only one page of cards is in the DOM.
  const size_t first_card = dom.find("class=\"card model\"");
  ASSERT_NE(first_card, std::string::npos) << dom.substr(0, 4000);
  EXPECT_NE(dom.find("id=\"model-zeta\"", first_card), std::string::npos);
  EXPECT_LT(dom.find("id=\"model-zeta\""), dom.find("id=\"model-m0000\""));
  EXPECT_EQ(Count(dom, "class=\"card model\""), 12);
  EXPECT_NE(dom.find("page 1 of 84 · 1000 of 1000 models"), std::string::npos);

  // zeta's chart: lines with many points, value and time ticks, the decision on the replica line.
  const std::string card = Element(dom, "model-zeta");
  ASSERT_FALSE(card.empty());
  EXPECT_EQ(card.find("no history yet"), std::string::npos);
  std::smatch m;
  const std::regex inflight(R"re(class="line inflight" data-points="(\d+)")re");
  ASSERT_TRUE(std::regex_search(card, m, inflight)) << card;
  EXPECT_GE(std::stoi(m[1]), 5);
  EXPECT_GE(Count(card, "class=\"line desired\""), 1);
  EXPECT_GE(Count(card, "class=\"line current\""), 1);
  EXPECT_GE(Count(card, "<circle class=\"decision\""), 1);
  EXPECT_EQ(Count(card, "class=\"tick time\""), 3);
  EXPECT_TRUE(std::regex_search(card, std::regex(R"(class="tick time"[^>]*>\d\d:\d\d:\d\d<)")));
  // The server's card has its own chart.
  EXPECT_NE(Element(dom, "server-mlserver").find("class=\"line inflight\""), std::string::npos);

  // The fragment filters: "m099" matches m0990..m0998 only.
  const std::string filtered = DumpDom(browser, stack.dir(), base + "#filter=m099&sort=name", 4000);
  EXPECT_NE(filtered.find("page 1 of 1 · 9 of 1000 models"), std::string::npos);
  EXPECT_EQ(Count(filtered, "class=\"card model\""), 9);
  EXPECT_EQ(filtered.find("id=\"model-zeta\""), std::string::npos);
}

}  // namespace
}  // namespace lagscale::testing
