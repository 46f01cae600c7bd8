#!/usr/bin/env bash
# One command from a fresh Debian bookworm machine to a finished pipeline:
# installs what is missing, builds sluice, runs pipelines/quickstart.yaml
# (offline: it starts the built-in origin itself) and prints the report.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
SLUICE_TARGETS=sluice scripts/build.sh
build=${SLUICE_BUILD_DIR:-build}
"$build/cli/sluice" run pipelines/quickstart.yaml "$@"
