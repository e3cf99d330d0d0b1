#!/usr/bin/env bash
# One command for the mod_docsync benchmark: builds the module, then compares it with an rsync
# daemon on loopback on the same generated tree (needs the packages .ci/run installs).
source "$(dirname "$0")/common.sh"
require_tools rsync apache2 apxs cmake
build_bench build-bench mod_docsync mod_docsync
exec /usr/bin/python3 bench/docsync.py --build build-bench "$@"
