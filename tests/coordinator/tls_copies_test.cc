// The private copies of the coordinator's TLS files, under $TMPDIR: a coordinator that was killed
// cannot remove its own, so the next one removes the directories of processes that have ended (its
// own pid included: a restarted container's coordinator is often pid 1 again), and keeps those of
// live processes, those of other coordinators in this process and anything it did not make.
#include "tls_copies.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "support/openssl_certs.h"
#include "support/scratch_dir.h"

namespace lagscale::coordinator {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// The pid of a child that has exited and been reaped.
pid_t EndedPid() {
  const pid_t pid = fork();
  if (pid == 0) _exit(0);
  waitpid(pid, nullptr, 0);
  return pid;
}

std::string CopiesName(pid_t pid, const std::string& suffix) {
  return "lagscale-tls-" + std::to_string(pid) + "-" + suffix;
}

class TlsCopiesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    certs_.MakeCa("ca");
    certs_.MakeLeaf("server", "ca");
    if (const char* old = std::getenv("TMPDIR")) old_tmpdir_ = old;
    setenv("TMPDIR", tmp_.path().c_str(), 1);
  }
  void TearDown() override {
    if (old_tmpdir_) {
      setenv("TMPDIR", old_tmpdir_->c_str(), 1);
    } else {
      unsetenv("TMPDIR");
    }
  }

  base::TlsFileSet Files() const {
    return {"",
            certs_.Path("server.pem"),
            certs_.Path("server.key"),
            "--tls-client-ca",
            "--tls-cert",
            "--tls-key"};
  }
  // A directory as a coordinator leaves it: the pair's copy inside.
  void Leave(const std::string& name) const {
    fs::create_directory(tmp_.path() / name);
    std::ofstream(tmp_.path() / name / "pair.pem") << "a certificate and its key\n";
  }
  std::vector<std::string> Names() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(tmp_.path())) {
      names.push_back(e.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }
  static std::string Read(const std::string& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), {}};
  }

  lagscale::testing::TestCertificates certs_;
  lagscale::testing::ScratchDir tmp_{"tls-tmpdir"};
  std::optional<std::string> old_tmpdir_;
};

TEST_F(TlsCopiesTest, DirectoriesOfEndedProcessesGoAndEverythingElseStays) {
  const std::string live = CopiesName(getppid(), "Live01");
  const std::vector<std::string> kept = {live, "lagscale-tls-Q1WvMu", "unrelated"};
  for (const auto& name : kept) Leave(name);
  Leave(CopiesName(EndedPid(), "Ended1"));
  Leave(CopiesName(getpid(), "Former"));  // this pid's, made before this process ran
  {
    VerifiedTlsCopies copies(Files(), 60s);
    const std::string own = fs::path(copies.pair()).parent_path().filename().string();
    EXPECT_EQ(fs::path(copies.pair()).parent_path().parent_path(), tmp_.path());
    EXPECT_TRUE(own.starts_with(CopiesName(getpid(), ""))) << own;
    EXPECT_EQ(Read(copies.pair()),
              Read(certs_.Path("server.pem")) + Read(certs_.Path("server.key")));
    std::vector<std::string> expected = kept;
    expected.push_back(own);
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(Names(), expected);

    // A second coordinator in this process keeps the first one's copies.
    VerifiedTlsCopies second(Files(), 60s);
    EXPECT_EQ(Read(copies.pair()), Read(second.pair()));
    EXPECT_EQ(Names().size(), expected.size() + 1);
  }
  // Each removed its own as it went.
  std::vector<std::string> expected = kept;
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(Names(), expected);
}

TEST_F(TlsCopiesTest, AFileNamedLikeCopiesIsNotRemoved) {
  const std::string name = CopiesName(EndedPid(), "File01");
  std::ofstream(tmp_.path() / name) << "not a directory\n";
  VerifiedTlsCopies copies(Files(), 60s);
  EXPECT_TRUE(fs::is_regular_file(tmp_.path() / name));
}

}  // namespace
}  // namespace lagscale::coordinator
