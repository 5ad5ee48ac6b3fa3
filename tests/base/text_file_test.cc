#include "lagscale/base/text_file.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "support/scratch_dir.h"

namespace lagscale::base {
namespace {

class TextFileTest : public ::testing::Test {
 protected:
  void Write(const std::string& contents) { std::ofstream(path_, std::ios::binary) << contents; }

  testing::ScratchDir dir_{"secret"};
  std::string path_ = dir_.Path("token");
};

TEST_F(TextFileTest, TrimsTrailingWhitespaceOnly) {
  Write("s3cret \t\r\n\n");
  auto secret = ReadSecretFile(path_, "--token-file");
  ASSERT_TRUE(secret) << secret.error();
  EXPECT_EQ(*secret, "s3cret");
}

TEST_F(TextFileTest, MissingFileNamesTheSettingAndPath) {
  auto secret = ReadSecretFile(path_, "--token-file");
  ASSERT_FALSE(secret);
  EXPECT_EQ(secret.error(), "--token-file: cannot read \"" + path_ + "\"");
}

TEST_F(TextFileTest, BlankFileIsAnError) {
  Write(" \n");
  auto secret = ReadSecretFile(path_, "--token-file");
  ASSERT_FALSE(secret);
  EXPECT_EQ(secret.error(), "--token-file: \"" + path_ + "\" is empty");
  EXPECT_THROW(secret.OrThrow(), std::runtime_error);
}

TEST_F(TextFileTest, TextFileIsReadWholeBytesAndAll) {
  Write(std::string("line 1\n\0line 2 \n", 16));
  auto text = ReadTextFile(path_, "--config");
  ASSERT_TRUE(text) << text.error();
  EXPECT_EQ(*text, std::string("line 1\n\0line 2 \n", 16));
}

TEST_F(TextFileTest, MissingTextFileNamesTheSettingAndPath) {
  auto text = ReadTextFile(path_, "--config");
  ASSERT_FALSE(text);
  EXPECT_EQ(text.error(), "--config: cannot read \"" + path_ + "\"");
}

// A token travels in a header: a second line, a control byte or a byte-order mark would abort
// gRPC when sent, so it is an error naming where the bad byte is.
TEST_F(TextFileTest, TokenIsOneLineOfVisibleAscii) {
  Write("s3cret-~+/=\n");
  auto token = ReadTokenFile(path_, "--token-file");
  ASSERT_TRUE(token) << token.error();
  EXPECT_EQ(*token, "s3cret-~+/=");
  for (const auto& [bad, at] : {std::pair<std::string, int>{"line1\nline2\n", 5},
                                {"tok\x01en", 3},
                                {"\xef\xbb\xbftoken", 0},
                                {"t\xc3\xb8ken", 1},
                                {"two words", 3}}) {
    Write(bad);
    token = ReadTokenFile(path_, "--token-file");
    ASSERT_FALSE(token) << bad;
    EXPECT_EQ(token.error(), "--token-file: \"" + path_ +
                                 "\" holds a byte a header cannot carry at offset " +
                                 std::to_string(at) + " (a token is one line of visible ASCII)");
  }
}

}  // namespace
}  // namespace lagscale::base
