#!/usr/bin/env bash
# The installed SDK, end to end: configure, build and install sluice into a
# fresh prefix; build examples/plugin out of tree against that prefix
# (CMAKE_PREFIX_PATH); run a pipeline using both plugin stages through the
# installed `sluice`; check its output and `sluice stages`.
#
# usage: install_test.sh SOURCE_DIR WORK_DIR [BUILD_TYPE] [SANITIZE] [CXX]
# The sluice build directory inside WORK_DIR is kept between runs (with ccache
# and CCACHE_NOHASHDIR, even the first run mostly hits the cache of the main
# build); the prefix, the plugin build and the run directory are fresh.
set -euo pipefail

src=$(cd "$1" && pwd)
work=$2
build_type=${3:-RelWithDebInfo}
sanitize=${4:-}
cxx=${5:-c++}
build=$work/sluice-build
prefix=$work/prefix
plugin_build=$work/plugin-build
run=$work/run

export CCACHE_NOHASHDIR=1
rm -rf "$prefix" "$plugin_build" "$run"
mkdir -p "$work" "$run/data"

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

step "configure, build and install sluice into $prefix"
generator=()
if command -v ninja > /dev/null; then generator=(-G Ninja); fi
if [[ ! -f $build/CMakeCache.txt ]]; then
  cmake -S "$src" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE="$build_type" \
    -DCMAKE_CXX_COMPILER="$cxx" -DSLUICE_SANITIZE="$sanitize" \
    -DSLUICE_BUILD_TESTS=OFF -DSLUICE_BUILD_BENCHMARKS=OFF
else
  cmake "$build" > /dev/null
fi
cmake --build "$build" -j2 --target sluice
cmake --install "$build" --prefix "$prefix"

for f in bin/sluice include/sluice/plugin/plugin.hpp include/sluice/stage/registry.hpp \
         lib/cmake/sluice/sluiceConfig.cmake lib/cmake/sluice/sluiceConfigVersion.cmake \
         lib/cmake/sluice/sluiceTargets.cmake lib/cmake/sluice/sluicePluginHelpers.cmake; do
  [[ -e $prefix/$f ]] || fail "not installed: $f"
done
ls "$prefix"/lib/libsluice.so* > /dev/null || fail "libsluice.so not installed"

step "build examples/plugin out of tree against $prefix"
# A copy outside the sluice tree: nothing may be found through relative paths
# into the sources.
cp -r "$src/examples/plugin" "$work/plugin-src"
trap 'rm -rf "$work/plugin-src"' EXIT
cmake -S "$work/plugin-src" -B "$plugin_build" "${generator[@]}" -DCMAKE_BUILD_TYPE="$build_type" \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_PREFIX_PATH="$prefix"
cmake --build "$plugin_build" -j2
plugin=$plugin_build/libsluice_example.so
[[ -f $plugin ]] || fail "no $plugin"
grep -q "$prefix/lib/cmake/sluice" "$plugin_build/CMakeCache.txt" ||
  fail "the plugin was not configured against the installed package"

step "sluice stages lists the plugin's stages with their options"
"$prefix/bin/sluice" --plugin "$plugin" stages > "$run/stages.txt"
cat "$run/stages.txt"
for stage in sitemap host_counts; do
  grep -Eq "^(producer|sink) +$stage .*\[plugin $plugin\]" "$run/stages.txt" ||
    fail "$stage (from $plugin) missing from sluice stages"
done
"$prefix/bin/sluice" --plugin "$plugin" stages sitemap > "$run/stages-sitemap.txt"
"$prefix/bin/sluice" --plugin "$plugin" stages host_counts > "$run/stages-host_counts.txt"
cat "$run/stages-sitemap.txt" "$run/stages-host_counts.txt"
for word in file limit changed_since rate; do
  grep -q -- "^  $word " "$run/stages-sitemap.txt" || fail "sitemap option '$word' not listed"
done
for word in file flush_interval; do
  grep -q -- "^  $word " "$run/stages-host_counts.txt" || fail "host_counts option '$word' not listed"
done

step "run a pipeline with the plugin's producer and sink"
cp "$src/tests/plugin/fixtures/sitemap.xml" "$run/data/sitemap.xml"
mkdir -p "$run/plugins"
cp "$plugin" "$run/plugins/"
cat > "$run/pipeline.yaml" <<'YAML'
# sitemap (plugin) -> sleep (built-in) -> host_counts (plugin)
plugins:
  - plugins/libsluice_example.so
producers:
  - type: sitemap
    file: data/sitemap.xml
    rate: 1000
consumers:
  type: sleep
  workers: 2
  delay: 1ms..3ms
sinks:
  - type: host_counts
    file: host_counts.csv
YAML
(cd / && "$prefix/bin/sluice" run "$run/pipeline.yaml") 2> "$run/stderr.txt" ||
  { cat "$run/stderr.txt"; fail "sluice run failed"; }
cat "$run/stderr.txt"
expected='host,results,ok,failed,bytes,top_error
cdn.example.net,1,1,0,0,
docs.example.org,2,2,0,0,
www.example.com,3,3,0,0,'
actual=$(cat "$run/host_counts.csv")
if [[ $actual != "$expected" ]]; then
  printf 'expected:\n%s\nactual:\n%s\n' "$expected" "$actual" >&2
  fail "host_counts.csv differs"
fi
grep -q "skipping invalid <loc> 'not a url at all'" "$run/stderr.txt" ||
  fail "the producer's warning did not reach the log"
echo "PASS"
