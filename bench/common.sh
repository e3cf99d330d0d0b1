# The prologue every bench/*.sh command sources: strict mode, the repository root as working
# directory, the test harness (tests/suite_harness) on PYTHONPATH, and the two steps they share.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PYTHONPATH="$PWD/tests${PYTHONPATH:+:$PYTHONPATH}"

# require_tools TOOL...: stops with a hint when one of them is not installed.
require_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null ||
            { echo "missing $tool: run 'bash .ci/run' once (it installs the packages)"; exit 1; }
    done
}

# build_bench BUILD_DIR MODULES TARGET...: an optimized build of TARGETs (MODULES: the
# SUITE_MODULES to configure, empty for all), without the sanitizer tests.
build_bench() {
    local dir=$1 modules=$2
    shift 2
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo ${modules:+-DSUITE_MODULES="$modules"} \
        -DSUITE_SANITIZER_TESTS=OFF >/dev/null
    cmake --build "$dir" -j"$(nproc)" --target "$@" >/dev/null
}
