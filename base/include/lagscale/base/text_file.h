#pragma once

// Files named by settings, read at start-up or on reload: ReadTextFile reads one whole (a
// configuration, a template, a PEM); ReadSecretFile reads a bearer token or other one-line secret
// kept in a file (a mounted Kubernetes Secret), with trailing whitespace (the newline editors add)
// removed.
// Thread safety: a free function; safe from any thread. The file may be rewritten concurrently
// (rotation): a read sees the old or the new contents, or an empty file, which is an error.

#include <string>
#include <string_view>

#include "lagscale/base/result.h"

namespace lagscale::base {

// The contents of `path`. The error names `setting` and the path: `--config: cannot read "p"`.
Result<std::string> ReadTextFile(const std::string& path, std::string_view setting);

// The secret in `path`. Errors name `setting` and the path: `--token-file: cannot read "p"`,
// `--token-file: "p" is empty`.
Result<std::string> ReadSecretFile(const std::string& path, std::string_view setting);

// A bearer token in `path`: a secret (as above) that an HTTP or gRPC header can carry, one line of
// visible ASCII. A stray second line, a control byte or a byte-order mark is an error naming
// `setting`, the path and the offset, where sending it would have aborted gRPC or been refused.
Result<std::string> ReadTokenFile(const std::string& path, std::string_view setting);

}  // namespace lagscale::base
