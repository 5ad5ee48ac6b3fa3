#pragma once

// The coordinator's TLS files as gRPC's file watcher reads them: copies in a private directory
// that only ever hold a set that passed base::ReadTlsFiles (tls_files.h says what gRPC does with
// anything else). A thread reads the originals again every reload interval: a good set that
// changed replaces the copies, a bad one keeps the last good set and is logged once per distinct
// error. The certificate chain and its key go into one file, given to gRPC as both, so a single
// rename swaps the pair; gRPC compares the file's modification time around its two reads, and
// sets are written at least a second apart, so it never pairs a key with another certificate.
// Thread safety: construct and destroy on one thread; ca() and pair() may be called from any.

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

#include "lagscale/base/last_good.h"
#include "lagscale/base/tls_files.h"

namespace lagscale::coordinator {

class VerifiedTlsCopies {
 public:
  // Reads and checks `files` (throws std::runtime_error naming the flag and the path), writes the
  // copies into a new private directory under $TMPDIR (else /tmp), lagscale-tls-<pid>-XXXXXX, and
  // starts watching. First it removes the directories there of this user's processes that have
  // ended: a killed coordinator cannot remove its own.
  VerifiedTlsCopies(const base::TlsFileSet& files, std::chrono::seconds interval);
  ~VerifiedTlsCopies();  // stops watching, removes the copies
  VerifiedTlsCopies(const VerifiedTlsCopies&) = delete;
  VerifiedTlsCopies& operator=(const VerifiedTlsCopies&) = delete;

  // Where gRPC reads: `ca` (if used) and `pair`, the chain followed by its key.
  const std::string& ca() const { return ca_; }
  const std::string& pair() const { return pair_; }

 private:
  void Watch();
  void Write(const base::TlsPem& pem);

  const std::chrono::seconds interval_;
  base::LastGood<base::TlsPem> pem_;  // watch thread only, after construction
  base::TlsPem written_;              // the set the copies hold (likewise)
  std::filesystem::path dir_;
  std::string ca_, pair_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace lagscale::coordinator
