#!/usr/bin/env bash
# One command from a fresh Debian bookworm machine to a passing test suite:
# installs what is missing (build and test peers: nginx, httpbin, ...),
# builds everything and runs every test with CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
scripts/build.sh
build=${SLUICE_BUILD_DIR:-build}
ctest --test-dir "$build" --output-on-failure -j "${SLUICE_TEST_JOBS:-2}" "$@"
