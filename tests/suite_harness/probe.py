"""Probing a service address from the client namespace, as arriving clients would.

Each probe is a GET /whoami on a fresh connection with a short timeout, recorded as
(start time, ok, server name or error). Closed loop (the default): the next probe starts
`period` after the last one ended. Open loop (open_loop=True): a new probe starts every
`period` whatever happened to the previous ones — a closed loop stalls on a dead address for a
whole timeout and rounds every failover up to a multiple of it, which a benchmark must not."""
import asyncio
import http.client
import threading
import time

from suite_harness.constants import SERVICE_PORT
from suite_harness.netns import in_netns
from suite_harness.waiting import wait_until

PROBE_PATH = "/whoami"


class Prober:
    def __init__(self, lab, client, address, port=SERVICE_PORT, period=0.01, timeout=0.2,
                 max_seconds=120.0, open_loop=False):
        self.lab, self.client, self.address, self.port = lab, client, address, port
        self.period, self.timeout, self.max_seconds = period, timeout, max_seconds
        self.open_loop = open_loop
        self.results = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None

    # -- one probe -------------------------------------------------------------------------
    def probe_once(self):
        """One closed probe from the calling thread (which must be in the client namespace)."""
        t = time.monotonic()
        try:
            conn = http.client.HTTPConnection(self.address, self.port, timeout=self.timeout)
            conn.request("GET", PROBE_PATH)
            resp = conn.getresponse()
            body = resp.read().decode(errors="replace").strip()
            conn.close()
            return (t, resp.status == 200, body)
        except (OSError, http.client.HTTPException) as e:
            return (t, False, type(e).__name__)

    def who_answers(self):
        """The server name of one probe made now, None if it failed."""
        with in_netns(self.lab.ns(self.client)):
            _, ok, who = self.probe_once()
        return who if ok else None

    async def _probe_async(self):
        t = time.monotonic()
        writer = None
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.address, self.port), self.timeout)
            writer.write(f"GET {PROBE_PATH} HTTP/1.0\r\nHost: probe\r\n\r\n".encode())
            data = await asyncio.wait_for(reader.read(), self.timeout)
            head, _, body = data.partition(b"\r\n\r\n")
            ok = head.startswith(b"HTTP/1.1 200") or head.startswith(b"HTTP/1.0 200")
            result = (t, ok, body.decode(errors="replace").strip() if ok else "status")
        except (OSError, asyncio.TimeoutError) as e:
            result = (t, False, type(e).__name__)
        finally:
            if writer:
                writer.close()
        self._record(result)

    # -- the loops -------------------------------------------------------------------------
    def _record(self, result):
        with self._lock:
            self.results.append(result)

    def _run(self):
        with in_netns(self.lab.ns(self.client)):
            if self.open_loop:
                asyncio.run(self._open_loop())
            else:
                self._closed_loop()

    def _closed_loop(self):
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            self._record(self.probe_once())
            time.sleep(self.period)

    async def _open_loop(self):
        tasks = set()
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            task = asyncio.ensure_future(self._probe_async())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            await asyncio.sleep(self.period)
        if tasks:
            await asyncio.wait(tasks, timeout=2 * self.timeout + 1)

    def start(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(self.max_seconds + 5)
        return self.results

    # -- what was seen ---------------------------------------------------------------------
    def since(self, t0):
        """Probes started at or after t0, in start order (open-loop probes end out of order)."""
        with self._lock:
            return sorted(r for r in self.results if r[0] >= t0)

    def first_answer_after(self, t0, server=None):
        for t, ok, who in self.since(t0):
            if ok and (server is None or who == server):
                return t
        return None

    def wait_first_answer_after(self, t0, server, limit, step=0.02):
        """The start time of the first probe after t0 answered by `server`, waiting until
        t0 + limit; None if there was none."""
        return wait_until(lambda: self.first_answer_after(t0, server),
                          t0 + limit - time.monotonic(), step, raise_on_timeout=False)

    def failures_after(self, t0, until=None):
        return [r for r in self.since(t0) if not r[1] and (until is None or r[0] <= until)]
