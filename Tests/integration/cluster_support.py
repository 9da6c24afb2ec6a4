"""Helpers for the multi-node tests (test_cluster.py): a real `redis-server` on a loopback port, hub
nodes pointed at it, SSE viewers read in threads (httpx + httpx-sse) or, by the thousand, with asyncio
on raw sockets."""

import asyncio
import json
import os
import pathlib
import queue
import shutil
import signal
import socket
import subprocess
import threading
import time

import httpx
import pytest
from httpx_sse import connect_sse

from conftest import BINARY, pump, stop_process


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ----------------------------------------------------------------------------------------------------
# Redis


def _resp_encode(*args):
    out = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class _RespReader:
    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def _line(self):
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def _exactly(self, n):
        while len(self.buffer) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n + 2:]
        return data

    def read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(f"redis error: {rest.decode()}")
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exactly(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RuntimeError(f"unexpected RESP line {line!r}")


def redis_command(port, *args, timeout=5.0):
    """One command on a fresh connection (RESP2); returns the decoded reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(_resp_encode(*args))
        return _RespReader(sock).read()


class RedisServer:
    """A `redis-server` on a free loopback port, in its own directory. Without `persistence` it keeps
    nothing (`--save '' --appendonly no`); with it, an append-only file (fsync always) in `directory`,
    so a restart on the same port and directory gets everything back."""

    def __init__(self, directory, persistence=False, port=None):
        self.executable = shutil.which("redis-server")
        self.directory = pathlib.Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.persistence = persistence
        self.port = port or free_port()
        self.proc = None
        self.starts = 0

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}"

    def start(self, timeout=10.0):
        args = [self.executable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--dir", str(self.directory), "--protected-mode", "yes"]
        if self.persistence:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        self.starts += 1
        log = open(self.directory / f"redis-{self.starts}.log", "w")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            try:
                if redis_command(self.port, "PING", timeout=0.5) == "PONG":
                    return self
            except (OSError, RuntimeError, ConnectionError):
                pass
            assert self.proc.poll() is None, f"redis-server exited with {self.proc.returncode}"
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        if self.proc is not None:
            stop_process(self.proc, sig, timeout)
        self.proc = None

    def command(self, *args):
        return redis_command(self.port, *args)

    def clients(self, name="newsroom"):
        """The connected clients called `name` (CLIENT LIST), as dicts."""
        text = self.command("CLIENT", "LIST").decode()
        rows = [dict(field.split("=", 1) for field in line.split(" ") if "=" in field)
                for line in text.splitlines() if line]
        return [row for row in rows if row.get("name") == name]


# ----------------------------------------------------------------------------------------------------
# Hub nodes


class Node:
    """A `newsroom serve` process pointed at a broker; its log goes to a file (read with `log()`)."""

    def __init__(self, broker_url, log_path, *extra, env=None):
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.log_path = pathlib.Path(log_path)
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [str(BINARY), "serve", "--port", "0", "--heartbeat-interval", "0.5", "--broker", broker_url, *extra],
            stdout=subprocess.PIPE, stderr=log, env=full_env, text=True)
        log.close()
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"hub did not start: {line!r} {self.log()}")
        self.url = line.strip().split("listening on ")[1]
        self.port = int(self.url.rsplit(":", 1)[1])
        # Anything else the hub prints (the gRPC listener's line) is drained so it can never block.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def log(self):
        return self.log_path.read_text(errors="replace")

    def stop(self, sig=signal.SIGTERM, timeout=15):
        return stop_process(self.proc, sig, timeout)

    def topic(self, name):
        """This node's view of a topic (its local mirror), or None."""
        r = httpx.get(f"{self.url}/v1/topics/{name}", timeout=5)
        return r.json() if r.status_code == 200 else None

    def subscribers(self, name):
        info = self.topic(name)
        return info["subscribers"] if info else 0


def publish(client, node, topic, events):
    """Publishes a list of event dicts (one JSON object, or NDJSON for several); returns the response."""
    if len(events) == 1:
        return client.post(f"{node.url}/v1/topics/{topic}/events", json=events[0])
    body = "\n".join(json.dumps(e) for e in events)
    return client.post(f"{node.url}/v1/topics/{topic}/events", content=body,
                       headers={"content-type": "application/x-ndjson"})


def delta(text, index=0):
    return {"type": "text_delta", "text": text, "index": index}


COMPLETE = {"type": "stream_complete", "finish_reason": "stop"}


# ----------------------------------------------------------------------------------------------------
# Viewers


class Viewer:
    """One SSE subscription read in a thread (httpx + httpx-sse). Keeps (id, event) pairs, heartbeats
    apart, and the status of the response."""

    def __init__(self, url, headers=None, timeout=30.0):
        self.url = url
        self.items = queue.Queue()
        self.heartbeats = queue.Queue()
        self.status = None
        self.error = None
        self.opened = threading.Event()
        self.ended = threading.Event()
        self._client = httpx.Client(timeout=httpx.Timeout(timeout, connect=5.0))
        self._thread = threading.Thread(target=self._run, args=(headers or {},), daemon=True)
        self._thread.start()
        assert self.opened.wait(15), f"no response from {url}: {self.error}"

    def _run(self, headers):
        try:
            with connect_sse(self._client, "GET", self.url, headers=headers) as source:
                self.status = source.response.status_code
                self.opened.set()
                if self.status != 200:
                    return
                for sse in source.iter_sse():
                    if not sse.data:  # the stream's opening `retry:` block
                        continue
                    event = json.loads(sse.data)
                    if event.get("type") == "heartbeat":
                        self.heartbeats.put(event)
                    else:
                        self.items.put((sse.id or None, event))
        except Exception as error:  # noqa: BLE001 - reported by the test
            self.error = error
        finally:
            self.opened.set()
            self.ended.set()

    def next(self, timeout=10.0):
        """(id, event) of the next non-heartbeat event."""
        try:
            return self.items.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(
                f"no event within {timeout} s from {self.url} (ended={self.ended.is_set()}, error={self.error})")

    def take(self, count, timeout=10.0):
        deadline = time.monotonic() + timeout
        return [self.next(max(0.05, deadline - time.monotonic())) for _ in range(count)]

    def until(self, predicate, timeout=10.0):
        """Events up to and including the first for which `predicate(event)` holds."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            item = self.next(max(0.05, deadline - time.monotonic()))
            seen.append(item)
            if predicate(item[1]):
                return seen

    def until_end(self, timeout=10.0):
        """Events up to the end of the stream (`stream_complete` or a terminal `error`)."""
        return self.until(lambda e: e["type"] == "stream_complete" or e.get("terminal") is True, timeout)

    def wait_closed(self, timeout=10.0):
        assert self.ended.wait(timeout), f"the stream from {self.url} did not end"

    def drained(self):
        out = []
        while True:
            try:
                out.append(self.items.get_nowait())
            except queue.Empty:
                return out

    def close(self):
        self._client.close()
        self._thread.join(timeout=5)


# ----------------------------------------------------------------------------------------------------
# Many viewers on raw sockets (asyncio)


class RawSSE:
    """An SSE subscription on a raw asyncio socket: HTTP/1.1 request, chunked body, SSE blocks."""

    def __init__(self, port, path):
        self.port = port
        self.path = path
        self.events = []  # (id, event) without heartbeats
        self.subscribed = asyncio.Event()  # the `retry:` block arrived: the subscription is attached
        self.status = None

    async def run(self, stop_when=lambda event: event["type"] == "stream_complete"):
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write(f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode())
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            self.status = int(head.split(b" ", 2)[1])
            assert self.status == 200, head
            assert b"transfer-encoding: chunked" in head.lower(), head
            pending = b""
            while True:
                size_line = await reader.readuntil(b"\r\n")
                size = int(size_line.strip().split(b";")[0], 16)
                if size == 0:
                    return
                chunk = await reader.readexactly(size + 2)
                pending += chunk[:-2]
                while b"\n\n" in pending:
                    block, pending = pending.split(b"\n\n", 1)
                    event_id, data = None, []
                    for line in block.split(b"\n"):
                        if line.startswith(b"retry:"):
                            self.subscribed.set()
                        elif line.startswith(b"id:"):
                            event_id = line[3:].strip().decode()
                        elif line.startswith(b"data:"):
                            data.append(line[5:].lstrip(b" "))
                    if not data:
                        continue
                    event = json.loads(b"\n".join(data))
                    if event.get("type") == "heartbeat":
                        continue
                    self.events.append((event_id, event))
                    if stop_when(event):
                        return
        finally:
            writer.close()


def events_url(node, topic, query=""):
    return f"{node.url}/v1/topics/{topic}/events{query}"


@pytest.fixture
def viewers():
    opened = []

    def open_viewer(url, headers=None):
        viewer = Viewer(url, headers=headers)
        opened.append(viewer)
        return viewer

    yield open_viewer
    for viewer in opened:
        viewer.close()


class ReadinessBalancer:
    """A loopback TCP load balancer in front of hub nodes, as a cloud load balancer or HAProxy works:
    it polls each backend's `/readyz` every 100 ms and sends each new connection to the first backend
    that is ready (existing connections stay where they are until the backend closes them)."""

    def __init__(self, ports):
        self.ports = list(ports)
        self.ready = set(self.ports)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.connections = {port: 0 for port in self.ports}
        self.running = True
        threading.Thread(target=self._poll, daemon=True).start()
        threading.Thread(target=self._accept, daemon=True).start()

    def _poll(self):
        while self.running:
            for port in self.ports:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5) as probe:
                        probe.sendall(b"GET /readyz HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n")
                        answer = probe.recv(64)
                    ok = answer.startswith(b"HTTP/1.1 200")
                except OSError:
                    ok = False
                (self.ready.add if ok else self.ready.discard)(port)
            time.sleep(0.1)

    def _accept(self):
        while self.running:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        for port in [p for p in self.ports if p in self.ready] or self.ports:
            try:
                upstream = socket.create_connection(("127.0.0.1", port), timeout=2)
                upstream.settimeout(None)
                break
            except OSError:
                continue
        else:
            client.close()
            return
        self.connections[port] += 1
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=pump, args=(source, sink), daemon=True).start()

    def close(self):
        self.running = False
        self.listener.close()
