#pragma once

// The self-contained HTML status page served at `/` (inline CSS and JS only: no external
// resources, clusters are often air-gapped).

namespace lagscale::coordinator {

const char* StatusPageHtml();

}  // namespace lagscale::coordinator
