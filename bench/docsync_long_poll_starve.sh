#!/usr/bin/env bash
# One command for "do long polls starve a primary?": builds mod_docsync, then runs
# bench/docsync_long_poll_starve.py against it (extra arguments are passed on, e.g. --runs 3;
# --modules <dir> measures another build, such as one without the fix).
source "$(dirname "$0")/common.sh"
require_tools apache2 apxs cmake
build_bench build-bench mod_docsync mod_docsync
exec /usr/bin/python3 bench/docsync_long_poll_starve.py --modules build-bench/modules "$@"
