"""wrk from the client namespace against the service address: 32 kept-alive connections, each
sending its next request as soon as the last is answered, so every connection is busy when a
move happens. Reports wrk's own counts (socket errors by kind, non-2xx answers, requests)."""
import re
import subprocess

from suite_harness.constants import SERVICE_ADDRESS as VIP
from suite_harness.constants import SERVICE_PORT

CONNECTIONS = 32
# A connection refused a SYN while the old master drains retransmits it after 1 s, and again
# 2 s later if needed; a request waiting that long is not a failure, so wrk's request timeout
# is set well above the 1 + 2 s retransmissions (its default, 2 s, would count them).
REQUEST_TIMEOUT = "8s"


class KeepaliveLoad:
    def __init__(self, lab, client, seconds, address=VIP, port=SERVICE_PORT, path="/whoami",
                 connections=CONNECTIONS):
        url = f"http://{address}:{port}{path}"
        self.seconds = seconds
        self.proc = lab.popen(client, ["wrk", "-t", "2", "-c", str(connections), "-d",
                                       f"{seconds}s", "--timeout", REQUEST_TIMEOUT, url],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def result(self):
        out, _ = self.proc.communicate(timeout=self.seconds + 30)
        return parse_wrk(out)


def parse_wrk(out):
    """{'requests', 'connect', 'read', 'write', 'timeout', 'non2xx', 'errors', 'output'}."""
    r = {"output": out, "connect": 0, "read": 0, "write": 0, "timeout": 0, "non2xx": 0}
    m = re.search(r"(\d+) requests in", out)
    r["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        r["connect"], r["read"], r["write"], r["timeout"] = map(int, m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        r["non2xx"] = int(m.group(1))
    r["errors"] = r["connect"] + r["read"] + r["write"] + r["timeout"]
    return r
