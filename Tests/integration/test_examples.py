"""The Python examples (Examples/python/) run as their users would run them, against the real hub:
each prints the published answer exactly, and each resumes after its connection is cut mid-answer
(through a proxy that drops every connection, as a network would)."""

import re
import subprocess
import sys
import threading
import time

import httpx
import pytest

from conftest import ROOT, Hub, publish, wait_until
from viewer_support import CuttableProxy

EXAMPLES = ROOT / "Examples" / "python"
ANSWER = (
    "Broadcasting one answer to many viewers: every viewer gets the same text, in order, "
    "and a viewer whose network drops resumes after its last event, so nothing is lost "
    "and nothing arrives twice. Ünïcödé, emoji 🎉 and \"quotes\" survive too.\n\nSecond paragraph."
)
EXAMPLE_FILES = {"sse": "sse_subscribe.py", "ws": "ws_subscribe.py"}


def events_for(text, size=5):
    return [{"type": "stream_start", "provider": "test"}] + [
        {"type": "text_delta", "text": text[i : i + size]} for i in range(0, len(text), size)
    ]


def base_url(url, transport):
    return url.replace("http://", "ws://") if transport == "ws" else url


class Running:
    """An example running in a subprocess, its output collected as it arrives."""

    def __init__(self, transport, topic, url):
        self.proc = subprocess.Popen(
            [sys.executable, "-u", str(EXAMPLES / EXAMPLE_FILES[transport]), topic, base_url(url, transport)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.out = bytearray()
        self.err = bytearray()
        threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True).start()

    @staticmethod
    def _read(stream, into):
        while chunk := stream.read1(4096):
            into.extend(chunk)

    @property
    def stdout(self):
        return self.out.decode("utf-8", errors="replace")

    @property
    def stderr(self):
        return self.err.decode("utf-8", errors="replace")

    def wait(self, timeout=30):
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            time.sleep(0.1)  # let the readers take the last bytes


@pytest.mark.parametrize("transport", ["sse", "ws"])
def test_example_prints_the_whole_answer_as_published(hub, transport):
    topic = f"example-{transport}"
    with httpx.Client() as client:
        # Half before it connects (replayed), half while it is connected (live).
        events = events_for(ANSWER)
        half = len(events) // 2
        publish(client, hub, topic, events[:half])
        running = Running(transport, topic, hub.url)
        assert wait_until(lambda: len(running.stdout) > 10, timeout=15), running.stderr
        publish(client, hub, topic, events[half:] + [{"type": "stream_complete", "finish_reason": "stop"}])
        assert running.wait() == 0, running.stderr
    assert running.stdout == ANSWER + "\n"
    assert running.stderr == ""


@pytest.mark.parametrize("transport", ["sse", "ws"])
def test_example_resumes_after_the_connection_is_cut(hub, transport):
    topic = f"example-cut-{transport}"
    events = events_for(ANSWER, 3)
    half = len(events) // 2
    proxy = CuttableProxy(hub.port)
    try:
        with httpx.Client() as client:
            publish(client, hub, topic, events[:half])
            running = Running(transport, topic, proxy.url)
            printed = "".join(e["text"] for e in events[1:half])
            assert wait_until(lambda: running.stdout == printed, timeout=15), (running.stdout, running.stderr)
            assert proxy.cut() >= 1
            publish(client, hub, topic, events[half : half + 10])  # while it is away
            assert wait_until(lambda: "resuming after" in running.stderr, timeout=15), running.stderr
            time.sleep(0.3)
            for start in range(half + 10, len(events), 10):
                publish(client, hub, topic, events[start : start + 10])
                time.sleep(0.02)
            publish(client, hub, topic, [{"type": "stream_complete", "finish_reason": "stop"}])
            assert running.wait() == 0, running.stderr
    finally:
        proxy.close()
    assert running.stdout == ANSWER + "\n", running.stderr
    # It asked for what came after the last event it had, not for the whole answer again.
    if transport == "sse":
        resumed = [r for r in proxy.subscription_requests(f"/v1/topics/{topic}/events") if "last-event-id" in r.lower()]
        assert resumed and int(re.search(r"(?im)^last-event-id:\s*(\d+)", resumed[0]).group(1)) >= half
    else:
        first_lines = [r.split("\r\n", 1)[0] for r in proxy.subscription_requests(f"/v1/topics/{topic}/ws")]
        afters = [int(re.search(r"after=(\d+)", line).group(1)) for line in first_lines]
        assert afters[0] == 0 and max(afters[1:]) >= half, first_lines


@pytest.mark.parametrize("transport", ["sse", "ws"])
def test_example_stops_at_once_for_an_answer_it_already_has_in_full(hub, transport):
    topic = f"example-ended-{transport}"
    with httpx.Client() as client:
        publish(client, hub, topic, events_for("done") + [{"type": "stream_complete", "finish_reason": "stop"}])
    running = Running(transport, topic, hub.url)
    assert running.wait(timeout=15) == 0, running.stderr
    assert running.stdout == "done\n"


@pytest.mark.parametrize("transport", ["sse", "ws"])
def test_example_gives_up_on_a_bad_topic_name(hub, transport):
    running = Running(transport, "bad%20name", hub.url)
    assert running.wait(timeout=15) != 0
    assert "400" in running.stderr or "invalid" in running.stderr.lower(), running.stderr


@pytest.mark.parametrize("transport", ["sse", "ws"])
def test_example_resumes_across_a_hub_restart_and_says_the_history_started_again(transport):
    """The hub restarts (SIGTERM, then a new one on the same port, with an empty history) under the example:
    it resumes after server_shutdown, learns that its resume point is gone (resume_unavailable), says so,
    and prints the answer again as the new hub holds it."""
    from grpc_support import free_port

    args = ["serve", "--port", str(free_port())]
    hub = Hub(args)
    try:
        with httpx.Client() as client:
            hello = [{"type": "stream_start", "provider": "test"}, {"type": "text_delta", "text": "Hello, "}]
            publish(client, hub, "t1", hello)
            running = Running(transport, "t1", hub.url)
            assert wait_until(lambda: running.stdout == "Hello, ", timeout=15), running.stderr
            assert hub.stop() == 0
            time.sleep(0.3)
            assert running.proc.poll() is None, running.stderr  # still there, reconnecting
            hub = Hub(args)
            assert wait_until(
                lambda: client.get(f"{hub.url}/v1/topics/t1").json().get("subscribers") == 1, timeout=20
            ), running.stderr
            rest = [{"type": "text_delta", "text": "world."}, {"type": "stream_complete", "finish_reason": "stop"}]
            publish(client, hub, "t1", hello + rest)
            assert running.wait() == 0, running.stderr
    finally:
        hub.stop()
    assert running.stdout == "Hello, \nHello, world.\n", running.stderr
    assert "the hub no longer has the events after" in running.stderr, running.stderr
    assert "the answer starts again" in running.stderr, running.stderr


# --- Examples/python-grpc: the same answer over gRPC -------------------------------------

GRPC_EXAMPLE = ROOT / "Examples" / "python-grpc"


@pytest.fixture
def grpc_example(tmp_path):
    """subscribe.py next to stubs generated from the repository's .proto, as generate.sh makes them."""
    pytest.importorskip("grpc_tools", reason="grpcio-tools is not installed")
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{ROOT / 'Sources' / 'NewsroomProto' / 'Protos'}",
         f"--python_out={tmp_path}", f"--grpc_python_out={tmp_path}", "newsroom/v1/newsroom.proto"],
        check=True, capture_output=True)
    (tmp_path / "subscribe.py").write_bytes((GRPC_EXAMPLE / "subscribe.py").read_bytes())
    return tmp_path / "subscribe.py"


@pytest.fixture
def grpc_hub():
    from grpc_support import GRPCHub

    hub = GRPCHub(["--heartbeat-interval", "0.3"])
    hub.port = int(hub.url.rsplit(":", 1)[1])
    yield hub
    hub.stop()


class RunningGRPC(Running):
    def __init__(self, script, topic, target):  # noqa: super().__init__ would start the SSE example
        self.proc = subprocess.Popen(
            [sys.executable, "-u", str(script), topic, target], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out = bytearray()
        self.err = bytearray()
        threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True).start()


def test_grpc_example_prints_the_whole_answer_as_published(grpc_hub, grpc_example):
    topic = "example-grpc"
    with httpx.Client() as client:
        events = events_for(ANSWER)
        half = len(events) // 2
        publish(client, grpc_hub, topic, events[:half])
        running = RunningGRPC(grpc_example, topic, grpc_hub.grpc_target)
        assert wait_until(lambda: len(running.stdout) > 10, timeout=15), running.stderr
        publish(client, grpc_hub, topic, events[half:] + [{"type": "stream_complete", "finish_reason": "stop"}])
        assert running.wait() == 0, running.stderr
    assert running.stdout == ANSWER + "\n"
    assert running.stderr == ""


def test_grpc_example_resumes_after_the_connection_is_cut(grpc_hub, grpc_example):
    topic = "example-grpc-cut"
    events = events_for(ANSWER, 3)
    half = len(events) // 2
    proxy = CuttableProxy(int(grpc_hub.grpc_target.rsplit(":", 1)[1]))
    try:
        with httpx.Client() as client:
            publish(client, grpc_hub, topic, events[:half])
            running = RunningGRPC(grpc_example, topic, proxy.url.replace("http://", ""))
            printed = "".join(e["text"] for e in events[1:half])
            assert wait_until(lambda: running.stdout == printed, timeout=15), (running.stdout, running.stderr)
            assert proxy.cut() >= 1
            publish(client, grpc_hub, topic, events[half : half + 10])  # while it is away
            assert wait_until(lambda: "resuming after seq" in running.stderr, timeout=15), running.stderr
            resumed_after = int(re.search(r"resuming after seq (\d+)", running.stderr).group(1))
            assert resumed_after >= half
            for start in range(half + 10, len(events), 10):
                publish(client, grpc_hub, topic, events[start : start + 10])
                time.sleep(0.02)
            publish(client, grpc_hub, topic, [{"type": "stream_complete", "finish_reason": "stop"}])
            assert running.wait() == 0, running.stderr
    finally:
        proxy.close()
    assert running.stdout == ANSWER + "\n", running.stderr
