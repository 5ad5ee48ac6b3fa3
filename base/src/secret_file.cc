#include "lagscale/base/secret_file.h"

#include <cctype>
#include <fstream>
#include <sstream>

namespace lagscale::base {

Result<std::string> ReadSecretFile(const std::string& path, std::string_view setting) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Result<std::string>::Error(std::string(setting) + ": cannot read \"" + path + "\"");
  }
  std::stringstream contents;
  contents << in.rdbuf();
  std::string secret = contents.str();
  while (!secret.empty() && std::isspace(static_cast<unsigned char>(secret.back()))) {
    secret.pop_back();
  }
  if (secret.empty()) {
    return Result<std::string>::Error(std::string(setting) + ": \"" + path + "\" is empty");
  }
  return Result<std::string>::Ok(std::move(secret));
}

}  // namespace lagscale::base
