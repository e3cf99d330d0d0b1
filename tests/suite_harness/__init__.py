"""The suite's test harness: real httpd instances, network-namespace labs, probes, load and the
per-module helpers, shared by the integration tests (tests/integration/), the benchmarks
(bench/) and the demo (demo/).

Import it with tests/ on PYTHONPATH (ctest, bench/*.sh and demo/run set it):

    from suite_harness.httpd import HttpdInstance
    from suite_harness.waiting import wait_until
"""
