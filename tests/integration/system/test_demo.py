"""The README's first command, as a user runs it: it starts, takes a command, and leaves nothing
behind when interrupted with Ctrl-C."""
import os
import re
import signal
import subprocess
import sys
import threading
import time
import unittest

DEMO = os.path.join(os.path.dirname(__file__), "..", "..", "..", "demo", "demo.py")
BUILD = os.environ.get("SUITE_BUILD_DIR", os.path.join(os.path.dirname(DEMO), "..", "build"))


def remove_namespaces(tag):
    """Last resort after a demo that could not clean up: its namespaces and what runs in them."""
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for ns in [line.split()[0] for line in listing.splitlines() if line.startswith(tag)]:
        pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
        for pid in pids.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


class OutputReader:
    """Collects the demo's output lines in a thread (select() cannot see what Python's own
    buffer of the pipe already holds)."""

    def __init__(self, stream):
        self.lines = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream):
        for line in stream:
            self.lines.append(line)

    def text(self):
        return "".join(self.lines)

    def wait_for(self, text, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and text not in self.text():
            time.sleep(0.1)
        return self.text()

    def finish(self, timeout):
        self._thread.join(timeout)
        return self.text()


class Demo(unittest.TestCase):
    def test_runs_takes_commands_and_cleans_up_on_ctrl_c(self):
        proc = subprocess.Popen([sys.executable, DEMO, "--build", BUILD, "--no-story", "--keep",
                                 "--requests", "1000"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1)
        tag = f"ha{proc.pid % 100000}-"
        try:
            output = OutputReader(proc.stdout)
            out = output.wait_for("running until Ctrl-C", 120)
            self.assertIn("running until Ctrl-C", out, out)
            # Both proxies serve, each on its own address, and the load went through both.
            self.assertIn("10.231.0.100 on p (home), 10.231.0.101 on s (home)", out, out)
            load = re.search(r"(\d+)/(\d+) requests answered 200 through "
                             r"http://\{10.231.0.100, 10.231.0.101\}/app/", out)
            self.assertTrue(load, out)
            self.assertEqual(load.group(1), load.group(2), out)
            split = dict(re.findall(r"^ +(p|s) +(\d+) +[\d.]+% +10\.231", out, re.M))
            self.assertEqual(sorted(split), ["p", "s"], out)
            self.assertTrue(all(int(n) > 0 for n in split.values()), out)
            self.assertIn("/traffic-status", out)
            namespaces = [line.split()[0] for line in subprocess.run(
                ["ip", "netns", "list"], capture_output=True, text=True).stdout.splitlines()
                if line.startswith(tag)]
            self.assertTrue(namespaces)
            pids = [int(p) for ns in namespaces for p in subprocess.run(
                ["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()]
            self.assertTrue(pids)  # the httpd instances of the demo
            proc.stdin.write("k\n")  # kill s: its address moves to p, the load goes on
            proc.stdin.flush()
            out = output.wait_for("s: no answer", 60)
            self.assertRegex(out, r"10\.231\.0\.101 moved to p \d+ ms after the kill")
            after = out[out.index("the load went on"):]
            self.assertRegex(after, r"\d+/\d+ requests answered 200")
            self.assertIn("10.231.0.100 on p (home), 10.231.0.101 on p", after, after)
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
            self.assertIn("cleaned up", output.finish(10))
        finally:
            if proc.poll() is None:  # a failed step: let the demo clean up as Ctrl-C would
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                    remove_namespaces(tag)
        namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        self.assertNotIn(tag, namespaces)
        def alive():  # zombies (killed, not yet reaped by init) count as gone
            out = []
            for pid in pids:
                try:
                    with open(f"/proc/{pid}/stat") as f:
                        if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                            out.append(pid)
                except OSError:
                    pass
            return out
        deadline = time.monotonic() + 10
        while alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(alive(), [])


if __name__ == "__main__":
    unittest.main()
