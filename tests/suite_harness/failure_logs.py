"""Error logs printed when something failed: what an operator would read first."""


def print_error_logs(instances, tail_chars=None):
    """Prints each httpd instance's error log (its last `tail_chars` characters if given)."""
    for instance in instances:
        text = instance.error_log_text()
        label = "error log"
        if tail_chars is not None and len(text) > tail_chars:
            text, label = text[-tail_chars:], "error log (tail)"
        print(f"--- {instance.name} {label} ---\n{text}")


def test_failed(test):
    """Whether the unittest.TestCase `test` has failed or errored so far (for cleanups that
    print logs only then)."""
    result = getattr(getattr(test, "_outcome", None), "result", None)
    failures = getattr(result, "failures", []) + getattr(result, "errors", [])
    return any(case is test for case, _ in failures)
