#include "tls_copies.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <stdexcept>

#include "lagscale/base/thread_name.h"

namespace lagscale::coordinator {
namespace {

// Writes `text` beside `path` readable by this user only, then renames it over `path`: a reader
// sees the old file or the new one, never a part.
void Replace(const std::filesystem::path& path, const std::string& text) {
  const std::filesystem::path next = path.string() + ".next";
  {
    std::ofstream out(next, std::ios::binary | std::ios::trunc);
    std::filesystem::permissions(
        next, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    out << text;
    if (!out.flush()) throw std::runtime_error("cannot write " + next.string());
  }
  std::filesystem::rename(next, path);
}

}  // namespace

VerifiedTlsCopies::VerifiedTlsCopies(base::TlsFileSet files, std::chrono::seconds interval)
    : files_(std::move(files)), interval_(std::max(interval, std::chrono::seconds(1))) {
  current_ = base::ReadTlsFiles(files_).OrThrow();
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/lagscale-tls-XXXXXX";
  if (!mkdtemp(pattern.data())) {
    throw std::runtime_error("cannot make a private directory for the TLS files in " +
                             pattern.substr(0, pattern.rfind('/')) + " (set TMPDIR)");
  }
  dir_ = pattern;
  ca_ = files_.ca.empty() ? "" : (dir_ / "ca.pem").string();
  pair_ = (dir_ / "pair.pem").string();
  Write(current_);
  thread_ = std::thread([this] {
    base::NameThisThread("tls-files");
    Watch();
  });
}

VerifiedTlsCopies::~VerifiedTlsCopies() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

void VerifiedTlsCopies::Write(const base::TlsPem& pem) {
  if (!ca_.empty()) Replace(ca_, pem.ca);
  Replace(pair_, pem.cert + pem.key);
}

void VerifiedTlsCopies::Watch() {
  std::unique_lock lock(mu_);
  while (!wake_.wait_for(lock, interval_, [this] { return stop_; })) {
    auto pem = base::ReadTlsFiles(files_);
    if (!pem) {
      if (pem.error() != error_) {
        spdlog::error("{}; the report port keeps serving the last good TLS files", pem.error());
      }
      error_ = pem.error();
      continue;
    }
    if (!error_.empty()) spdlog::info("TLS files good again");
    error_.clear();
    if (*pem == current_) continue;
    try {
      Write(*pem);
      current_ = std::move(*pem);
      spdlog::info("TLS files changed; new handshakes use them");
    } catch (const std::exception& e) {
      spdlog::error("TLS files: {}; keeping the last good ones", e.what());
    }
  }
}

}  // namespace lagscale::coordinator
