"""SSE subscribe and HTTP publish, with clients the project did not write: curl, httpx, httpx-sse."""

import json
import signal
import socket
import subprocess
import threading
import time

import httpx
import jsonschema
import pytest
from httpx_sse import connect_sse

from conftest import BINARY, SCHEMA, publish, raw_request, wait_until, wait_subscribers


def sse_events(source):
    """The dispatched events of an httpx-sse source (httpx-sse also yields the data-less `retry:` block,
    which browsers do not dispatch)."""
    for sse in source.iter_sse():
        if sse.data:
            yield sse


def text_events(words):
    return [{"type": "text_delta", "text": w} for w in words]


def test_curl_receives_the_stream_and_ends_after_stream_complete(hub):
    with httpx.Client() as client:
        publish(client, hub, "curl", [{"type": "stream_start", "provider": "test", "model": "m"}] + text_events(["Hello", ", ", "world"]))
        proc = subprocess.Popen(
            ["curl", "-sN", "--max-time", "10", f"{hub.url}/v1/topics/curl/events"], stdout=subprocess.PIPE, text=True
        )
        wait_subscribers(hub, "curl")
        publish(client, hub, "curl", text_events(["!"]) + [{"type": "stream_complete", "finish_reason": "stop"}])
        out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0, "curl should see the response end, not time out"
    assert out.startswith("retry: ")
    datas = [json.loads(line[6:]) for line in out.splitlines() if line.startswith("data: ")]
    seqs = [d["seq"] for d in datas]
    # the replay of the history may merge consecutive deltas; seqs stay increasing and end at the head
    assert seqs == sorted(set(seqs)) and seqs[0] == 1 and seqs[-1] == 6
    assert "".join(d["text"] for d in datas if d["type"] == "text_delta") == "Hello, world!"
    ids = [line[4:] for line in out.splitlines() if line.startswith("id: ")]
    assert ids == [str(s) for s in seqs]


def test_httpx_sse_resume_with_last_event_id_loses_nothing(start_hub):
    hub = start_hub()
    words = [f"w{i}·ü " for i in range(120)]
    received = []
    with httpx.Client(timeout=10) as client:
        publish(client, hub, "resume", text_events(words[:1]))
        with connect_sse(client, "GET", f"{hub.url}/v1/topics/resume/events") as source:
            events = sse_events(source)
            received.append(json.loads(next(events).data))
            # live events, one per request, so each arrives on its own
            publisher = threading.Thread(
                target=lambda: [publish(httpx.Client(), hub, "resume", text_events([w])) for w in words[1:60]]
            )
            publisher.start()
            for sse in events:
                received.append(json.loads(sse.data))
                if len(received) == 30:
                    last_id = sse.id
                    break  # drop the connection mid-stream
            publisher.join()
        publish(client, hub, "resume", text_events(words[60:]) + [{"type": "stream_complete", "finish_reason": "stop"}])
        with connect_sse(client, "GET", f"{hub.url}/v1/topics/resume/events", headers={"Last-Event-ID": last_id}) as source:
            for sse in sse_events(source):
                received.append(json.loads(sse.data))
    seqs = [e["seq"] for e in received]
    assert seqs[:30] == list(range(1, 31)) and last_id == "30"
    assert seqs == sorted(set(seqs)) and seqs[-1] == 121
    assert "".join(e["text"] for e in received if e["type"] == "text_delta") == "".join(words)


def test_after_query_parameter_resumes_and_resume_at_end_is_204(hub):
    with httpx.Client(timeout=10) as client:
        publish(client, hub, "q", text_events(["a", "b", "c"]) + [{"type": "stream_complete", "finish_reason": "stop"}])
        with connect_sse(client, "GET", f"{hub.url}/v1/topics/q/events?after=2") as source:
            seqs = [json.loads(s.data)["seq"] for s in sse_events(source)]
        assert seqs == [3, 4]
        r = client.get(f"{hub.url}/v1/topics/q/events", headers={"Last-Event-ID": "4"})
        assert r.status_code == 204
        assert r.content == b""


def test_resume_point_beyond_the_history_gets_resume_unavailable_first(hub):
    with httpx.Client(timeout=10) as client:
        publish(client, hub, "restart", text_events(["x", "y"]) + [{"type": "stream_complete", "finish_reason": "stop"}])
        with connect_sse(client, "GET", f"{hub.url}/v1/topics/restart/events", headers={"Last-Event-ID": "500"}) as source:
            events = [(s.event, s.id, json.loads(s.data)) for s in sse_events(source)]
    assert events[0][0] == "error" and events[0][2]["code"] == "resume_unavailable"
    assert events[0][1] in (None, "", "500"), "the notice must not carry its own id"
    assert "seq" not in events[0][2]
    assert [e[2]["seq"] for e in events[1:]][-1] == 3


def test_every_event_type_the_hub_emits_validates_against_the_schema(start_hub):
    hub = start_hub("--heartbeat-interval", "0.2", "--queue-max-events", "8", env={"NEWSROOM_HTTP_SEND_BUFFER_BYTES": "4096"})
    validator = jsonschema.Draft202012Validator(SCHEMA)
    seen = []
    with httpx.Client(timeout=10) as client:
        all_types = [
            {"type": "stream_start", "generation": "gen_1", "provider": "openai", "model": "gpt"},
            {"type": "reasoning_delta", "text": "thinking"},
            {"type": "text_delta", "text": "Hello"},
            {"type": "tool_call_delta", "index": 0, "call_id": "call_1", "name": "f", "arguments_delta": "{\"a\""},
            {"type": "tool_call_delta", "index": 0, "call_id": "call_1", "arguments_delta": ":1}"},
            {"type": "tool_call", "index": 0, "call_id": "call_1", "name": "f", "arguments": "{\"a\":1}"},
            {"type": "error", "code": "rate_limited", "message": "slow down", "retryable": True},
        ]
        with connect_sse(client, "GET", f"{hub.url}/v1/topics/schema/events") as source:
            it = sse_events(source)
            publish(client, hub, "schema", all_types)
            while len([e for e in seen if e["type"] != "heartbeat"]) < len(all_types):
                seen.append(json.loads(next(it).data))
            while not any(e["type"] == "heartbeat" for e in seen):
                seen.append(json.loads(next(it).data))
            publish(client, hub, "schema", [{"type": "stream_complete", "finish_reason": "tool_calls", "provider_finish_reason": "tool_calls", "usage": {"input_tokens": 3, "output_tokens": 9}}])
            for sse in it:
                seen.append(json.loads(sse.data))
        # resume_unavailable notice
        with connect_sse(client, "GET", f"{hub.url}/v1/topics/schema/events?after=999") as source:
            seen.extend(json.loads(s.data) for s in sse_events(source))
    # a gap: a reader that stalls under drop_oldest
    seen.extend(stalled_reader_events(hub, "schema-gap", "drop_oldest"))
    types = {e["type"] for e in seen}
    assert types >= {"stream_start", "reasoning_delta", "text_delta", "tool_call_delta", "tool_call", "error", "heartbeat", "stream_complete", "gap"}
    for event in seen:
        validator.validate(event)
    # and the schema really rejects what the hub never sends
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"type": "text_delta", "topic": "t", "ts": "2026-01-01T00:00:00.000Z", "seq": 1, "text": "a", "index": 0, "extra": 1})


def stalled_reader_events(hub, topic, policy, count=2000, size=300):
    """Open an SSE request on a raw socket with a tiny receive buffer, stop reading while `count` events of
    `size` bytes are published, then read everything: returns the decoded events."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", hub.port))
    sock.sendall(f"GET /v1/topics/{topic}/events?policy={policy} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    wait_subscribers(hub, topic)
    with httpx.Client(timeout=10) as client:
        payload = "x" * size
        for i in range(0, count, 50):
            publish(client, hub, topic, [{"type": "text_delta", "text": f"{j}:{payload}", "index": j % 2} for j in range(i, i + 50)])
        publish(client, hub, topic, [{"type": "stream_complete", "finish_reason": "stop"}])
    time.sleep(0.3)
    sock.settimeout(5)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pass
    sock.close()
    body = data.split(b"\r\n\r\n", 1)[1].decode("utf-8", "replace")
    return [json.loads(line[6:]) for line in body.split("\n") if line.startswith("data: ")]


def test_bad_inputs_get_clear_errors_and_the_hub_keeps_serving(start_hub):
    hub = start_hub("--max-body-bytes", "1048576")
    received = []
    done = threading.Event()

    def watch():
        with httpx.Client(timeout=30) as c:
            with connect_sse(c, "GET", f"{hub.url}/v1/topics/side/events") as source:
                for sse in sse_events(source):
                    received.append(json.loads(sse.data))
        done.set()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    wait_subscribers(hub, "side")
    cases = [
        ("POST", "/v1/topics/t/events", b"{not json", {}, 400, "invalid_event"),
        ("POST", "/v1/topics/t/events", b'{"type":"shout"}', {}, 400, "invalid_event"),
        ("POST", "/v1/topics/t/events", b'{"type":"text_delta"}', {}, 400, "invalid_event"),
        ("POST", "/v1/topics/t/events", b'{"type":"text_delta","text":1}', {}, 400, "invalid_event"),
        ("POST", "/v1/topics/t/events", b'{"type":"text_delta","text":"a","extra":1}', {}, 400, "invalid_event"),
        ("POST", "/v1/topics/t/events", b'{"type":"text_delta","text":"\xc3\x28"}', {}, 400, "invalid_event"),
        ("POST", "/v1/topics/t/events", b"", {}, 400, "invalid_event"),
        ("POST", "/v1/topics/t/events", b'{"type":"text_delta","text":"a"}\n{"type":"nope"}', {"content-type": "application/x-ndjson"}, 400, "invalid_event"),
        ("POST", "/v1/topics/bad%20name/events", b'{"type":"text_delta","text":"a"}', {}, 400, "invalid_topic"),
        ("POST", "/v1/topics/" + "a" * 129 + "/events", b'{"type":"text_delta","text":"a"}', {}, 400, "invalid_topic"),
        ("POST", "/v1/topics/t/events", b"x" * (10 * 1024 * 1024), {}, 413, "body_too_large"),
        ("GET", "/v1/topics/t/events?after=-1", b"", {}, 400, "invalid_resume"),
        ("GET", "/v1/topics/t/events?policy=yolo", b"", {}, 400, "invalid_policy"),
        ("GET", "/v1/nope", b"", {}, 404, "not_found"),
        ("PUT", "/v1/topics/t/events", b"", {}, 405, "method_not_allowed"),
        ("GET", "/v1/topics/never-seen", b"", {}, 404, "not_found"),
    ]
    with httpx.Client(timeout=30) as client:
        for i, (method, path, body, headers, status, code) in enumerate(cases):
            try:
                r = client.request(method, hub.url + path, content=body, headers=headers)
            except httpx.HTTPError:
                # the 10 MiB body: the hub answers 413 and closes before reading it all
                assert status == 413
                r = None
            if r is not None:
                assert r.status_code == status, (path, body[:40], r.text)
                assert r.json()["error"]["code"] == code
                assert isinstance(r.json()["error"]["message"], str) and r.json()["error"]["message"]
            publish(client, hub, "side", [{"type": "text_delta", "text": f"{i} "}])
        # an ended topic refuses more events
        publish(client, hub, "ended", [{"type": "stream_complete", "finish_reason": "stop"}])
        r = publish(client, hub, "ended", [{"type": "text_delta", "text": "late"}])
        assert r.status_code == 409 and r.json()["error"]["code"] == "topic_ended"
        # a batch that continues past the end stores nothing
        r = publish(client, hub, "batch", [{"type": "stream_complete", "finish_reason": "stop"}, {"type": "text_delta", "text": "x"}])
        assert r.status_code == 409
        # ... and creates no topic
        assert client.get(f"{hub.url}/v1/topics/batch").status_code == 404
        publish(client, hub, "side", [{"type": "stream_complete", "finish_reason": "stop"}])
    assert done.wait(10)
    assert [e["seq"] for e in received] == list(range(1, len(cases) + 2))


def test_a_slowloris_request_header_gets_408_and_the_hub_keeps_serving():
    from conftest import Hub
    hub = Hub(["serve", "--port", "0"], env={"NEWSROOM_HTTP_REQUEST_TIMEOUT": "0.5"})
    try:
        sock = socket.create_connection(("127.0.0.1", hub.port))
        sock.sendall(b"GET /v1/topics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        start = time.monotonic()
        sock.settimeout(5)
        data = b""
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        assert data.startswith(b"HTTP/1.1 408"), data
        assert time.monotonic() - start < 3
        with httpx.Client() as client:
            assert client.get(f"{hub.url}/healthz").status_code == 200
    finally:
        hub.stop()


def test_topics_listing_and_health(hub):
    with httpx.Client(timeout=10) as client:
        publish(client, hub, "listed", text_events(["a"]))
        topics = client.get(f"{hub.url}/v1/topics").json()["topics"]
        assert {"name": "listed", "state": "streaming", "last_seq": 1}.items() <= next(t for t in topics if t["name"] == "listed").items()
        one = client.get(f"{hub.url}/v1/topics/listed").json()
        assert one["subscribers"] == 0 and one["last_seq"] == 1
        assert client.get(f"{hub.url}/healthz").json() == {"status": "ok"}
        assert client.get(f"{hub.url}/readyz").status_code == 200
        r = client.delete(f"{hub.url}/v1/topics/listed")
        assert r.status_code == 200 and r.json()["state"] == "ended"
        assert client.delete(f"{hub.url}/v1/topics/unknown-topic").status_code == 404


def test_sigterm_ends_streams_cleanly_and_exits_zero(start_hub):
    hub = start_hub()
    events = []
    with httpx.Client(timeout=10) as client:
        publish(client, hub, "bye", text_events(["a"]))
        with connect_sse(client, "GET", f"{hub.url}/v1/topics/bye/events") as source:
            it = sse_events(source)
            events.append(json.loads(next(it).data))
            hub.proc.send_signal(signal.SIGTERM)
            for sse in it:
                events.append(json.loads(sse.data))
    assert hub.proc.wait(timeout=15) == 0
    assert events[-1]["type"] == "error" and events[-1]["code"] == "server_shutdown" and events[-1]["retryable"]


def test_cli_publish_and_subscribe_text(hub):
    lines = "\n".join(json.dumps(e) for e in [{"type": "stream_start"}] + text_events(["Hello ", "from ", "the CLI"]) + [{"type": "stream_complete", "finish_reason": "stop"}])
    sub = subprocess.Popen([str(BINARY), "subscribe", "cli", "--text", "--url", hub.url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    pub = subprocess.run([str(BINARY), "publish", "cli", "--url", hub.url], input=lines, capture_output=True, text=True, timeout=30)
    assert pub.returncode == 0, pub.stderr
    assert "published 5 events" in pub.stderr
    out, err = sub.communicate(timeout=30)
    assert sub.returncode == 0, err
    assert out == "Hello from the CLI\n"
    assert "[stop]" in err


def test_environment_and_config_file_configure_the_hub(tmp_path):
    from conftest import Hub
    config = tmp_path / "newsroom.json"
    config.write_text(json.dumps({"heartbeatInterval": 0.2, "http": {"maxBodyBytes": 64}}))
    hub = Hub(["serve", "--port", "0", "--config", str(config)], env={"NEWSROOM_DEFAULT_POLICY": "drop_oldest"})
    try:
        with httpx.Client(timeout=10) as client:
            r = client.post(f"{hub.url}/v1/topics/c/events", content=b'{"type":"text_delta","text":"' + b"x" * 100 + b'"}')
            assert r.status_code == 413
            with connect_sse(client, "GET", f"{hub.url}/v1/topics/c/events") as source:
                first = next(sse_events(source))
                assert first.event == "heartbeat"
    finally:
        hub.stop()
    bad = subprocess.run([str(BINARY), "serve", "--port", "0", "--default-policy", "yolo"], capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0 and "defaultPolicy" in bad.stderr


def test_demo_streams_a_complete_answer():
    from conftest import Hub
    hub = Hub(["demo", "--port", "0", "--tokens-per-second", "400", "--answers", "1"])
    try:
        line = hub.read_line()
        assert line.startswith("newsroom: grpc listening on 127.0.0.1:")  # the second line: the gRPC port
        browser = hub.read_line()
        assert browser.startswith("demo: watch in a browser: http://127.0.0.1:") and browser.rstrip().endswith(
            "/ (the page follows each new answer)")
        sdk = hub.read_line()
        assert "/v1" in sdk and "SDK" in sdk
        line = hub.read_line()
        assert "demo-1" in line
        curl = hub.read_line().strip()
        assert curl.startswith("curl -N http://127.0.0.1:")
        with httpx.Client(timeout=30) as client:
            with connect_sse(client, "GET", f"{hub.url}/v1/topics/demo-1/events") as source:
                events = [json.loads(s.data) for s in sse_events(source)]
        types = [e["type"] for e in events]
        assert types[0] == "stream_start" and types[-1] == "stream_complete"
        assert "tool_call" in types and "reasoning_delta" in types
        text = "".join(e["text"] for e in events if e["type"] == "text_delta")
        assert "```swift" in text and "\n- " in text
    finally:
        assert hub.stop() == 0
