// The HTTP session over plain TCP (see api/http_server_internal.h: one
// stream kind per translation unit).
#include "api/http_server_internal.h"

namespace iam::api::http_internal {

template void StartSession<PlainStream>(HttpServerImpl*, PlainStream,
                                        std::string);

}  // namespace iam::api::http_internal
