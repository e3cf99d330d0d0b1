#!/usr/bin/env bash
# One command for the mod_docsync benchmark: builds the module, then compares it with an rsync
# daemon on loopback on the same generated tree (needs the packages .ci/run installs).
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in rsync apache2 apxs cmake; do
    command -v "$tool" >/dev/null || { echo "missing $tool: run 'bash .ci/run' once (it installs the packages)"; exit 1; }
done
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSUITE_MODULES=mod_docsync \
    -DSUITE_SANITIZER_TESTS=OFF >/dev/null
cmake --build build-bench -j"$(nproc)" --target mod_docsync >/dev/null
exec /usr/bin/python3 bench/docsync.py --build build-bench "$@"
