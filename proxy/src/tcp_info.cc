// Kept apart: <linux/tcp.h> (whose tcp_info has tcpi_bytes_acked) clashes with the glibc
// <netinet/tcp.h> that Boost.Asio includes.
#include "tcp_info.h"

#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>

namespace lagscale::proxy {

int64_t TcpBytesAcked(int fd) {
  struct tcp_info info = {};
  socklen_t len = sizeof info;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return -1;
  // Older kernels fill a shorter struct: without the field there is no answer.
  if (len < offsetof(struct tcp_info, tcpi_bytes_acked) + sizeof info.tcpi_bytes_acked) return -1;
  return static_cast<int64_t>(info.tcpi_bytes_acked);
}

}  // namespace lagscale::proxy
