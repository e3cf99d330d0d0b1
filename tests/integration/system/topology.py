"""Moved to suite_harness.topology (tests/suite_harness/topology.py); this name stays importable
for tests written before the move. New code imports suite_harness.topology and
suite_harness.waiting.wait_until."""
from suite_harness.topology import *  # noqa: F401,F403
from suite_harness.waiting import wait_until as _wait_until


def wait_until(predicate, timeout, step=0.05):
    """The old signature: the predicate's value, or None on timeout; errors count as not yet."""
    return _wait_until(predicate, timeout, step, raise_on_timeout=False,
                       ignore=(Exception,)) or None
