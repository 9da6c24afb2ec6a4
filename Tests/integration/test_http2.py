"""HTTP/2 (h2c and TLS with ALPN) on the hub's port: curl, h2load, and the `h2` library for flow control."""

import json
import re
import socket
import subprocess
import threading
import time

import h2.config
import h2.connection
import h2.events
import httpx
import pytest

from conftest import Hub, publish, wait_until


def topic_subscribers(hub, topic):
    r = httpx.get(f"{hub.url}/v1/topics/{topic}")
    return r.json()["subscribers"] if r.status_code == 200 else 0


def test_curl_http2_prior_knowledge_and_http1_on_the_same_port(hub):
    procs = [
        subprocess.Popen(["curl", "-sN", flag, "--max-time", "10", "-w", "\n%{http_version}", f"{hub.url}/v1/topics/both/events"],
                         stdout=subprocess.PIPE, text=True)
        for flag in ("--http2-prior-knowledge", "--http1.1")
    ]
    assert wait_until(lambda: topic_subscribers(hub, "both") == 2)
    with httpx.Client() as client:
        publish(client, hub, "both", [{"type": "text_delta", "text": "hi"}, {"type": "stream_complete", "finish_reason": "stop"}])
    outputs = [p.communicate(timeout=15)[0] for p in procs]
    assert outputs[0].rstrip().endswith("2") and outputs[1].rstrip().endswith("1.1")
    for out in outputs:
        datas = [json.loads(l[6:]) for l in out.splitlines() if l.startswith("data: ")]
        assert [d["type"] for d in datas] == ["text_delta", "stream_complete"]


def test_h2load_100_concurrent_sse_streams_on_one_connection_all_receive_every_event(start_hub):
    hub = start_hub()  # default heartbeat interval: every stream receives exactly the same bytes
    # a reference subscriber over HTTP/2 gives the bytes each stream must receive
    ref = subprocess.Popen(["curl", "-sN", "--http2-prior-knowledge", "--max-time", "30", f"{hub.url}/v1/topics/h2load/events"],
                           stdout=subprocess.PIPE)
    load = subprocess.Popen(["h2load", "-n", "100", "-c", "1", "-m", "100", "-T", "30", f"{hub.url}/v1/topics/h2load/events"],
                            stdout=subprocess.PIPE, text=True)
    assert wait_until(lambda: topic_subscribers(hub, "h2load") == 101, timeout=15)
    with httpx.Client() as client:
        for i in range(20):
            publish(client, hub, "h2load", [{"type": "text_delta", "text": f"event {i} " + "z" * 50}])
        publish(client, hub, "h2load", [{"type": "stream_complete", "finish_reason": "stop"}])
    out = load.communicate(timeout=60)[0]
    body = ref.communicate(timeout=30)[0]
    assert "100 succeeded" in out, out
    data_bytes = int(re.search(r"traffic: .*\((\d+)\) data", out).group(1))
    assert data_bytes == 100 * len(body), (data_bytes, len(body))
    assert body.count(b"data: ") == 21


@pytest.fixture
def tls_files(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True)
    return cert, key


def test_tls_negotiates_h2_by_alpn_and_http1_still_works(tls_files):
    cert, key = tls_files
    hub = Hub(["serve", "--port", "0", "--tls-certificate", str(cert), "--tls-private-key", str(key)])
    try:
        url = hub.url.replace("http://", "https://")
        with httpx.Client(verify=False) as client:
            publish_url = url
            r = client.post(f"{url}/v1/topics/tls/events", json={"type": "text_delta", "text": "secret"})
            assert r.status_code == 202
            client.post(f"{url}/v1/topics/tls/events", json={"type": "stream_complete", "finish_reason": "stop"})
        for flag, version in (("--http2", "2"), ("--http1.1", "1.1")):
            out = subprocess.run(["curl", "-skN", flag, "--max-time", "10", "-w", "\n%{http_version}", f"{url}/v1/topics/tls/events"],
                                 capture_output=True, text=True, timeout=20).stdout
            assert out.rstrip().endswith(version), out
            assert '"text":"secret"' in out
        # cleartext to a TLS port fails cleanly, and the hub keeps serving
        assert subprocess.run(["curl", "-s", "--max-time", "5", f"{hub.url}/healthz"], capture_output=True).returncode != 0
        assert subprocess.run(["curl", "-sk", "--max-time", "5", f"{url}/healthz"], capture_output=True, text=True).stdout == '{"status":"ok"}'
    finally:
        hub.stop()


class H2Client:
    """An HTTP/2 client over a raw socket that controls flow-control windows by hand."""

    def __init__(self, port, initial_window=65535):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.settimeout(0.2)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.conn.initiate_connection()
        self.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: initial_window})
        self.flush()
        self.data = {}
        self.ended = set()
        self.reset = set()

    def flush(self):
        out = self.conn.data_to_send()
        if out:
            self.sock.sendall(out)

    def get(self, path):
        stream = self.conn.get_next_available_stream_id()
        self.conn.send_headers(stream, [(":method", "GET"), (":path", path), (":scheme", "http"), (":authority", "localhost")], end_stream=True)
        self.flush()
        self.data[stream] = b""
        return stream

    def pump(self, acknowledge, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                break
            for event in self.conn.receive_data(chunk):
                if isinstance(event, h2.events.DataReceived):
                    self.data[event.stream_id] += event.data
                    if event.stream_id in acknowledge:
                        self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    else:
                        # keep the connection window open, never the stream's
                        self.conn.increment_flow_control_window(event.flow_controlled_length)
                elif isinstance(event, h2.events.StreamEnded):
                    self.ended.add(event.stream_id)
            self.flush()


def test_a_stalled_http2_stream_does_not_delay_the_others_on_the_connection(hub):
    client = H2Client(hub.port, initial_window=1024)
    stalled = client.get("/v1/topics/h2stall/events")
    fast = client.get("/v1/topics/h2stall/events")
    client.pump(acknowledge={fast}, seconds=0.5)
    assert topic_subscribers(hub, "h2stall") == 2
    texts = [f"{j} " + "w" * 100 for j in range(300)]
    with httpx.Client() as http:
        for i in range(0, 300, 50):
            publish(http, hub, "h2stall", [{"type": "text_delta", "text": t} for t in texts[i:i + 50]])
        publish(http, hub, "h2stall", [{"type": "stream_complete", "finish_reason": "stop"}])
    client.pump(acknowledge={fast}, seconds=3)
    assert fast in client.ended, "the fast stream should have received everything and ended"
    events = [json.loads(line[6:]) for line in client.data[fast].decode().split("\n") if line.startswith("data: ")]
    # its small window makes it coalesce at times (the default policy): the text is complete all the same
    assert "".join(e["text"] for e in events if e["type"] == "text_delta") == "".join(texts)
    assert events[-1]["type"] == "stream_complete" and events[-1]["seq"] == 301
    assert stalled not in client.ended
    assert len(client.data[stalled]) <= 1024


def test_reset_stream_unsubscribes_at_once(hub):
    client = H2Client(hub.port)
    stream = client.get("/v1/topics/h2reset/events")
    client.pump(acknowledge={stream}, seconds=0.3)
    assert topic_subscribers(hub, "h2reset") == 1
    client.conn.reset_stream(stream)
    client.flush()
    assert wait_until(lambda: topic_subscribers(hub, "h2reset") == 0, timeout=2)
