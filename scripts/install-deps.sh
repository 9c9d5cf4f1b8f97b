#!/usr/bin/env bash
# Installs the Debian 12 packages iamledger needs, only those missing.
# Usage: scripts/install-deps.sh [--bench]   (--bench adds nginx, wrk, postgresql-15)
# Never add libboost-dev or libboost-all-dev: they are 1.74 and conflict with
# libboost1.81-dev.
set -euo pipefail
pkgs=(g++ cmake ninja-build ccache pkg-config
      librocksdb-dev libflatbuffers-dev flatbuffers-compiler
      libboost1.81-dev libboost-system1.81-dev nlohmann-json3-dev libssl-dev
      doctest-dev libcli11-dev libspdlog-dev curl python3
      libcurl4-openssl-dev etcd-server etcd-client
      openssl chromium chromium-driver python3-selenium  # tests/console
      clang libclang-rt-14-dev)  # the sanitizer and fuzz build (build-asan)
if [[ "${1:-}" == "--bench" ]]; then pkgs+=(nginx wrk postgresql-15); fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
echo "installing: ${missing[*]}" >&2
sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
