#!/usr/bin/env bash
# Fails when a tracked C++ file differs from .clang-format's layout.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.cpp' '*.hpp' '*.h' | grep -v '^examples/.*/build/' || true)
[[ -z $files ]] && exit 0
# shellcheck disable=SC2086
clang-format --dry-run --Werror $files
