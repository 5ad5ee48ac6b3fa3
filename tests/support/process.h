#pragma once

// Test support: real child processes (the project's binaries, nginx, prometheus) and a tiny HTTP
// client, for integration tests that assert what a user would see.

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace lagscale::testing {

using namespace std::chrono_literals;

// ChildProcess: a program started with fork/exec, its stdout piped to the test and its stderr kept
// in a temporary file (shown by stderr_text() when a test fails). Killed with SIGKILL on
// destruction if still running.
// Thread safety: not thread-safe.
class ChildProcess {
 public:
  // Starts argv[0] (a path) with argv; `env` entries ("K=V") are added to the test's environment.
  // Returns nullptr (and fails the current test) if it cannot be started.
  static std::unique_ptr<ChildProcess> Start(const std::vector<std::string>& argv,
                                             const std::vector<std::string>& env = {});
  ~ChildProcess();

  // Reads stdout until a line starting with `prefix` appears; nullopt on timeout or exit.
  std::optional<std::string> WaitForLine(std::string_view prefix,
                                         std::chrono::milliseconds timeout = 10s);
  // Sends `signal`; Wait() returns the exit code (or 128 + signal) once the process has ended.
  void Signal(int signal);
  std::optional<int> Wait(std::chrono::milliseconds timeout = 10s);
  bool running();
  pid_t pid() const { return pid_; }
  std::string stderr_text() const;

 private:
  ChildProcess() = default;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string stdout_buffer_;
  std::string stderr_path_;
  std::optional<int> exit_code_;
};

// "lagscale-sidecar ready http=127.0.0.1:1 admin=127.0.0.1:2" -> {http: ..., admin: ...}.
std::map<std::string, std::string> ParseReadyLine(const std::string& line);

// Starts a project binary from LAGSCALE_BIN_DIR and waits for its ready line; the returned map
// holds the addresses it printed. Fails the test (returns nullptr) if it does not become ready.
std::unique_ptr<ChildProcess> StartReady(const std::string& binary,
                                         const std::vector<std::string>& args,
                                         std::map<std::string, std::string>& addresses,
                                         const std::vector<std::string>& env = {});

// A loopback port that was free a moment ago (bind port 0, read it, close), for programs that
// cannot report the port they bound (nginx, prometheus). Callers retry on a bind failure.
int FreeLoopbackPort();

// A loopback port on which every connection is refused for as long as this object lives: a socket
// bound to it that never listens. No other socket can take the port meanwhile, unlike a port that
// was merely free a moment ago, which the next bind to port 0 anywhere on the machine may get
// (a parallel test's server, or the very proxy under test, which would then proxy to itself).
class RefusingPort {
 public:
  RefusingPort();
  // Holds the port of `address` ("127.0.0.1:PORT"), which a server that was just stopped had,
  // until a new server binds it again: with SO_REUSEADDR, so that a server binding with
  // SO_REUSEADDR too (Boost.Asio's acceptors, gRPC) can take it while this is held, and a bind to
  // port 0 anywhere, which never picks a port with a socket bound to it while others are free,
  // cannot.
  explicit RefusingPort(const std::string& address);
  ~RefusingPort();
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  RefusingPort(int port, bool shared);
  int fd_ = -1;
  int port_ = 0;
};

// Polls `condition` every 10 ms until it holds or `timeout` passes.
bool Eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 10s);

struct HttpResponse {
  int status = 0;  // 0 when the request failed at the transport level
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string error;
};

// One HTTP/1.1 request on a fresh connection (Boost.Beast), to "host:port".
HttpResponse Http(const std::string& method, const std::string& host_port,
                  const std::string& target, const std::string& body = {},
                  const std::map<std::string, std::string>& headers = {},
                  std::chrono::milliseconds timeout = 10s);
inline HttpResponse HttpGet(const std::string& host_port, const std::string& target) {
  return Http("GET", host_port, target);
}

// Resident set size of a process in KiB (VmRSS from /proc/<pid>/status), or -1.
long RssKiB(pid_t pid);

// The names `top -H`, `ps -L` and perf show for a process's threads (/proc/<pid>/task/*/comm).
std::set<std::string> ThreadNames(pid_t pid);

// CPU seconds (user + system, /proc/<pid>/task/*/stat) the thread of a process named `name` has
// used, or -1 if it has no such thread.
double ThreadCpuSeconds(pid_t pid, const std::string& name);

// The descriptor number process `pid` would get next: RLIMIT_NOFILE bounds numbers, not counts,
// so SetFdLimit(pid, LowestFreeFd(pid)) leaves it not one descriptor more.
int LowestFreeFd(pid_t pid);

// Sets the soft RLIMIT_NOFILE of process `pid` (prlimit); false when it could not.
bool SetFdLimit(pid_t pid, int soft);

}  // namespace lagscale::testing
