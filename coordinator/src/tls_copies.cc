#include "tls_copies.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <set>
#include <stdexcept>
#include <string_view>

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

constexpr std::string_view kPrefix = "lagscale-tls-";

// The pid in a copies directory's name (lagscale-tls-<pid>-XXXXXX); nullopt for any other name.
std::optional<pid_t> CreatorOf(std::string_view name) {
  if (!name.starts_with(kPrefix)) return std::nullopt;
  name.remove_prefix(kPrefix.size());
  pid_t pid = 0;
  const auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), pid);
  if (ec != std::errc() || pid <= 0 || end == name.data() + name.size() || *end != '-') {
    return std::nullopt;
  }
  return pid;
}

// The directories of this process's VerifiedTlsCopies objects, so that making one never removes
// another's (a test may run two coordinators in one process).
struct OwnDirectories {
  std::mutex mu;
  std::set<std::string> names;  // guarded by mu; unique by mkdtemp's random part
};
OwnDirectories& Own() {
  static OwnDirectories own;
  return own;
}

// Removes the copies directories under `tmp` that this user's ended processes left: a coordinator
// killed outright (SIGKILL, an out-of-memory kill) cannot remove its own, and in Kubernetes /tmp is
// an emptyDir that outlives the container. Called before this process makes its own, so a
// directory carrying its pid is a former process's unless this process made it (a restarted
// container's coordinator is often pid 1 again). A directory whose pid is alive stays: it may be
// another coordinator's. Call with Own().mu held.
void RemoveEndedProcessesCopies(const std::filesystem::path& tmp) {
  std::error_code ec;
  std::filesystem::directory_iterator it(tmp, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const std::filesystem::path path = it->path();
    const std::string name = path.filename().string();
    const auto pid = CreatorOf(name);
    if (!pid) continue;
    if (*pid == getpid() ? Own().names.contains(name) : kill(*pid, 0) == 0 || errno != ESRCH) {
      continue;
    }
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid()) continue;
    std::error_code removed;
    std::filesystem::remove_all(path, removed);
    if (removed) {
      spdlog::warn("cannot remove {}, TLS file copies left by ended process {}: {}", path.string(),
                   *pid, removed.message());
    } else {
      spdlog::info("removed {}: TLS file copies left by ended process {}", path.string(), *pid);
    }
  }
}

}  // namespace

VerifiedTlsCopies::VerifiedTlsCopies(const base::TlsFileSet& files, std::chrono::seconds interval)
    : interval_(std::max(interval, std::chrono::seconds(1))),
      pem_([files] { return base::ReadTlsFiles(files); },
           "the report port keeps serving the last good TLS files") {
  const char* tmpdir = std::getenv("TMPDIR");
  const std::string tmp = tmpdir && *tmpdir ? tmpdir : "/tmp";
  std::string pattern = tmp + "/" + std::string(kPrefix) + std::to_string(getpid()) + "-XXXXXX";
  {
    std::lock_guard lock(Own().mu);
    RemoveEndedProcessesCopies(tmp);
    if (!mkdtemp(pattern.data())) {
      throw std::runtime_error("cannot make a private directory for the TLS files in " + tmp +
                               " (set TMPDIR)");
    }
    dir_ = pattern;
    Own().names.insert(dir_.filename().string());
  }
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
  std::lock_guard lock(Own().mu);
  Own().names.erase(dir_.filename().string());
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
