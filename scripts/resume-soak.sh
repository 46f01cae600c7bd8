#!/bin/bash
# The long form of tests/http/resume_test.cpp (issue 11's acceptance): a
# pipeline of 50,000 URLs from the built-in origin into jsonl, csv, sqlite and
# files, killed with SIGKILL at 20 random moments and resumed each time until
# it finishes, then the same with SIGINT; the test checks every URL once in
# every sink, no torn line, integrity_check, complete bodies, an empty TMPDIR
# and the redone work per interruption. About 4 minutes per loop.
#   scripts/resume-soak.sh [URLS] [ROUNDS]     (defaults 50000 20)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${SLUICE_BUILD_DIR:-$here/build}
test -x "$build/tests/http_resume_test" || "$here/scripts/build.sh"
export SLUICE_BIN=$build/cli/sluice
export SLUICE_RESUME_URLS=${1:-50000}
export SLUICE_RESUME_ROUNDS=${2:-20}
echo "resume soak: $SLUICE_RESUME_URLS URLs, $SLUICE_RESUME_ROUNDS interruptions per loop; load $(cut -d' ' -f1-3 /proc/loadavg)"
exec "$build/tests/http_resume_test" --success=false
