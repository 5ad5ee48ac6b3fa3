#include "lagscale/base/text_file.h"

#include <cctype>
#include <fstream>
#include <sstream>

namespace lagscale::base {

Result<std::string> ReadTextFile(const std::string& path, std::string_view setting) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Result<std::string>::Error(std::string(setting) + ": cannot read \"" + path + "\"");
  }
  std::stringstream contents;
  contents << in.rdbuf();
  return Result<std::string>::Ok(contents.str());
}

Result<std::string> ReadSecretFile(const std::string& path, std::string_view setting) {
  auto contents = ReadTextFile(path, setting);
  if (!contents) return contents;
  std::string secret = std::move(*contents);
  while (!secret.empty() && std::isspace(static_cast<unsigned char>(secret.back()))) {
    secret.pop_back();
  }
  if (secret.empty()) {
    return Result<std::string>::Error(std::string(setting) + ": \"" + path + "\" is empty");
  }
  return Result<std::string>::Ok(std::move(secret));
}

Result<std::string> ReadTokenFile(const std::string& path, std::string_view setting) {
  auto token = ReadSecretFile(path, setting);
  if (!token) return token;
  for (size_t i = 0; i < token->size(); ++i) {
    const auto c = static_cast<unsigned char>((*token)[i]);
    if (c < 0x21 || c > 0x7e) {
      return Result<std::string>::Error(std::string(setting) + ": \"" + path +
                                        "\" holds a byte a header cannot carry at offset " +
                                        std::to_string(i) +
                                        " (a token is one line of visible ASCII)");
    }
  }
  return token;
}

}  // namespace lagscale::base
