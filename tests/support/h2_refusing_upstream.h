#pragma once
// Test support: an HTTP/2 upstream that refuses: each of its first `refusals` connections takes
// the first request whole (windows of 1 MiB), answers it with a GOAWAY whose last stream id is 0
// (so the request was never processed, RFC 9113 section 6.8), reads until the peer closes and
// closes; every later connection is relayed byte for byte to `target` (e.g. a
// testing::GrpcUpstream). It speaks HTTP/2 through nghttp2's server session.

#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "support/loopback.h"

namespace lagscale::testing {

class H2RefusingUpstream {
 public:
  H2RefusingUpstream(uint16_t target_port, int refusals)
      : target_port_(target_port), left_(refusals) {
    listen_fd_ = ListenOnLoopback(port_);
    acceptor_ = std::thread([this] { Accept(); });
  }
  ~H2RefusingUpstream() {
    stop_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    for (auto& t : relays_) t.join();
    ::close(listen_fd_);
  }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int refused() const { return refused_.load(); }  // streams refused so far

 private:
  void Accept() {
    while (!stop_) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      if (left_ > 0) {
        --left_;
        Refuse(fd);
        ::close(fd);
      } else {
        relays_.emplace_back([this, fd] { Relay(fd); });
      }
    }
  }

  // SETTINGS, then on the first request's HEADERS a GOAWAY (last stream 0), then close.
  void Refuse(int fd) {
    struct State {
      int fd;
      bool saw_request = false;
    } state{fd};
    nghttp2_session_callbacks* callbacks;
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_send_callback(
        callbacks,
        [](nghttp2_session*, const uint8_t* data, size_t length, int, void* user) -> ssize_t {
          const auto* s = static_cast<State*>(user);
          return ::send(s->fd, data, length, MSG_NOSIGNAL);
        });
    nghttp2_session_callbacks_set_on_frame_recv_callback(
        callbacks, [](nghttp2_session*, const nghttp2_frame* frame, void* user) {
          if (frame->hd.stream_id > 0 && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
            static_cast<State*>(user)->saw_request = true;
          }
          return 0;
        });
    nghttp2_session* session;
    nghttp2_session_server_new(&session, callbacks, &state);
    nghttp2_session_callbacks_del(callbacks);
    const nghttp2_settings_entry window{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20};
    nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, &window, 1);
    nghttp2_session_set_local_window_size(session, NGHTTP2_FLAG_NONE, 0, 1 << 20);
    nghttp2_session_send(session);
    uint8_t buf[16384];
    while (!state.saw_request && !stop_) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 10'000) <= 0) break;
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0 || nghttp2_session_mem_recv(session, buf, static_cast<size_t>(n)) < 0) break;
      nghttp2_session_send(session);
    }
    if (state.saw_request) {
      // Counted before the GOAWAY leaves: the proxy's answer to the client can arrive before this
      // thread runs again, and a test reads the count as soon as its call has returned.
      ++refused_;
      nghttp2_submit_goaway(session, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, nullptr, 0);
      nghttp2_session_send(session);
      // Closing with unread bytes would send a reset that can discard the GOAWAY on its way.
      for (pollfd p{fd, POLLIN, 0}; ::poll(&p, 1, 10'000) > 0;) {
        if (::recv(fd, buf, sizeof buf, 0) <= 0) break;
      }
    }
    nghttp2_session_del(session);
  }

  // Copies bytes both ways between the client and the target until either side closes.
  void Relay(int client) {
    const int target = ConnectToLoopback(target_port_);
    if (target >= 0) {
      char buf[16384];
      pollfd p[2] = {{client, POLLIN, 0}, {target, POLLIN, 0}};
      while (!stop_ && ::poll(p, 2, 200) >= 0) {
        bool closed = false;
        for (int i = 0; i < 2 && !closed; ++i) {
          if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
          const ssize_t n = ::recv(p[i].fd, buf, sizeof buf, 0);
          closed = n <= 0 || ::send(p[1 - i].fd, buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n;
        }
        if (closed) break;
      }
    }
    if (target >= 0) ::close(target);
    ::close(client);
  }

  const uint16_t target_port_;
  std::atomic<int> left_;
  std::atomic<int> refused_{0};
  std::atomic<bool> stop_{false};
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::thread acceptor_;
  std::vector<std::thread> relays_;  // only the acceptor thread adds, the destructor joins
};

}  // namespace lagscale::testing
