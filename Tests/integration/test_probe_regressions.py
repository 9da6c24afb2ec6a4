"""Regressions from an independent probe (issue 19), each with the kind of client the defect was found
with: urllib, raw sockets, curl, httpx."""

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request

import httpx
import pytest

from conftest import publish, raw_request, wait_subscribers, wait_until


@pytest.fixture
def small_body_hub(start_hub):
    return start_hub("--max-body-bytes", "1048576")


def test_a_413_reaches_urllib_instead_of_a_reset(small_body_hub):
    body = b"x" * (2 << 20)
    outcomes = []
    for _ in range(10):
        request = urllib.request.Request(f"{small_body_hub.url}/v1/topics/t/events", data=body,
                                         headers={"content-type": "application/json"}, method="POST")
        try:
            urllib.request.urlopen(request, timeout=10)
            outcomes.append("accepted")
        except urllib.error.HTTPError as error:
            outcomes.append(error.code)
            assert json.loads(error.read())["error"]["code"] == "body_too_large"
        except (ConnectionResetError, BrokenPipeError, urllib.error.URLError) as error:
            outcomes.append(type(error).__name__)
    assert outcomes == [413] * 10


def test_a_413_reaches_a_client_that_sends_the_whole_body_before_reading(small_body_hub):
    for _ in range(5):
        body = b"y" * (3 << 20)
        head = (f"POST /v1/topics/t/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        with socket.create_connection(("127.0.0.1", small_body_hub.port), timeout=10) as sock:
            sock.sendall(head + body)
            answer = b""
            while b"\r\n\r\n" not in answer:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 413"), answer[:60]


def test_curl_uploading_32_mib_gets_the_413(small_body_hub, tmp_path):
    path = tmp_path / "big.json"
    path.write_bytes(b"z" * (32 << 20))
    for _ in range(5):
        result = subprocess.run(
            ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Expect:", "-H", "content-type: application/json",
             "--data-binary", f"@{path}", f"{small_body_hub.url}/v1/topics/t/events"],
            capture_output=True, text=True, timeout=60)
        assert result.stdout == "413", result.stderr


def test_percent_escaped_topic_names_are_decoded(hub):
    with httpx.Client(timeout=10) as client:
        # What encodeURIComponent("chat:42") and Python's quote("chat:42", safe="") produce.
        r = client.post(f"{hub.url}/v1/topics/chat%3A42/events", json={"type": "stream_start"})
        assert r.status_code == 202 and r.json()["topic"] == "chat:42"
        assert client.get(f"{hub.url}/v1/topics/chat:42").json()["last_seq"] == 1
        assert client.post(f"{hub.url}/v1/topics/%61bc/events", json={"type": "stream_start"}).json()["topic"] == "abc"
        # An escape that decodes to a character no topic name may hold is still refused.
        assert client.get(f"{hub.url}/v1/topics/a%2Fb").status_code == 400


def test_last_event_id_must_be_one_integer(hub):
    with httpx.Client(timeout=10) as client:
        publish(client, hub, "le", [{"type": "stream_start"}, {"type": "stream_complete", "finish_reason": "stop"}])
    answer = raw_request(hub.port, b"GET /v1/topics/le/events HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 1 2\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400")
    assert b"invalid_resume" in answer
    # Surrounding blanks are fine (the SSE spec lets servers trim); the end is 204.
    answer = raw_request(hub.port, b"GET /v1/topics/le/events HTTP/1.1\r\nHost: x\r\nLast-Event-ID:  2 \r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 204")


def test_dot_topics_are_refused(hub):
    with httpx.Client(timeout=10) as client:
        for name in (".", ".."):
            # Sent raw: URL clients resolve these segments away before sending.
            answer = raw_request(hub.port, f"POST /v1/topics/{name}/events HTTP/1.1\r\nHost: x\r\n"
                                           f"Content-Type: application/json\r\nContent-Length: 23\r\n\r\n"
                                           '{"type":"stream_start"}'.encode())
            assert answer.startswith(b"HTTP/1.1 400"), answer[:80]
        assert client.post(f"{hub.url}/v1/topics/a..b/events", json={"type": "stream_start"}).status_code == 202


def test_head_on_the_events_url_answers_like_get_without_a_body(hub):
    with httpx.Client(timeout=10) as client:
        r = client.head(f"{hub.url}/v1/topics/h/events")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.content == b""


def test_the_slow_consumer_notice_reaches_a_reader_that_catches_up(start_hub):
    hub = start_hub("--flush-interval", "0", "--queue-max-events", "16")
    sock = socket.create_connection(("127.0.0.1", hub.port), timeout=10)
    sock.sendall(b"GET /v1/topics/slow/events?policy=disconnect HTTP/1.1\r\nHost: x\r\n\r\n")
    with httpx.Client(timeout=10) as client:
        assert wait_until(lambda: client.get(f"{hub.url}/v1/topics/slow").status_code == 200
                          and client.get(f"{hub.url}/v1/topics/slow").json()["subscribers"] == 1)
        filler = "x" * 4000
        # Enough to fill the kernel's buffers, NIO's buffer and then the queue of 16, while the reader does
        # not read (at most 25 MB).
        for i in range(600):
            publish(client, hub, "slow", [{"type": "text_delta", "text": f"{i}{filler}"} for _ in range(10)])
            if client.get(f"{hub.url}/v1/topics/slow").json()["subscribers"] == 0:
                break
        assert wait_until(lambda: client.get(f"{hub.url}/v1/topics/slow").json()["subscribers"] == 0)
    # The reader now reads what was written before the notice, then the notice itself.
    received = b""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        received += chunk
    sock.close()
    notices = [line for line in received.split(b"\n") if line.startswith(b"data: ") and b"slow_consumer" in line]
    assert notices, f"the slow_consumer notice did not arrive; received {len(received)} bytes ending {received[-300:]!r}"
    notice = json.loads(notices[0][6:])
    assert notice["retryable"] is True and "terminal" not in notice and "seq" not in notice


def test_readiness_fails_for_the_drain_delay_before_anything_is_refused(start_hub):
    """SIGTERM turns /readyz to 503 at once, then the hub keeps serving — new connections, new
    viewers, publishes — for `--drain-delay`, so a load balancer polling /readyz takes the node out
    before any client is refused; only then do viewers get `server_shutdown` and the process exits."""
    import signal
    import threading

    hub = start_hub("--drain-delay", "1.5")
    with httpx.Client() as client:
        assert client.get(f"{hub.url}/readyz").status_code == 200
        assert publish(client, hub, "drain", [{"type": "text_delta", "text": "first"}]).status_code == 202
        events = []

        def watch():
            with httpx.stream("GET", f"{hub.url}/v1/topics/drain/events", timeout=10) as stream:
                for line in stream.iter_lines():
                    if line.startswith("data:"):
                        events.append(line)

        viewer = threading.Thread(target=watch, daemon=True)
        viewer.start()
        wait_subscribers(hub, "drain")
        signalled = time.monotonic()
        hub.proc.send_signal(signal.SIGTERM)
        assert wait_until(lambda: client.get(f"{hub.url}/readyz").status_code == 503, timeout=1)
        # Still serving during the delay: a new connection, a publish that reaches the viewer.
        with httpx.Client() as fresh:
            assert fresh.get(f"{hub.url}/healthz").status_code == 200
            assert publish(fresh, hub, "drain", [{"type": "text_delta", "text": "still here"}]).status_code == 202
        assert wait_until(lambda: any("still here" in e for e in events), timeout=1)
        assert time.monotonic() - signalled < 1.2
        # Then the shutdown proper: the viewer's notice, and the exit.
        assert hub.proc.wait(timeout=10) == 0
        assert time.monotonic() - signalled >= 1.5
        viewer.join(5)
        assert any('"server_shutdown"' in e for e in events), events


# ----------------------------------------------------------------------------------------------------
# Memory freed by topics that came and went is returned to the system (glibc's malloc_trim on a timer)


def rss(pid):
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))


def churn_topics(hub, count=500, events=40, size=2000):
    """Creates `count` ended topics of `events` × `size` bytes (forgotten a second later); returns the
    peak RSS seen."""
    body = "".join('{"type":"text_delta","text":"%s"}\n' % ("x" * size) for _ in range(events))
    body += '{"type":"stream_complete","finish_reason":"stop"}\n'
    peak = 0
    with httpx.Client(timeout=30) as client:
        for index in range(count):
            r = client.post(f"{hub.url}/v1/topics/churn-{index}/events", content=body,
                            headers={"content-type": "application/x-ndjson"})
            assert r.status_code == 202, r.text
            if index % 50 == 0:
                peak = max(peak, rss(hub.proc.pid))
        assert wait_until(lambda: not client.get(f"{hub.url}/v1/topics").json()["topics"], timeout=30)
    return max(peak, rss(hub.proc.pid))


@pytest.mark.parametrize("trim", [True, False])
def test_memory_freed_by_topics_that_went_away_is_returned(start_hub, trim):
    """40 MB of histories come and go: with trimming (the default, here every 0.5 s) RSS falls back to
    near where it started; with `--memory-trim-interval 0` the allocator keeps it (what the probe saw)."""
    hub = start_hub("--retention", "1", "--memory-trim-interval", "0.5s" if trim else "0")
    time.sleep(0.5)
    start = rss(hub.proc.pid)
    peak = churn_topics(hub)
    # Enough churned memory to measure (with trimming every 0.5 s some is returned during the churn already).
    assert peak - start > 12 << 20, (start, peak)
    time.sleep(2)
    settled = rss(hub.proc.pid)
    returned = (peak - settled) / (peak - start)
    figures = f"start {start >> 20} MiB, peak {peak >> 20} MiB, settled {settled >> 20} MiB"
    # Measured here: with trimming 88–89 % comes back (settled ≈ start + 3 MiB); without, 21–52 % (how much
    # glibc returns by itself varies with where the last live blocks sit), settled 14–24 MiB above start.
    if trim:
        assert returned > 0.75, figures
    else:
        assert returned < 0.7 and settled - start > 8 << 20, figures
