#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang-14, ASan+UBSan, into ./build-fuzz or
# $SLUICE_FUZZ_BUILD_DIR) and runs one of them.
# Usage: scripts/fuzz.sh TARGET SECONDS   (TARGET: reader inflater config when url_path robots cookie, or all)
#        scripts/fuzz.sh --merge TARGET   minimize the work corpus into tests/fuzz/corpus/TARGET
# A run starts from the committed seeds (tests/fuzz/corpus/TARGET) plus what
# earlier runs on this machine found (build-fuzz/corpus/TARGET). It fails on
# a crash, an abort (a broken property), a leak, a timeout (10 s an input) or
# running out of memory (2 GiB); the input is written to build-fuzz/artifacts/
# and printed as a reproducer command. Prints the libFuzzer figures at the end.
# SLUICE_FUZZ_KEEP_GOING=1: do not stop at the first finding (long runs).
set -euo pipefail
cd "$(dirname "$0")/.."
targets=(reader inflater config when url_path robots cookie)
usage() {
  echo "usage: $0 TARGET SECONDS | --merge TARGET   (TARGET: ${targets[*]} | all)" >&2
  exit 2
}
merge=0
if [[ ${1:-} == --merge ]]; then
  merge=1
  shift
fi
(($# >= 1)) || usage
target=$1
seconds=${2:-}
if ((merge == 0)); then
  [[ $seconds =~ ^[0-9]+$ ]] || usage
fi
if [[ $target == all ]]; then
  for t in "${targets[@]}"; do
    if ((merge)); then "$0" --merge "$t"; else "$0" "$t" "$seconds"; fi
  done
  exit 0
fi
[[ " ${targets[*]} " == *" $target "* ]] || usage

scripts/install-deps.sh --fuzz
build=${SLUICE_FUZZ_BUILD_DIR:-build-fuzz}
mkdir -p "$build"
# Harnesses run side by side share the build directory: one build at a time.
exec 9>"$build/.build-lock"
flock 9
if [[ ! -f $build/CMakeCache.txt ]]; then
  CXX=clang++-14 CC=clang-14 SLUICE_BUILD_DIR=$build SLUICE_TARGETS=fuzz_$target \
    scripts/build.sh -DSLUICE_SANITIZE=fuzzer -DSLUICE_BUILD_FUZZERS=ON \
    -DSLUICE_BUILD_TESTS=OFF -DSLUICE_BUILD_BENCHMARKS=OFF >&2
else
  SLUICE_BUILD_DIR=$build SLUICE_TARGETS=fuzz_$target scripts/build.sh >&2
fi
flock -u 9
bin=$build/tests/fuzz/fuzz_$target
seeds=tests/fuzz/corpus/$target
work=$build/corpus/$target
artifacts=$build/artifacts/$target
mkdir -p "$work" "$artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if ((merge)); then
  tmp=$(mktemp -d)
  "$bin" -merge=1 "$tmp" "$seeds" "$work"
  # Regression inputs (regress-*: past findings) stay whatever their coverage.
  find "$seeds" -name 'regress-*' -exec cp {} "$tmp/" \;
  rm -rf "$seeds"
  mv "$tmp" "$seeds"
  echo "fuzz: $seeds now holds $(find "$seeds" -type f | wc -l) inputs"
  exit 0
fi
log=$build/fuzz-$target.log
touch "$log.start"
echo "fuzz: $target for ${seconds}s (log $log)"
set +e
keep_going=()
if [[ -n ${SLUICE_FUZZ_KEEP_GOING:-} ]]; then
  # Long runs: a child process fuzzes, and a finding is saved and the run
  # goes on to the end (then fails, listing every artifact).
  keep_going=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
fi
"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
  -print_final_stats=1 -artifact_prefix="$artifacts/" "${keep_going[@]}" "$work" "$seeds" \
  >"$log" 2>&1
rc=$?
set -e
grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb|stat::new_units_added)' "$log" || true
grep -E 'cov: [0-9]+' "$log" | tail -n 1 || true
found=$(find "$artifacts" -type f -newer "$log.start" 2>/dev/null | wc -l)
if ((rc != 0 || found > 0)); then
  echo "fuzz: $target FAILED (exit $rc); the end of its log:" >&2
  tail -n 60 "$log" >&2
  find "$artifacts" -type f -newer "$log.start" | while read -r f; do
    echo "fuzz: reproduce with: $bin $f" >&2
  done
  exit 1
fi
echo "fuzz: $target passed"
