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

VerifiedTlsCopies::VerifiedTlsCopies(const base::TlsFileSet& files, std::chrono::seconds interval)
    : interval_(std::max(interval, std::chrono::seconds(1))),
      pem_([files] { return base::ReadTlsFiles(files); },
           "the report port keeps serving the last good TLS files") {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/lagscale-tls-XXXXXX";
  if (!mkdtemp(pattern.data())) {
    throw std::runtime_error("cannot make a private directory for the TLS files in " +
                             pattern.substr(0, pattern.rfind('/')) + " (set TMPDIR)");
  }
  dir_ = pattern;
  ca_ = files.ca.empty() ? "" : (dir_ / "ca.pem").string();
  pair_ = (dir_ / "pair.pem").string();
  Write(pem_.value());
  written_ = pem_.value();
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
    pem_.Reread();
    if (pem_.value() == written_) continue;
    try {
      Write(pem_.value());
      written_ = pem_.value();
      spdlog::info("TLS files changed; new handshakes use them");
    } catch (const std::exception& e) {
      spdlog::error("TLS files: {}; keeping the last good ones", e.what());
    }
  }
}

}  // namespace lagscale::coordinator
