"""Bounded waiting: the one way the harness waits for a condition."""
import time

DEFAULT_TIMEOUT = 20.0
DEFAULT_STEP = 0.05


class WaitTimeout(AssertionError):
    """A condition did not hold in time (an AssertionError, so a test reports it as a failure)."""


def wait_until(predicate, timeout=DEFAULT_TIMEOUT, step=DEFAULT_STEP, what="condition",
               raise_on_timeout=True, ignore=()):
    """Calls `predicate` every `step` seconds until it returns something truthy, and returns
    that value. It is always called at least once, and once more when `timeout` has passed.

    On timeout: raises WaitTimeout naming `what` (a string, or a callable giving one) and the
    last value; with raise_on_timeout=False returns the last (falsy) value instead, for callers
    that assert on the result or carry on. Exceptions of the types in `ignore` count as "not
    yet" (for a predicate that reads something still starting up)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            last = predicate()
        except ignore as e:  # noqa: PERF203 - a poll loop
            last = None
            error = e
        else:
            error = None
            if last:
                return last
        if time.monotonic() >= deadline:
            break
        time.sleep(step)
    if not raise_on_timeout:
        return last
    description = what() if callable(what) else what
    detail = f"last error: {error!r}" if error is not None else f"last: {last!r}"
    raise WaitTimeout(f"timed out after {timeout}s waiting for {description} ({detail})")
