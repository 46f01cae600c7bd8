#!/usr/bin/env bash
# Installs the Debian bookworm packages sluice needs to build, test and benchmark.
# Idempotent: packages already present are skipped; apt-get update runs only when
# something is missing. Usage: scripts/install-deps.sh [--test] [--bench] [--fuzz]
set -euo pipefail

build_pkgs=(build-essential cmake ninja-build pkg-config ccache
  libboost1.81-dev libboost-url1.81-dev libboost-json1.81-dev
  libconcurrentqueue-dev libyaml-cpp-dev libfmt-dev doctest-dev
  libssl-dev zlib1g-dev libsqlite3-dev libcli11-dev libmimalloc-dev libbrotli-dev libxxhash-dev
  prometheus-cpp-dev libcsv-dev libpsl-dev publicsuffix)
test_pkgs=(nginx-light python3-httpbin python3-gunicorn sqlite3 tmux bsdutils time chromium python3-pil
  openssl curl libxml2-dev clang-format clang-tidy
  apache2 lighttpd lighttpd-mod-deflate lighttpd-mod-openssl python3-brotli
  prometheus python3-jsonschema python3-yaml tinyproxy)
bench_pkgs=(wrk aria2 python3-aiohttp)
fuzz_pkgs=(clang-14 libclang-rt-14-dev)

want=("${build_pkgs[@]}")
for arg in "$@"; do
  case "$arg" in
    --test) want+=("${test_pkgs[@]}") ;;
    --bench) want+=("${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
    --fuzz) want+=("${fuzz_pkgs[@]}") ;;
    *) echo "usage: $0 [--test] [--bench] [--fuzz]" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
