#include "lagscale/base/secret_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace lagscale::base {
namespace {

class SecretFileTest : public ::testing::Test {
 protected:
  SecretFileTest() {
    char dir[] = "/tmp/lagscale-secret-XXXXXX";
    dir_ = mkdtemp(dir);
    path_ = dir_ + "/token";
  }
  ~SecretFileTest() override {
    std::remove(path_.c_str());
    rmdir(dir_.c_str());
  }
  void Write(const std::string& contents) { std::ofstream(path_, std::ios::binary) << contents; }

  std::string dir_, path_;
};

TEST_F(SecretFileTest, TrimsTrailingWhitespaceOnly) {
  Write("s3cret \t\r\n\n");
  auto secret = ReadSecretFile(path_, "--token-file");
  ASSERT_TRUE(secret) << secret.error();
  EXPECT_EQ(*secret, "s3cret");
}

TEST_F(SecretFileTest, MissingFileNamesTheSettingAndPath) {
  auto secret = ReadSecretFile(path_, "--token-file");
  ASSERT_FALSE(secret);
  EXPECT_EQ(secret.error(), "--token-file: cannot read \"" + path_ + "\"");
}

TEST_F(SecretFileTest, BlankFileIsAnError) {
  Write(" \n");
  auto secret = ReadSecretFile(path_, "--token-file");
  ASSERT_FALSE(secret);
  EXPECT_EQ(secret.error(), "--token-file: \"" + path_ + "\" is empty");
  EXPECT_THROW(secret.OrThrow(), std::runtime_error);
}

}  // namespace
}  // namespace lagscale::base
