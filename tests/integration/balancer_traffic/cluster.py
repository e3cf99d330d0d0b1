"""Moved to suite_harness.balancer (tests/suite_harness/balancer.py); this name stays importable
for tests written before the move. New code imports suite_harness.balancer."""
from suite_harness.balancer import *  # noqa: F401,F403
from suite_harness.waiting import wait_until as _wait_until


def wait_until(predicate, timeout, step=0.05):
    """The old signature: True, or False on timeout."""
    return bool(_wait_until(predicate, timeout, step, raise_on_timeout=False))
