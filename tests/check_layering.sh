#!/usr/bin/env bash
# The dependency direction of DESIGN.md §1, checked on the sources (the CMake
# targets enforce it at link time; this catches a stray include first):
#   core/         includes only core/ and the standard library (no OS header:
#                 huge pages come from eventstore/large_memory.h)
#   projections/  includes only core/ and projections/
#   eventstore/   never includes projections/, api/ or tools/
#   RocksDB and FlatBuffers only in eventstore/ (and tests/benchmarks);
#   Boost only in api/ (and tools/);
#   public headers of eventstore/ mention neither RocksDB nor FlatBuffers,
#   except rocks_util.h which is internal;
#   libcurl only in eventstore/etcd_client.cc (etcd), api/forward.cc and
#   tools/import_automate.cc (the source Automate)
#   (writes forwarded to the cluster's leader); no header includes it.
set -u
cd "$(dirname "$0")/.."
fail=0
bad() { echo "layering: $*"; fail=1; }

for f in core/*.h core/*.cc; do
  grep -nE '^#include "' "$f" | grep -vE '#include "core/' && bad "$f includes outside core/"
  grep -nE '^#include <(rocksdb|flatbuffers|boost|nlohmann|openssl|CLI|spdlog)' "$f" && bad "$f includes a third-party header"
  grep -nE '^#include <(sys/|unistd\.h|fcntl\.h|pthread\.h|malloc\.h)' "$f" && bad "$f includes an operating system header"
done
for f in projections/*.h projections/*.cc; do
  grep -nE '^#include "' "$f" | grep -vE '#include "(core|projections)/' && bad "$f includes outside core/ and projections/"
done
for f in eventstore/*.h eventstore/*.cc; do
  grep -nE '^#include "(projections|api|tools)/' "$f" && bad "$f includes an upper layer"
done
for f in $(ls core/* projections/* api/* tools/* 2>/dev/null | grep -E '\.(h|cc)$'); do
  grep -nE '^#include <(rocksdb|flatbuffers)/' "$f" && bad "$f includes RocksDB/FlatBuffers outside eventstore/"
done
for f in $(ls core/* projections/* eventstore/* 2>/dev/null | grep -E '\.(h|cc)$'); do
  grep -nE '^#include <boost/' "$f" && bad "$f includes Boost outside api/"
done
for f in $(ls core/* projections/* eventstore/* api/* tools/* 2>/dev/null | grep -E '\.(h|cc)$'); do
  case "$f" in eventstore/etcd_client.cc|api/forward.cc|tools/import_automate.cc) continue ;; esac
  grep -nE '^#include <curl/' "$f" && bad "$f includes libcurl outside etcd_client.cc, forward.cc and import_automate.cc"
done
for f in eventstore/event_store.h eventstore/crypto.h eventstore/cluster.h eventstore/etcd_client.h; do
  grep -nE '^#include <(rocksdb|flatbuffers|curl|nlohmann|boost)/' "$f" && bad "$f (a public header) includes RocksDB/FlatBuffers/curl/JSON/Boost"
done
# http_server_internal.h is not an interface: only api/http_server*.cc and
# api/http_session_*.cc include it (they share the Beast sessions).
for f in api/*.h; do
  [ "$f" = api/http_server_internal.h ] && continue
  grep -nE '^#include <(boost|nlohmann)/' "$f" && bad "$f (a header) includes Boost or nlohmann"
done
for f in $(ls core/* projections/* eventstore/* api/* tools/* tests/*/* 2>/dev/null | grep -E '\.(h|cc)$'); do
  case "$f" in api/http_server.cc|api/http_server_internal.h|api/http_session_*.cc) continue ;; esac
  grep -n '^#include "api/http_server_internal.h"' "$f" && bad "$f includes the HTTP server's internal header"
done
[ $fail -eq 0 ] && echo "layering: ok"
exit $fail
