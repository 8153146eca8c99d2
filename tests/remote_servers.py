"""Servers on loopback for the remote-data tests: an HTTP server with Range support (and faults on demand)
and moto's S3 server. Both bind 127.0.0.1 on a free port and stop by themselves after ``lifetime`` seconds."""
from __future__ import annotations

import contextlib
import hashlib
import http.server
import os
import re
import threading
import time
from functools import partial

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files and folder listings (``SimpleHTTPRequestHandler``) plus ``Range: bytes=a-b`` (206 replies),
    an ETag, byte counters, and faults set on the server: ``drop`` (close the first N range requests without
    a reply), ``stall`` (seconds to wait before replying to range requests), ``faults`` (URL path -> ``"drop"``
    or ``"stall"``: every range request for that file)."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):      # quiet
        pass

    def send_head(self):
        path = self.translate_path(self.path)
        if os.path.isdir(path):
            return super().send_head()
        try:
            f = open(path, "rb")
        except OSError:
            self.send_error(404, "not found")
            return None
        size = os.fstat(f.fileno()).st_size
        start, end = 0, size - 1
        m = _RANGE.match(self.headers.get("Range", ""))
        server = self.server
        if m and self.command == "GET":
            fault = server.faults.get(self.path.split("?")[0])
            with server.lock:
                server.range_requests += 1
                drop = server.drop > 0 or fault == "drop"
                server.drop -= server.drop > 0
            if drop:
                f.close()
                self.close_connection = True
                return None
            if server.stall or fault == "stall":
                time.sleep(server.stall or 5.0)
        if m:
            a, b = m.groups()
            if a:
                start, end = int(a), min(int(b) if b else size - 1, size - 1)
            else:
                start = max(0, size - int(b))
            if start >= size:
                f.close()
                self.send_error(416, "range not satisfiable")
                return None
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        st = os.stat(path)
        self.send_header("ETag", '"' + hashlib.md5(f"{st.st_size}-{st.st_mtime_ns}".encode()).hexdigest() + '"')
        self.end_headers()
        f.seek(start)
        self._remaining = end - start + 1
        return f

    def copyfile(self, source, outputfile):
        remaining = getattr(self, "_remaining", None)
        if remaining is None:
            return super().copyfile(source, outputfile)
        while remaining > 0:
            chunk = source.read(min(65536, remaining))
            if not chunk:
                break
            outputfile.write(chunk)
            remaining -= len(chunk)
            with self.server.lock:
                self.server.bytes_sent += len(chunk)


class RangeServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, root: str):
        super().__init__(("127.0.0.1", 0), partial(RangeHandler, directory=root))
        self.lock = threading.Lock()
        self.bytes_sent = self.range_requests = self.drop = 0
        self.stall = 0.0
        self.faults: dict[str, str] = {}

    def handle_error(self, request, client_address):    # clients that gave up on a stalled reply
        pass

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def reset(self) -> None:
        with self.lock:
            self.bytes_sent = self.range_requests = self.drop = 0
            self.stall = 0.0
            self.faults = {}


@contextlib.contextmanager
def http_server(root: str, lifetime: float = 600.0):
    """A :class:`RangeServer` serving ``root``; shut down on exit, or after ``lifetime`` seconds."""
    server = RangeServer(root)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    timer = threading.Timer(lifetime, server.shutdown)
    timer.daemon = True
    timer.start()
    try:
        yield server
    finally:
        timer.cancel()
        server.shutdown()
        server.server_close()
        thread.join(10)


@contextlib.contextmanager
def s3_server(lifetime: float = 600.0):
    """moto's S3 server on 127.0.0.1; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    timer = threading.Timer(lifetime, server.stop)
    timer.daemon = True
    timer.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        timer.cancel()
        server.stop()
