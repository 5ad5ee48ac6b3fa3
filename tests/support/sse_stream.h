#pragma once

// Test support for streamed HTTP answers (server-sent events, as LLM servers send them): a reader
// that decodes a chunked `text/event-stream` response from a raw Socket as it arrives and stamps
// each event with the time its last byte reached the client, so a test can tell events sent one
// by one from events held back and sent together.
// Thread safety: not thread-safe; one test thread uses a reader.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "support/http_peers.h"

namespace lagscale::testing {

// The bytes of a POST of `body` as JSON on HTTP/1.1 keep-alive, for a raw Socket.
inline std::string PostJsonBytes(const std::string& address, const std::string& path,
                                 const nlohmann::json& body) {
  std::string text = body.dump();
  return "POST " + path + " HTTP/1.1\r\nHost: " + address +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(text.size()) +
         "\r\n\r\n" + text;
}

// One server-sent event with the time its last byte reached the client.
struct TimedEvent {
  std::chrono::steady_clock::time_point at;
  std::string data;  // after "data: "
  nlohmann::json Json() const { return nlohmann::json::parse(data, nullptr, false); }
};

struct StreamReply {
  std::string head;
  std::vector<TimedEvent> events;
  bool complete = false;  // the chunked terminator arrived
};

// Reads a chunked `text/event-stream` answer as it arrives, decoding chunks and splitting events;
// stops at the terminator, after `max_events` events, on EOF or at the timeout.
class StreamReader {
 public:
  explicit StreamReader(Socket& socket) : socket_(socket) {}

  StreamReply Read(size_t max_events = SIZE_MAX, std::chrono::milliseconds timeout = 10s) {
    StreamReply reply;
    deadline_ = std::chrono::steady_clock::now() + timeout;
    if (!FillUntil("\r\n\r\n")) return reply;
    size_t end = pending_.find("\r\n\r\n");
    reply.head = pending_.substr(0, end);
    pending_.erase(0, end + 4);
    std::string events;
    while (reply.events.size() < max_events) {
      if (!FillUntil("\r\n")) return reply;
      size_t eol = pending_.find("\r\n");
      size_t size = std::stoul(pending_.substr(0, eol), nullptr, 16);
      if (size == 0) {
        reply.complete = FillUntil("\r\n\r\n");
        if (reply.complete) pending_.erase(0, pending_.find("\r\n\r\n") + 4);
        return reply;
      }
      while (pending_.size() < eol + 2 + size + 2) {
        if (!Fill()) return reply;
      }
      events += pending_.substr(eol + 2, size);
      pending_.erase(0, eol + 2 + size + 2);
      for (size_t split; (split = events.find("\n\n")) != std::string::npos;) {
        std::string event = events.substr(0, split);
        events.erase(0, split + 2);
        EXPECT_EQ(event.rfind("data: ", 0), 0u) << event;
        reply.events.push_back({last_bytes_at_, event.substr(6)});
      }
    }
    return reply;
  }

 private:
  bool Fill() {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline_ - std::chrono::steady_clock::now());
    char buf[16384];
    ssize_t n = left.count() > 0 ? socket_.Recv(buf, sizeof buf, left) : -1;
    if (n <= 0) return false;
    last_bytes_at_ = std::chrono::steady_clock::now();
    pending_.append(buf, static_cast<size_t>(n));
    return true;
  }
  bool FillUntil(std::string_view needle) {
    while (pending_.find(needle) == std::string::npos) {
      if (!Fill()) return false;
    }
    return true;
  }

  Socket& socket_;
  std::string pending_;
  std::chrono::steady_clock::time_point deadline_;
  std::chrono::steady_clock::time_point last_bytes_at_;
};

}  // namespace lagscale::testing
