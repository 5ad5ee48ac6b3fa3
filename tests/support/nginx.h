#pragma once

// Test support: a real nginx on a free loopback port, as an upstream or a peer to compare with.

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "support/process.h"
#include "support/raw_socket.h"

namespace lagscale::testing {

// A real nginx on a free loopback port with `server_block` as its only server's locations.
class Nginx {
 public:
  explicit Nginx(const std::string& locations) {
    dir_ = std::filesystem::temp_directory_path() /
           ("lagscale-nginx-" + std::to_string(::getpid()) + "-" + std::to_string(++counter()));
    std::filesystem::create_directories(dir_);
    for (int attempt = 0; attempt < 5 && !process_; ++attempt) {
      port_ = FreeLoopbackPort();
      const std::string conf = (dir_ / "nginx.conf").string();
      std::ofstream(conf) << "worker_processes 1;\ndaemon off;\nerror_log " << (dir_ / "error.log")
                          << ";\npid " << (dir_ / "nginx.pid") << ";\n"
                          << "events { worker_connections 1024; }\nhttp {\n access_log off;\n"
                          << " client_body_temp_path " << dir_ / "b"
                          << ";\n proxy_temp_path " << dir_ / "p"
                          << ";\n fastcgi_temp_path " << dir_ / "f"
                          << ";\n uwsgi_temp_path " << dir_ / "u"
                          << ";\n scgi_temp_path " << dir_ / "s"
                          << ";\n keepalive_requests 100000;\n"
                          << " server {\n  listen 127.0.0.1:" << port_ << ";\n"
                          << locations << "\n }\n}\n";
      auto child = ChildProcess::Start({"/usr/sbin/nginx", "-c", conf, "-p", dir_.string()});
      if (!child) break;
      const bool up =
          Eventually([&] { return !child->running() || Socket::Connect(address()).ok(); }, 10s);
      if (up && child->running()) process_ = std::move(child);  // else: port taken, retry
    }
    EXPECT_NE(process_, nullptr) << "nginx did not start";
  }
  ~Nginx() {
    if (process_) {
      process_->Signal(SIGQUIT);
      process_->Wait(5s);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  bool ok() const { return process_ != nullptr; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  static int& counter() {
    static int n = 0;
    return n;
  }
  std::filesystem::path dir_;
  int port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace lagscale::testing
