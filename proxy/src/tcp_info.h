#pragma once

#include <cstdint>

namespace lagscale::proxy {

// Bytes of ours that the peer's TCP has acknowledged on connected socket `fd` (Linux TCP_INFO
// tcpi_bytes_acked; the SYN may count as one), or -1 when the kernel does not say.
// Thread safety: any thread; one getsockopt call.
int64_t TcpBytesAcked(int fd);

}  // namespace lagscale::proxy
