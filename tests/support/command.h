#pragma once

// Test support: running a peer command to completion (promtool, a Python gRPC client, openssl, a
// shell pipeline) and reading what it printed. Unlike popen() and system(), the command inherits
// no descriptor of the test's but stdin, stdout and stderr: a listener or a connection the test
// holds must not stay open in a child, or closing it in the test would not close it.
// Thread safety: RunCommand() may be called from any thread.

#include <chrono>
#include <string>
#include <vector>

namespace lagscale::testing {

struct CommandResult {
  int exit_code = -1;  // the exit status; 128 + signal when killed; -1 when it could not run
  std::string out;     // what it wrote to stdout
  std::string err;     // and to stderr
  bool ok() const { return exit_code == 0; }
  std::string all() const { return out + err; }  // both, for messages and searches
};

// Runs argv (argv[0] a path, or a program name looked up in PATH) with the test's environment and
// waits for it; killed (exit 128 + SIGKILL) if it has not ended within `timeout`.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         std::chrono::milliseconds timeout = std::chrono::seconds(60));

// RunCommand({"/bin/sh", "-c", script}): for redirections and pipelines.
CommandResult RunShell(const std::string& script,
                       std::chrono::milliseconds timeout = std::chrono::seconds(60));

}  // namespace lagscale::testing
