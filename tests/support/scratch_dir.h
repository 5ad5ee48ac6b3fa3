#pragma once

// Test support: a directory of a test's own under /tmp (/tmp/lagscale-<name>-XXXXXX) for the files
// it writes or has a peer write (certificates, kubeconfigs, results), removed with everything in it
// when the object goes.
// Thread safety: not thread-safe.

#include <stdlib.h>

#include <cerrno>
#include <filesystem>
#include <string>
#include <system_error>

namespace lagscale::testing {

class ScratchDir {
 public:
  explicit ScratchDir(const std::string& name) {
    std::string pattern = "/tmp/lagscale-" + name + "-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
      throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
    }
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // The path of `name` inside the directory.
  std::string Path(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace lagscale::testing
