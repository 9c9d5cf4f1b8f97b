// The HTTP session over TLS over TCP (see api/http_server_internal.h: one
// stream kind per translation unit).
#include "api/http_server_internal.h"

namespace iam::api::http_internal {

template void StartSession<TlsStream>(HttpServerImpl*, TlsStream, std::string);

}  // namespace iam::api::http_internal
