#!/usr/bin/env bash
# Configures and builds sluice into ./build (or $SLUICE_BUILD_DIR).
# Usage: scripts/build.sh [extra cmake -D options...]   (targets via $SLUICE_TARGETS)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${SLUICE_BUILD_DIR:-build}
# Let ccache share objects between build directories (the plugin install test
# builds sluice again in a temporary one).
export CCACHE_NOHASHDIR=1
# Paths relative to the checkout, so that another clone hits the same cache.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
if [[ ! -f $build/CMakeCache.txt ]]; then
  cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
elif (($# > 0)); then
  cmake -S . -B "$build" "$@"
fi
jobs=${SLUICE_JOBS:-$(nproc)}
# shellcheck disable=SC2086
cmake --build "$build" -j "$jobs" ${SLUICE_TARGETS:+--target $SLUICE_TARGETS}
