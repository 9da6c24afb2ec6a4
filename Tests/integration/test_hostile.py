"""Hostile and broken clients over loopback. Each attack gets its limit, and a live subscriber on the
side keeps receiving every event while it happens."""

import json
import resource
import socket
import struct
import threading
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import httpx
import pytest
from httpx_sse import connect_sse

from conftest import Hub, publish, wait_until
from wsraw import RawWebSocket


class SideWatcher:
    """A well-behaved SSE subscriber that must see every event published to `side` during an attack."""

    def __init__(self, hub):
        self.hub = hub
        self.events = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        assert wait_until(lambda: httpx.get(f"{hub.url}/v1/topics/side").status_code == 200
                          and httpx.get(f"{hub.url}/v1/topics/side").json()["subscribers"] == 1)
        self.published = 0

    def run(self):
        with httpx.Client(timeout=60) as client:
            with connect_sse(client, "GET", f"{self.hub.url}/v1/topics/side/events") as source:
                for sse in source.iter_sse():
                    if sse.data:
                        self.events.append(json.loads(sse.data))
        self.done.set()

    def tick(self):
        publish(httpx.Client(), self.hub, "side", [{"type": "text_delta", "text": f"{self.published} "}])
        self.published += 1

    def finish(self):
        self.tick()
        publish(httpx.Client(), self.hub, "side", [{"type": "stream_complete", "finish_reason": "stop"}])
        assert self.done.wait(20), "the side subscriber's stream did not end"
        seqs = [e["seq"] for e in self.events]
        assert seqs == list(range(1, self.published + 2)), seqs
        assert "".join(e["text"] for e in self.events if e["type"] == "text_delta") == "".join(
            f"{i} " for i in range(self.published))


@pytest.fixture
def hostile_hub():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    hub = Hub(["serve", "--port", "0"], env={"NEWSROOM_HTTP_REQUEST_TIMEOUT": "1", "NEWSROOM_HTTP_MAX_BODY_BYTES": "65536"})
    yield hub
    hub.stop()


def test_header_floods_get_431(hostile_hub):
    side = SideWatcher(hostile_hub)
    for request in [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-Flood-%d: y\r\n" % i for i in range(2000)) + b"\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"z" * 200_000 + b"\r\n\r\n",
    ]:
        sock = socket.create_connection(("127.0.0.1", hostile_hub.port))
        sock.settimeout(5)
        try:
            sock.sendall(request)
        except OSError:
            pass  # the hub may close before taking it all
        assert sock.recv(4096).startswith(b"HTTP/1.1 431")
        sock.close()
        side.tick()
    side.finish()


def test_a_never_ending_request_body_is_cut_at_the_limit(hostile_hub):
    side = SideWatcher(hostile_hub)
    sock = socket.create_connection(("127.0.0.1", hostile_hub.port))
    sock.settimeout(5)
    sock.sendall(b"POST /v1/topics/x/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"4000\r\n" + b"a" * 0x4000 + b"\r\n"
    sent = 0
    start = time.monotonic()
    try:
        while time.monotonic() - start < 10:
            sock.sendall(chunk)
            sent += len(chunk)
    except OSError:
        pass
    answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:80]
    # After the 413 the hub reads and drops up to 64 MiB more (a lingering close, so that clients still
    # sending get the answer), then stops reading.
    assert sent < 72 * 1024 * 1024, "the hub should stop reading at the lingering bound"
    sock.close()
    side.tick()
    side.finish()


def test_a_websocket_frame_claiming_2_to_the_63_bytes_is_closed_1009(hostile_hub):
    side = SideWatcher(hostile_hub)
    raw = RawWebSocket(hostile_hub.port, "/v1/ws")
    raw.send_frame(0x1, b"", claimed_length=(1 << 63) - 1)
    _, code, _ = raw.recv_until_close()
    assert code == 1009
    raw.close()
    side.tick()
    side.finish()


def test_invalid_utf8_everywhere_is_refused(hostile_hub):
    side = SideWatcher(hostile_hub)
    r = httpx.post(f"{hostile_hub.url}/v1/topics/x/events", content=b'{"type":"text_delta","text":"\xff\xfe"}')
    assert r.status_code == 400
    raw = RawWebSocket(hostile_hub.port, "/v1/ws")
    raw.send_frame(0x1, b"\xc0\xaf")
    assert raw.recv_until_close()[1] == 1007
    raw.close()
    side.tick()
    side.finish()


def test_a_ping_flood_is_answered_and_does_not_disturb_others(hostile_hub):
    side = SideWatcher(hostile_hub)
    raw = RawWebSocket(hostile_hub.port, "/v1/ws", timeout=10)
    for i in range(5000):
        raw.send_frame(0x9, b"p")
        if i % 1000 == 0:
            side.tick()
    pongs = 0
    while pongs < 5000:
        opcode, _ = raw.recv_frame()
        if opcode == 0xA:
            pongs += 1
    raw.close()
    side.finish()


def test_thousands_of_half_open_connections_are_closed_by_the_request_timeout(hostile_hub):
    side = SideWatcher(hostile_hub)
    socks = []
    for i in range(3000):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", hostile_hub.port))
        socks.append(s)
        if i % 500 == 0:
            side.tick()
    time.sleep(3)  # the 1 s request timeout closes every silent connection

    def closed(s):
        try:
            s.setblocking(True)
            s.settimeout(0.01)
            return s.recv(1) == b""
        except (ConnectionResetError, socket.timeout, OSError) as error:
            return not isinstance(error, socket.timeout)

    closed_count = sum(closed(s) for s in socks)
    for s in socks:
        s.close()
    assert closed_count > 2900, closed_count
    side.finish()


def test_http2_rapid_reset_is_stopped(hostile_hub):
    side = SideWatcher(hostile_hub)
    sock = socket.create_connection(("127.0.0.1", hostile_hub.port))
    sock.settimeout(5)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    goaway = False
    opened = 0
    try:
        for batch in range(200):
            for _ in range(50):
                stream = conn.get_next_available_stream_id()
                conn.send_headers(stream, [(":method", "GET"), (":path", "/v1/topics/rr/events"), (":scheme", "http"),
                                           (":authority", "x")], end_stream=True)
                conn.reset_stream(stream)
                opened += 1
            sock.sendall(conn.data_to_send())
            sock.setblocking(False)
            try:
                data = sock.recv(65536)
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.ConnectionTerminated):
                        goaway = True
            except BlockingIOError:
                pass
            finally:
                sock.setblocking(True)
            if goaway:
                break
    except (OSError, h2.exceptions.ProtocolError):
        goaway = True
    sock.close()
    assert goaway, f"the hub let {opened} streams be opened and reset without stopping the connection"
    side.tick()
    side.finish()


def test_a_gigabyte_resume_request_is_refused_at_the_header_limit(hostile_hub):
    side = SideWatcher(hostile_hub)
    sock = socket.create_connection(("127.0.0.1", hostile_hub.port))
    sock.settimeout(5)
    sock.sendall(b"GET /v1/topics/side/events HTTP/1.1\r\nHost: x\r\nLast-Event-ID: ")
    sent = 0
    try:
        while sent < (1 << 30):
            sock.sendall(b"9" * (1 << 16))
            sent += 1 << 16
    except OSError:
        pass
    assert sent < 16 * 1024 * 1024, "the hub should refuse long before a gigabyte"
    assert sock.recv(4096).startswith(b"HTTP/1.1 431")
    sock.close()
    # and a resume point that is a number too large for any seq
    r = httpx.get(f"{hostile_hub.url}/v1/topics/side/events?after=99999999999999999999999")
    assert r.status_code == 400
    side.tick()
    side.finish()
