// The HTTP session over the unix socket (see api/http_server_internal.h: one
// stream kind per translation unit).
#include "api/http_server_internal.h"

namespace iam::api::http_internal {

template void StartSession<UnixStream>(HttpServerImpl*, UnixStream,
                                       std::string);

}  // namespace iam::api::http_internal
