// The kubeconfig loader (coordinator/src/kube_connection.cc) fed arbitrary files.
//
// Invariants checked on every input:
//  - a refused kubeconfig throws a std::exception whose message says what was wrong in
//    kubeconfig terms (it starts with "kubeconfig", "--kubeconfig" or "kubernetes"),
//    never a bare parser message, never a crash;
//  - an accepted one has an API server whose URL the client can use, and a client certificate only
//    with its key.
#include <cstdint>
#include <fstream>
#include <string>

#include "fuzz_checks.h"
#include "http_client.h"
#include "lagscale/coordinator/kubernetes.h"
#include "support/scratch_dir.h"

namespace {

namespace co = lagscale::coordinator;

using lagscale::fuzz::Fail;

bool Named(const std::string& message) {
  for (const char* prefix : {"kubeconfig", "--kubeconfig", "kubernetes"}) {
    if (message.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

// A private directory holding the file, so relative credential paths resolve inside it. It goes
// when the process exits normally (libFuzzer's exit(0) runs static destructors); a run that ends in
// a finding aborts and leaves it in /tmp.
const std::string& Path() {
  static const lagscale::testing::ScratchDir dir("kubeconfig-fuzz");
  static const std::string path = dir.Path("config");
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  {
    std::ofstream out(Path(), std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  co::KubeConnection c;
  try {
    c = co::KubeconfigConnection(Path());
  } catch (const std::exception& e) {
    if (!Named(e.what())) Fail(std::string("unnamed kubeconfig error: ") + e.what());
    return 0;
  }
  if (c.server.empty()) Fail("accepted without a server");
  if (!co::ParseHttpUrl(c.server)) Fail("accepted a server that is not an http(s) URL");
  if (!c.client_cert_pem.empty() && c.client_key_pem.empty()) Fail("certificate without key");
  return 0;
}
