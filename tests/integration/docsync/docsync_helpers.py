"""Moved to suite_harness.docsync (tests/suite_harness/docsync.py); this name stays importable
for tests written before the move. New code imports suite_harness.docsync and
suite_harness.waiting.wait_until."""
from suite_harness.docsync import *  # noqa: F401,F403
from suite_harness.waiting import wait_until


def wait_for(predicate, timeout=20.0, interval=0.05, what="condition"):
    """The old signature of wait_until (raises on timeout)."""
    return wait_until(predicate, timeout, interval, what)
