"""Moved to suite_harness.netns and suite_harness.probe (tests/suite_harness/); this name stays
importable for tests written before the move. New code imports those modules."""
from suite_harness.netns import *  # noqa: F401,F403
from suite_harness.probe import Prober  # noqa: F401
