#pragma once

// Process life of the server binaries (lagscale-sidecar, lagscale-coordinator): the exit codes
// they share and the one way both take signals. Header-only: only the two main() functions use it.
//
// Signals are taken synchronously: main() blocks them with BlockSignals() before any thread
// starts (threads inherit the mask, so no thread is interrupted and none has to be signal-safe),
// then waits for one with WaitForSignal() on the main thread.
// Thread safety: call both from the main thread only; BlockSignals() before any thread exists.

#include <pthread.h>
#include <signal.h>

#include <initializer_list>

namespace lagscale::base {

// Exit codes, the same in both binaries (docs/proxy.md and docs/coordinator.md, "Exit codes").
// 0: a clean stop: --help or --version, or SIGTERM/SIGINT followed by a completed drain.
inline constexpr int kExitClean = 0;
// 1: the binary was serving (it had printed its ready line) and then failed, e.g. a drain that
// could not complete. stderr says what.
inline constexpr int kExitFailure = 1;
// 2: it never started serving: an unknown flag, an invalid flag or environment value, a
// configuration file that does not validate, a TLS, token or webhook file that cannot be read, an
// address that cannot be resolved or is in use. Every one of these comes from a setting, and
// stderr names it.
inline constexpr int kExitBadConfiguration = 2;

// The signals a binary waits for: both stop on SIGTERM and SIGINT; the coordinator adds SIGHUP
// (reload).
inline sigset_t SignalSet(std::initializer_list<int> signals) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : signals) sigaddset(&set, s);
  return set;
}

// Blocks `set` in the calling thread and every thread it starts later.
inline void BlockSignals(const sigset_t& set) { pthread_sigmask(SIG_BLOCK, &set, nullptr); }

// Waits until one of `set` (blocked beforehand) arrives; returns its number.
inline int WaitForSignal(const sigset_t& set) {
  int signal = 0;
  while (sigwait(&set, &signal) != 0) {
  }
  return signal;
}

}  // namespace lagscale::base
