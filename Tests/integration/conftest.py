"""Fixtures for the black-box tests: they run the real `newsroom` binary on loopback and talk to it
with clients the project did not write (curl, httpx, httpx-sse, raw sockets)."""

import json
import os
import pathlib
import queue
import signal
import socket
import subprocess
import threading
import time

import httpx
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARY = pathlib.Path(os.environ.get("NEWSROOM_BINARY", ROOT / ".build" / "debug" / "newsroom"))
SCHEMA = json.loads((ROOT / "schema" / "event.schema.json").read_text())


def stop_process(proc, sig=signal.SIGTERM, timeout=15):
    """Sends `sig` to a child process, waits up to `timeout` s, then kills it; returns its exit code."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


class Hub:
    """A running `newsroom` process."""

    def __init__(self, args, env=None):
        self.args = args
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [str(BINARY), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full_env,
            text=True,
        )
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            self.proc.kill()
            raise RuntimeError(f"hub did not start: {line!r} {self.proc.stderr.read()}")
        self.url = line.strip().split("listening on ")[1]
        self.port = int(self.url.rsplit(":", 1)[1])
        # The hub's output is read as it comes: a pipe nobody reads fills at 64 KB, and then the hub's
        # next log line blocks the event loop writing it (a test with debug logging, or many warnings,
        # would hang on that rather than on anything it tests).
        self._log = []
        self._stdout = queue.Queue()
        self._drains = [threading.Thread(target=self._drain_stdout, daemon=True),
                        threading.Thread(target=self._drain_stderr, daemon=True)]
        for drain in self._drains:
            drain.start()

    def _drain_stdout(self):
        for line in self.proc.stdout:
            self._stdout.put(line)

    def _drain_stderr(self):
        for line in self.proc.stderr:
            self._log.append(line)

    def read_line(self, timeout=15):
        """The hub's next line on stdout (after the `listening on` line)."""
        return self._stdout.get(timeout=timeout)

    def log_text(self, timeout=15):
        """Everything the hub wrote to stderr, once it has exited (call after `stop`)."""
        for drain in self._drains:
            drain.join(timeout)
        return "".join(self._log)

    def stop(self, sig=signal.SIGTERM, timeout=15):
        return stop_process(self.proc, sig, timeout)


@pytest.fixture
def start_hub():
    hubs = []

    def start(*args, env=None):
        hub = Hub(["serve", "--port", "0", *args], env=env)
        hubs.append(hub)
        return hub

    yield start
    for hub in hubs:
        hub.stop()


@pytest.fixture
def hub(start_hub):
    return start_hub("--heartbeat-interval", "0.3")


def publish(client, hub, topic, events, ndjson=None):
    """Publish a list of event dicts (NDJSON when more than one)."""
    if ndjson is None:
        ndjson = len(events) != 1
    if ndjson:
        body = "\n".join(json.dumps(e) for e in events)
        return client.post(
            f"{hub.url}/v1/topics/{topic}/events", content=body, headers={"content-type": "application/x-ndjson"}
        )
    return client.post(f"{hub.url}/v1/topics/{topic}/events", json=events[0])


def raw_request(port, data, read_timeout=5.0):
    """Send raw bytes, return everything the server sends until it closes or goes quiet."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except socket.timeout:
            pass
        return b"".join(chunks)


def pump(source, sink):
    """Copies bytes from one socket to another until either side closes, then shuts both down (the
    loopback proxies of the tests run one per direction)."""
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    for s in (source, sink):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def wait_until(predicate, timeout=10.0, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def wait_subscribers(hub, topic, count=1, timeout=10.0):
    """Waits until `topic` has at least `count` subscribers (asserting): a test that publishes right after
    opening a subscription must not race the subscription's arrival with a sleep."""

    def subscribed():
        answer = httpx.get(f"{hub.url}/v1/topics/{topic}", timeout=5)
        return answer.status_code == 200 and answer.json().get("subscribers", 0) >= count

    assert wait_until(subscribed, timeout=timeout), f"{topic}: fewer than {count} subscribers after {timeout} s"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "stock_client: Socket.IO tests driven by python-socketio (run again with Debian's client)")


def pytest_sessionfinish(session, exitstatus):
    """With NEWSROOM_NO_SKIPS=1 (set by .ci/run), a skipped test fails the run: a skip that hides a
    missing tool or a broken setup must not pass as green."""
    if os.environ.get("NEWSROOM_NO_SKIPS") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped and session.exitstatus == 0:
        reporter.write_line(f"NEWSROOM_NO_SKIPS: {skipped} test(s) skipped; every test must run in CI", red=True)
        session.exitstatus = 1
