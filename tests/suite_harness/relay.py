"""A TCP relay on 127.0.0.1: each accepted connection is joined to a new upstream connection,
bytes are pumped both ways (the upstream's answers optionally slowed to a rate), and an end of
stream is passed on as a half-close. close() cuts every connection it made."""
import contextlib
import socket
import threading
import time

from suite_harness.constants import LOOPBACK

CHUNK_BYTES = 16384
IDLE_TIMEOUT = 60.0
CONNECT_TIMEOUT = 5.0


class TcpRelay:
    def __init__(self, connect_upstream, listen_port=0, downstream_rate=None):
        """connect_upstream: a callable returning a connected socket (it may switch
        namespaces); downstream_rate: bytes/s the upstream's data is slowed to, None for full
        speed."""
        self.connect_upstream = connect_upstream
        self.downstream_rate = downstream_rate
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((LOOPBACK, listen_port))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sockets = []
        threading.Thread(target=self._accept, daemon=True).start()

    @classmethod
    def to_port(cls, port, host=LOOPBACK, **kw):
        return cls(lambda: socket.create_connection((host, port), CONNECT_TIMEOUT), **kw)

    def _accept(self):
        self.listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                continue
            threading.Thread(target=self._join, args=(client,), daemon=True).start()

    def _join(self, client):
        try:
            upstream = self.connect_upstream()
        except OSError:
            client.close()
            return
        with self._lock:
            self._sockets += [client, upstream]
        back = threading.Thread(target=self._pump, args=(upstream, client, self.downstream_rate),
                                daemon=True)
        back.start()
        self._pump(client, upstream, None)
        back.join(IDLE_TIMEOUT)
        client.close()
        upstream.close()

    def _pump(self, src, dst, rate):
        src.settimeout(IDLE_TIMEOUT)
        with contextlib.suppress(OSError):
            while not self._stop.is_set() and (data := src.recv(CHUNK_BYTES)):
                dst.sendall(data)
                if rate:
                    time.sleep(len(data) / rate)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def close(self):
        self._stop.set()
        self.listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
