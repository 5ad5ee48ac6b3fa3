#pragma once

// Test support for the HTTP/1.1 proxy tests, one header per peer: a raw client (raw_socket.h), a
// fake upstream with test-chosen behaviours (fake_upstream.h), a real nginx (nginx.h), and a real
// sidecar with its /stats invariants (sidecar_stats.h).

#include "support/fake_upstream.h"
#include "support/nginx.h"
#include "support/raw_socket.h"
#include "support/sidecar_stats.h"
