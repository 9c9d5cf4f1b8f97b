#!/usr/bin/env bash
# A local cluster in one command (`make cluster`): 3 etcd members and 3
# `iamledger serve --etcd` nodes on loopback, one shared key file, every
# node its own data directory under $CLUSTER_DIR. Prints the URLs and how to
# get an admin token; Ctrl-C stops everything (the data stays: run it again
# to restart the same cluster, CLEAN=1 to start afresh).
#
#   scripts/cluster.sh [BUILD_DIR]
#   env: CLUSTER_DIR (default /tmp/iamledger-cluster), BASE_PORT (21000):
#        etcd clients BASE+1..3, etcd peers BASE+11..13, iamledger BASE+81..83
set -euo pipefail
BUILD=${1:-build}
BIN=$BUILD/iamledger
ETCD=$(command -v etcd || true)
[ -x /usr/bin/etcd ] && ETCD=/usr/bin/etcd
ROOT=${CLUSTER_DIR:-/tmp/iamledger-cluster}
BASE=${BASE_PORT:-21000}
[ -x "$BIN" ] || { echo "cluster: $BIN is missing (make binary)" >&2; exit 1; }
[ -n "$ETCD" ] || { echo "cluster: etcd is missing (scripts/install-deps.sh installs etcd-server)" >&2; exit 1; }
[ "${CLEAN:-0}" = 1 ] && rm -rf "$ROOT"
mkdir -p "$ROOT"

pids=()
stop() {
  trap - INT TERM EXIT
  echo
  echo "cluster: stopping"
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  echo "cluster: stopped (data kept in $ROOT; CLEAN=1 starts afresh)"
}
trap stop INT TERM EXIT

initial=""
for i in 1 2 3; do
  initial+="${initial:+,}e$i=http://127.0.0.1:$((BASE + 10 + i))"
done
etcd_urls=""
for i in 1 2 3; do
  client=http://127.0.0.1:$((BASE + i))
  peer=http://127.0.0.1:$((BASE + 10 + i))
  etcd_urls+="${etcd_urls:+,}$client"
  "$ETCD" --name "e$i" --data-dir "$ROOT/etcd$i" \
    --listen-client-urls "$client" --advertise-client-urls "$client" \
    --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
    --initial-cluster "$initial" --initial-cluster-state new \
    --initial-cluster-token iamledger-local \
    --quota-backend-bytes $((2 * 1024 * 1024 * 1024)) \
    >"$ROOT/etcd$i.log" 2>&1 &
  pids+=($!)
done

wait_http() {  # URL METHOD [BODY]: until it answers 200, 30 s at most
  for _ in $(seq 300); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' -X "$2" ${3:+-d "$3"} "$1")" = 200 ]; then
      return 0
    fi
    sleep 0.1
  done
  echo "cluster: $1 did not answer; see the logs in $ROOT" >&2
  return 1
}
for i in 1 2 3; do
  wait_http "http://127.0.0.1:$((BASE + i))/v3/maintenance/status" POST '{}'
done

for i in 1 2 3; do
  port=$((BASE + 80 + i))
  mkdir -p "$ROOT/node$i"
  "$BIN" serve --data-dir "$ROOT/node$i/data" --key-file "$ROOT/iamledger.key" \
    --listen "127.0.0.1:$port" --etcd "$etcd_urls" --node-name "node$i" \
    --advertise "http://127.0.0.1:$port" >"$ROOT/node$i.log" 2>&1 &
  pids+=($!)
  # The first node creates the shared key file.
  [ "$i" = 1 ] && wait_http "http://127.0.0.1:$port/readyz" GET
done
for i in 1 2 3; do wait_http "http://127.0.0.1:$((BASE + 80 + i))/readyz" GET; done

cat <<MSG

iamledger cluster on loopback (data and logs in $ROOT):
  etcd members:     $etcd_urls
  iamledger nodes:  http://127.0.0.1:$((BASE + 81))  http://127.0.0.1:$((BASE + 82))  http://127.0.0.1:$((BASE + 83))
  roles:            curl -s http://127.0.0.1:$((BASE + 81))/readyz   (role, leader, applied_seq)

An admin token (through node1's admin socket; forwarded to the leader):
  export TOKEN=\$($BIN iam token create admin --admin --data-dir $ROOT/node1/data)
  curl -s -H "api-token: \$TOKEN" http://127.0.0.1:$((BASE + 82))/apis/iam/v2/tokens

Writes on any node go to the leader; X-Iam-Seq on a write and X-Iam-Min-Seq on
a read give read-your-writes on any node. Ctrl-C stops everything.
MSG
wait
