// The coordinator serves TLS from private copies of its certificate and key, in a directory of its
// own under $TMPDIR. Stopped, it removes them; killed outright (SIGKILL, an out-of-memory kill) it
// cannot, and in Kubernetes its /tmp is an emptyDir that outlives the container: the next
// coordinator removes what the killed one left, and never what a running one holds.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "support/openssl_certs.h"
#include "support/process.h"
#include "support/scratch_dir.h"

namespace lagscale::testing {
namespace {

namespace fs = std::filesystem;

class ReportTlsCopiesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    certs_.MakeCa("ca");
    certs_.MakeLeaf("server", "ca");
  }

  // A coordinator serving TLS with TMPDIR set to this test's directory.
  std::unique_ptr<ChildProcess> StartCoordinator() {
    std::map<std::string, std::string> addresses;
    return StartReady("lagscale-coordinator",
                      {"--grpc-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--tls-cert",
                       certs_.Path("server.pem"), "--tls-key", certs_.Path("server.key")},
                      addresses, {"TMPDIR=" + tmp_.path().string()});
  }

  // The directories in TMPDIR, sorted.
  std::vector<std::string> Dirs() const {
    std::vector<std::string> dirs;
    for (const auto& e : fs::directory_iterator(tmp_.path())) {
      if (e.is_directory()) dirs.push_back(e.path().filename().string());
    }
    std::sort(dirs.begin(), dirs.end());
    return dirs;
  }

  TestCertificates certs_;
  ScratchDir tmp_{"coordinator-tmpdir"};
};

TEST_F(ReportTlsCopiesTest, AKilledCoordinatorsKeyCopyIsRemovedByTheNextOneAndAStopRemovesItsOwn) {
  auto killed = StartCoordinator();
  ASSERT_TRUE(killed);
  const std::vector<std::string> left = Dirs();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_TRUE(fs::exists(tmp_.path() / left[0] / "pair.pem"));
  killed->Signal(SIGKILL);
  ASSERT_TRUE(killed->Wait().has_value());
  EXPECT_EQ(Dirs(), left);  // nothing could remove it

  auto running = StartCoordinator();
  ASSERT_TRUE(running);
  const std::vector<std::string> now = Dirs();
  ASSERT_EQ(now.size(), 1u) << running->stderr_text();
  EXPECT_NE(now, left);
  EXPECT_NE(running->stderr_text().find("TLS file copies left by ended process"), std::string::npos)
      << running->stderr_text();

  // A second coordinator beside it leaves the running one's copies alone.
  auto beside = StartCoordinator();
  ASSERT_TRUE(beside);
  EXPECT_EQ(Dirs().size(), 2u);
  EXPECT_TRUE(fs::exists(tmp_.path() / now[0] / "pair.pem"));

  for (auto* c : {&beside, &running}) {
    (*c)->Signal(SIGTERM);
    EXPECT_EQ((*c)->Wait(), 0) << (*c)->stderr_text();
  }
  EXPECT_TRUE(Dirs().empty());
}

}  // namespace
}  // namespace lagscale::testing
