// The test support's RunCommand: what the peers that tests run once (promtool, Python clients,
// openssl) print, how they end, and that they inherit none of the test's descriptors.
#include "support/command.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace lagscale::testing {
namespace {

TEST(RunCommand, KeepsStdoutAndStderrApartWithTheExitStatus) {
  const CommandResult result = RunShell("printf out; printf err >&2; exit 3");
  EXPECT_EQ(result.out, "out");
  EXPECT_EQ(result.err, "err");
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.all(), "outerr");
}

TEST(RunCommand, PassesArgumentsWithoutAShell) {
  const CommandResult result = RunCommand({"printf", "%s|", "a b", "$HOME", "'"});
  EXPECT_TRUE(result.ok()) << result.all();
  EXPECT_EQ(result.out, "a b|$HOME|'|");
}

// A socket the test holds (here one without close-on-exec, as popen() would hand it down) is not
// open in the command.
TEST(RunCommand, InheritsNoDescriptorOfTheTest) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 3);
  const std::string path = "/proc/$$/fd/" + std::to_string(fd);
  EXPECT_EQ(RunShell("test -e " + path).exit_code, 1);
  EXPECT_EQ(RunShell("test -e /proc/$$/fd/2").exit_code, 0);  // stderr is there
  ::close(fd);
}

TEST(RunCommand, ACommandPastItsTimeIsKilled) {
  const CommandResult result =
      RunShell("printf started; exec sleep 30", std::chrono::milliseconds(200));
  EXPECT_EQ(result.exit_code, 128 + 9);
  EXPECT_EQ(result.out, "started");
}

TEST(RunCommand, AMissingProgramExits127) {
  EXPECT_EQ(RunCommand({"/nonexistent/lagscale-no-such-program"}).exit_code, 127);
}

}  // namespace
}  // namespace lagscale::testing
