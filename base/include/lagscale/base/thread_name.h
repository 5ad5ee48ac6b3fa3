#pragma once

// Names the calling thread, so that `top -H`, `ps -L`, perf and /proc/PID/task/*/comm tell a
// process's threads apart (the HTTP I/O threads, the admin server, the report stream). Linux keeps
// 15 bytes of a name; a longer one is cut there. Header-only.
// Thread safety: names only the calling thread.

#include <pthread.h>

#include <string>
#include <string_view>

namespace lagscale::base {

inline void NameThisThread(std::string_view name) {
  const std::string kept(name.substr(0, 15));
  pthread_setname_np(pthread_self(), kept.c_str());
}

}  // namespace lagscale::base
