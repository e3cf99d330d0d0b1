"""Which node of a NetnsLab holds which IPv4 address, read often and cheaply.

`ip -n <ns> addr` costs a process per node and read (5-20 ms on a busy machine), too slow to
sample several namespaces every 20 ms. Here one rtnetlink socket per namespace (a socket made
inside a namespace stays in it) dumps the addresses in well under a millisecond.

    watch = AddressWatch(lab, ["p", "s", "s2"], ["10.231.0.100", "10.231.0.101"])
    watch.holders()            # {"10.231.0.100": ["p"], "10.231.0.101": ["s"]}
    watch.start(period=0.02)   # a sampler thread, bounded by max_seconds
    ...
    watch.stop()
    watch.overlaps()           # [(address, first_seen, last_seen, holders)] held twice
"""
import socket
import struct
import threading
import time

from suite_harness.netns import in_netns

RTM_NEWADDR = 20
RTM_GETADDR = 22
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
IFA_LOCAL = 2
NLMSG_HEADER = struct.Struct("=IHHII")
IFADDRMSG = struct.Struct("=BBBBI")
RTATTR = struct.Struct("=HH")


def _align(n):
    return (n + 3) & ~3


class NamespaceAddresses:
    """The IPv4 addresses of one namespace, by rtnetlink dump."""

    def __init__(self, netns):
        with in_netns(netns):
            self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        self.sock.settimeout(2.0)
        self.seq = 0

    def close(self):
        self.sock.close()

    def read(self):
        self.seq += 1
        request = NLMSG_HEADER.pack(NLMSG_HEADER.size + IFADDRMSG.size, RTM_GETADDR,
                                    NLM_F_REQUEST | NLM_F_DUMP, self.seq, 0)
        self.sock.send(request + IFADDRMSG.pack(socket.AF_INET, 0, 0, 0, 0))
        found = set()
        while True:
            data = self.sock.recv(65536)
            offset = 0
            while offset + NLMSG_HEADER.size <= len(data):
                length, kind, _, seq, _ = NLMSG_HEADER.unpack_from(data, offset)
                if length < NLMSG_HEADER.size:
                    return found
                if seq == self.seq:
                    if kind == NLMSG_DONE:
                        return found
                    if kind == NLMSG_ERROR:
                        raise OSError("rtnetlink address dump failed")
                    if kind == RTM_NEWADDR:
                        found.update(self._addresses(data, offset + NLMSG_HEADER.size,
                                                     offset + length))
                offset += _align(length)

    @staticmethod
    def _addresses(data, start, end):
        family = data[start]
        pos = start + IFADDRMSG.size
        while pos + RTATTR.size <= end:
            length, kind = RTATTR.unpack_from(data, pos)
            if length < RTATTR.size:
                break
            if kind == IFA_LOCAL and family == socket.AF_INET:
                yield socket.inet_ntoa(data[pos + RTATTR.size:pos + RTATTR.size + 4])
            pos += _align(length)


class AddressWatch:
    def __init__(self, lab, names, addresses, max_seconds=600.0):
        self.names = list(names)
        self.addresses = list(addresses)
        self.max_seconds = max_seconds
        self._readers = {n: NamespaceAddresses(lab.ns(n)) for n in self.names}
        self.samples = []  # (monotonic time, {address: [holders]})
        self._stop = threading.Event()
        self._thread = None
        self._lock = threading.Lock()

    def holders(self):
        """{address: [nodes holding it]} now."""
        with self._lock:
            held = {n: r.read() for n, r in self._readers.items()}
        return {a: [n for n in self.names if a in held[n]] for a in self.addresses}

    # -- the sampler -----------------------------------------------------------------------
    def start(self, period=0.02):
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(period,), daemon=True)
        self._thread.start()
        return self

    def _run(self, period):
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            t = time.monotonic()
            snapshot = self.holders()
            self.samples.append((t, snapshot))
            self._stop.wait(period)

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        return self.samples

    def close(self):
        self.stop()
        for r in self._readers.values():
            r.close()

    # -- what was seen -----------------------------------------------------------------------
    def samples_between(self, t0, t1=float("inf")):
        return [(t, s) for t, s in list(self.samples) if t0 <= t <= t1]

    def overlaps(self, t0=0.0, t1=float("inf")):
        """Every run of consecutive samples in which an address had more than one holder:
        [(address, first sample time, last sample time, holders seen)]."""
        runs = []
        open_runs = {}
        for t, snapshot in self.samples_between(t0, t1):
            for address, holders in snapshot.items():
                if len(holders) > 1:
                    run = open_runs.setdefault(address, [address, t, t, set()])
                    run[2] = t
                    run[3].update(holders)
                elif address in open_runs:
                    runs.append(tuple(open_runs.pop(address)))
        runs.extend(tuple(r) for r in open_runs.values())
        return sorted(runs, key=lambda r: r[1])

    def longest_period(self, t0=0.0, t1=float("inf")):
        """The longest gap between two samples (how blind the sampler was at worst)."""
        times = [t for t, _ in self.samples_between(t0, t1)]
        return max((b - a for a, b in zip(times, times[1:])), default=0.0)
