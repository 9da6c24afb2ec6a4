"""The flush window (write coalescing) and the fan-out backlog bound, against the real binary with stock
clients (raw sockets, httpx, websockets)."""

import concurrent.futures
import json
import socket
import threading
import time

import httpx
from websockets.sync.client import connect as ws_connect

from conftest import publish, wait_until


class TimedSSE:
    """A raw HTTP/1.1 SSE reader that notes when each event's `id:` line arrived."""

    def __init__(self, hub, path):
        self.sock = socket.create_connection(("127.0.0.1", hub.port), timeout=10)
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        self.arrivals = {}  # seq -> monotonic time
        self.reads = 0
        self.raw = b""
        self.done = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                now = time.monotonic()
                self.reads += 1
                self.raw += chunk
                for line in chunk.split(b"\n"):
                    if line.startswith(b"id: "):
                        self.arrivals.setdefault(int(line[4:]), now)
        except OSError:
            pass
        self.done.set()

    def close(self):
        self.sock.close()


def subscribers(client, hub, topic):
    r = client.get(f"{hub.url}/v1/topics/{topic}")
    return r.json()["subscribers"] if r.status_code == 200 else 0


def test_events_within_the_window_arrive_together_and_max_delay_0_gets_each_at_once(start_hub):
    hub = start_hub("--flush-interval", "300ms")
    with httpx.Client(timeout=10) as client:
        publish(client, hub, "w", [{"type": "stream_start"}])
        windowed = TimedSSE(hub, "/v1/topics/w/events?after=1")
        immediate = TimedSSE(hub, "/v1/topics/w/events?after=1&max_delay=0")
        assert wait_until(lambda: subscribers(client, hub, "w") == 2)
        sent = {}
        for seq, text in ((2, "a"), (3, "b"), (4, "c")):
            sent[seq] = time.monotonic()
            assert publish(client, hub, "w", [{"type": "text_delta", "text": text}]).status_code == 202
            time.sleep(0.05)
        assert wait_until(lambda: len(windowed.arrivals) == 3 and len(immediate.arrivals) == 3, timeout=5)
        # The windowed viewer: nothing before the window passed, then all three at once.
        assert windowed.arrivals[2] - sent[2] >= 0.25
        assert windowed.arrivals[4] - windowed.arrivals[2] < 0.05
        # max_delay=0: each event as it comes.
        for seq in (2, 3, 4):
            assert immediate.arrivals[seq] - sent[seq] < 0.2
        # The end is never held back, and takes what was pending with it.
        publish(client, hub, "w", [{"type": "text_delta", "text": "d"}])
        end_sent = time.monotonic()
        publish(client, hub, "w", [{"type": "stream_complete", "finish_reason": "stop"}])
        assert windowed.done.wait(5)
        assert windowed.arrivals[6] - end_sent < 0.2 and windowed.arrivals[5] - end_sent < 0.2
        windowed.close()
        immediate.close()


def test_a_topic_can_choose_its_window_on_publish(start_hub):
    hub = start_hub("--flush-interval", "0")
    with httpx.Client(timeout=10) as client:
        r = client.post(f"{hub.url}/v1/topics/slow/events?flush_interval=400ms", json={"type": "stream_start"})
        assert r.status_code == 202
        viewer = TimedSSE(hub, "/v1/topics/slow/events?after=1")
        assert wait_until(lambda: subscribers(client, hub, "slow") == 1)
        sent = time.monotonic()
        publish(client, hub, "slow", [{"type": "text_delta", "text": "x"}])
        assert wait_until(lambda: 2 in viewer.arrivals, timeout=5)
        assert viewer.arrivals[2] - sent >= 0.3
        viewer.close()


def test_websocket_subscribers_take_max_delay_too(start_hub):
    hub = start_hub("--flush-interval", "0")
    base = hub.url.replace("http://", "ws://")
    with httpx.Client(timeout=10) as client, ws_connect(f"{base}/v1/ws") as ws:
        ws.send(json.dumps({"op": "subscribe", "topic": "m", "id": 1, "max_delay": "300ms"}))
        assert json.loads(ws.recv(timeout=5))["op"] == "ok"
        sent = time.monotonic()
        publish(client, hub, "m", [{"type": "text_delta", "text": "x"}])
        event = json.loads(ws.recv(timeout=5))
        assert event["seq"] == 1 and time.monotonic() - sent >= 0.25


def test_bad_windows_are_400_naming_the_parameter(start_hub):
    hub = start_hub()
    with httpx.Client(timeout=10) as client:
        r = client.get(f"{hub.url}/v1/topics/t/events?max_delay=soon")
        assert r.status_code == 400 and "max_delay" in r.json()["error"]["message"]
        r = client.post(f"{hub.url}/v1/topics/t/events?flush_interval=5s", json={"type": "stream_start"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_flush_interval"
        r = client.post(f"{hub.url}/v1/topics/t/events?flush_interval=-1ms", json={"type": "stream_start"})
        assert r.status_code == 400
    base = hub.url.replace("http://", "ws://")
    with ws_connect(f"{base}/v1/ws") as ws:
        ws.send(json.dumps({"op": "subscribe", "topic": "t", "id": 2, "max_delay": "later"}))
        reply = json.loads(ws.recv(timeout=5))
        assert reply["op"] == "error" and "max_delay" in reply["message"]


def test_a_bad_flush_interval_setting_is_refused_at_startup(tmp_path):
    import subprocess
    from conftest import BINARY

    result = subprocess.run([str(BINARY), "serve", "--port", "0", "--flush-interval", "fast"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "flush.interval" in result.stderr


def test_publishers_are_held_back_while_the_fan_out_catches_up(start_hub):
    # A backlog bound of one delivery: every publish that comes while the loops still write the previous
    # one waits. Nothing is lost and every publish is accepted; the waits are counted.
    hub = start_hub("--flush-interval", "0", "--max-fan-out-backlog", "1")
    viewers = [TimedSSE(hub, "/v1/topics/busy/events") for _ in range(200)]
    with httpx.Client(timeout=30) as client:
        assert wait_until(lambda: subscribers(client, hub, "busy") == 200, timeout=20)

        def burst(worker):
            with httpx.Client(timeout=30) as c:
                return [publish(c, hub, "busy", [{"type": "text_delta", "text": f"{worker}-{i} "}]).status_code
                        for i in range(50)]

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            statuses = [s for batch in pool.map(burst, range(4)) for s in batch]
        assert statuses == [202] * 200
        assert wait_until(lambda: all(len(v.arrivals) == 200 for v in viewers), timeout=30)
        metrics = client.get(f"{hub.url}/metrics").text
        waits = [line for line in metrics.splitlines() if line.startswith("newsroom_publish_backpressure_waits_total")]
        assert waits and float(waits[0].split()[-1]) > 0
    for viewer in viewers:
        viewer.close()
