#pragma once

// The TLS files of one end of the report stream (a CA bundle, and a certificate with its private
// key), read and checked before gRPC sees them. gRPC 1.51 takes what its file watcher reads on
// trust: an empty key or certificate aborts the process (an assertion in its TLS connector), and a
// key that is not the certificate's drops the working pair, refusing every new handshake. A
// rotation can produce either (a file truncated before it is rewritten, a Secret with an empty
// tls.key, a key renewed before its certificate), so both ends hand gRPC only files that passed
// ReadTlsFiles.
// Thread safety: a free function; safe from any thread.

#include <string>

#include "lagscale/base/result.h"

namespace lagscale::base {

// Paths ("" = not used) and the flags that name them in errors.
struct TlsFileSet {
  std::string ca, cert, key;
  std::string ca_flag, cert_flag, key_flag;
};

// The PEM text of a TlsFileSet, as read.
struct TlsPem {
  std::string ca, cert, key;
  bool operator==(const TlsPem&) const = default;
};

// Reads every file `files` uses and checks it: the CA bundle and the certificate hold at least one
// certificate each, the key is a private key (unencrypted), and it is the key of the first
// certificate. The error names the flag and the path: `--tls-key: "k.pem" is not the key of
// --tls-cert "c.pem"`.
Result<TlsPem> ReadTlsFiles(const TlsFileSet& files);

}  // namespace lagscale::base
