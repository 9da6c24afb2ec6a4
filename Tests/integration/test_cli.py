"""`newsroom publish` and `newsroom subscribe` as their users run them, against the real hub: errors that
say what to do (the URL tried and the cause, the hub's status and code), reconnection reported on stderr,
TLS with a private certificate authority, and a subscriber that survives a hub restart and says when
the history started again."""

import json
import re
import signal
import socket
import subprocess
import threading
import time

import httpx
import jwt
import pytest

from conftest import BINARY, Hub, publish, wait_until

HELLO = [{"type": "stream_start", "provider": "test"}, {"type": "text_delta", "text": "Hello, "}]
ANSWER = HELLO + [{"type": "text_delta", "text": "world."}, {"type": "stream_complete", "finish_reason": "stop"}]
SECRET = "a-test-secret-of-enough-length-0123456789"


def closed_port():
    """A port nothing listens on (it was free a moment ago)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ndjson(events):
    return "".join(json.dumps(e) + "\n" for e in events)


def newsroom(*args, stdin="", timeout=30):
    """Runs the CLI to completion; returns (exit status, stdout, stderr, seconds)."""
    started = time.monotonic()
    done = subprocess.run([str(BINARY), *args], input=stdin, capture_output=True, text=True, timeout=timeout)
    return done.returncode, done.stdout, done.stderr, time.monotonic() - started


class Running:
    """A CLI command running in the background, its output collected as it arrives."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([str(BINARY), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out, self.err = bytearray(), bytearray()
        for stream, into in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._read, args=(stream, into), daemon=True).start()

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


# --- errors that say what to do ---------------------------------------------------------------------


def test_publish_to_a_closed_port_fails_at_once_naming_the_url():
    port = closed_port()
    status, _, err, seconds = newsroom("publish", "t", "--url", f"http://127.0.0.1:{port}", stdin=ndjson(HELLO))
    assert status != 0
    assert seconds < 2, err
    assert f"http://127.0.0.1:{port}/v1/topics/t/events" in err, err
    assert "connection refused" in err.lower(), err


def test_subscribe_reports_each_attempt_and_gives_up_after_max_retries():
    port = closed_port()
    url = f"http://127.0.0.1:{port}/v1/topics/t/events"
    status, out, err, seconds = newsroom("subscribe", "t", "--url", f"http://127.0.0.1:{port}", "--max-retries", "2")
    assert status != 0 and out == ""
    lines = err.strip().splitlines()
    # One line per retry: the URL, the cause, which retry, and the wait before it.
    assert re.fullmatch(rf"newsroom: {re.escape(url)}: connection refused; retry 1 of 2 in \d+\.\d\d s", lines[0]), err
    assert re.fullmatch(rf"newsroom: {re.escape(url)}: connection refused; retry 2 of 2 in \d+\.\d\d s", lines[1]), err
    assert lines[2] == f"newsroom: cannot reach {url} (after 3 attempts): connection refused", err
    assert len(lines) == 3 and seconds < 10


def test_subscribe_to_a_closed_port_keeps_trying_by_default():
    running = Running("subscribe", "t", "--url", f"http://127.0.0.1:{closed_port()}")
    try:
        assert wait_until(lambda: "retry 3 in" in running.stderr, timeout=15), running.stderr
        assert running.proc.poll() is None  # no limit: still trying
    finally:
        running.proc.send_signal(signal.SIGINT)
        running.wait(timeout=10)


def token(**claims):
    return jwt.encode({"sub": "cli", "exp": int(time.time()) + 600, **claims}, SECRET, algorithm="HS256")


@pytest.fixture
def secure_hub():
    hub = Hub(["serve", "--port", "0", "--auth-hs256-secret", SECRET])
    yield hub
    hub.stop()


def test_a_refusal_is_printed_with_its_status_and_code(secure_hub):
    url = secure_hub.url
    publisher = token(publish=["open"])
    status, _, err, _ = newsroom("publish", "open", "--url", url, "--token", publisher, stdin=ndjson(HELLO))
    assert status == 0, err
    status, _, err, _ = newsroom("publish", "secret", "--url", url, "--token", publisher, stdin=ndjson(HELLO))
    assert status != 0
    assert re.match(r"newsroom: 403 forbidden: .*publish", err), err
    status, _, err, _ = newsroom("publish", "open", "--url", url, stdin=ndjson(HELLO))
    assert status != 0 and err.startswith("newsroom: 401 unauthorized: "), err
    status, out, err, seconds = newsroom("subscribe", "secret", "--url", url, "--token", token(subscribe=["open"]))
    assert status != 0 and out == ""
    assert err == "newsroom: 403 forbidden: the token does not allow subscribe on 'secret'\n", err
    assert seconds < 5  # a refusal is not retried
    # Over WebSocket the hub upgrades, then closes with 4003 at once. Now and then the client sees the
    # connection close without its close frame (it arrives while the client is still switching protocols)
    # and retries that as a drop: the refusal is then reported on a later attempt.
    status, out, err, _ = newsroom(
        "subscribe", "secret", "--url", url, "--token", token(subscribe=["open"]), "--transport", "ws")
    assert status != 0 and out == ""
    assert err.splitlines()[-1].startswith("newsroom: 403 forbidden"), err


def test_a_bad_url_is_a_usage_error():
    status, _, err, _ = newsroom("subscribe", "t", "--url", "ftp://127.0.0.1:1")
    assert status != 0 and "--url" in err


def test_subscribe_without_max_retries_says_it_keeps_trying_with_each_attempt():
    running = Running("subscribe", "t", "--url", f"http://127.0.0.1:{closed_port()}")
    try:
        assert wait_until(lambda: running.stderr.count("\n") >= 2, timeout=15), running.stderr
        for line in running.stderr.splitlines()[:2]:
            assert line.endswith("(no limit: --max-retries N gives up)"), running.stderr
    finally:
        running.proc.send_signal(signal.SIGINT)
        running.wait(timeout=10)


# --- errors of the hub itself -------------------------------------------------------------------------


def serve_env():
    """The environment without NEWSROOM_* settings (a developer's own would change what the hub does)."""
    import os
    return {k: v for k, v in os.environ.items() if not k.startswith("NEWSROOM_") or k == "NEWSROOM_BINARY"}


def serve_fails(*args):
    done = subprocess.run([str(BINARY), "serve", *args], capture_output=True, text=True, timeout=30, env=serve_env())
    assert done.returncode == 1, done
    assert "Fatal error" not in done.stderr and "errno" not in done.stderr and "bind(descriptor" not in done.stderr
    return done.stderr.strip().splitlines()[-1]


def test_a_port_in_use_names_the_address_and_the_flag_to_change():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert serve_fails("--port", str(port)) == (
            f"newsroom: cannot listen on 127.0.0.1:{port}: address already in use — "
            "pick another with --port (or NEWSROOM_PORT)")
        assert serve_fails("--port", "0", "--grpc-port", str(port)) == (
            f"newsroom: cannot listen on 127.0.0.1:{port}: address already in use — "
            "pick another with --grpc-port (or NEWSROOM_GRPC_PORT)")


def test_an_address_this_machine_does_not_have_names_the_host_flag():
    assert serve_fails("--host", "192.0.2.1", "--port", "0") == (
        "newsroom: cannot listen on 192.0.2.1:0: this machine has no such address — change --host (or NEWSROOM_HOST)")


def test_startup_warns_about_hosted_providers_without_keys():
    env = dict(serve_env(), NEWSROOM_PROVIDER_OPENAI_API_KEY="sk-test")
    proc = subprocess.Popen([str(BINARY), "serve", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        assert "listening on" in proc.stdout.readline()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    (line,) = [l for l in err.splitlines() if "without an API key" in l]
    assert "warning" in line and "newsroom.providers=anthropic,gemini,openai-responses " in line, line
    assert "NEWSROOM_PROVIDER_<ID>_API_KEY" in line, line


# --- TLS -----------------------------------------------------------------------------------------------


@pytest.fixture
def tls_hub(tmp_path):
    """A hub serving TLS (HTTP/1.1, HTTP/2 and gRPC on its one port) with a self-signed certificate for
    127.0.0.1."""
    from grpc_support import GRPCHub

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True)
    hub = GRPCHub(["--tls-certificate", str(cert), "--tls-private-key", str(key)])
    hub.https = hub.url.replace("http://", "https://")
    hub.cert = cert
    yield hub
    hub.stop()


@pytest.mark.parametrize("transport", ["sse", "ws", "grpc"])
def test_publish_and_subscribe_over_https_with_a_private_ca(tls_hub, transport):
    topic = f"tls-{transport}"
    ca = ["--ca-certificate", str(tls_hub.cert)]
    status, _, err, _ = newsroom("publish", topic, "--url", tls_hub.https, *ca, stdin=ndjson(HELLO))
    assert status == 0 and "published 2 events" in err, err
    # gRPC too goes to the port of --url (no --grpc-port): the hub serves it there.
    running = Running("subscribe", topic, "--text", "--url", tls_hub.https, *ca, "--transport", transport)
    assert wait_until(lambda: running.stdout == "Hello, ", timeout=15), (running.stdout, running.stderr)
    status, _, err, _ = newsroom("publish", topic, "--url", tls_hub.https, *ca, stdin=ndjson(ANSWER[2:]))
    assert status == 0, err
    assert running.wait() == 0, running.stderr
    assert running.stdout == "Hello, world.\n"
    assert running.stderr == "[stop]\n"


def test_https_without_the_ca_fails_at_once_with_the_cause(tls_hub):
    status, _, err, seconds = newsroom("publish", "t", "--url", tls_hub.https, stdin=ndjson(HELLO))
    assert status != 0 and seconds < 5
    assert f"cannot reach {tls_hub.https}/v1/topics/t/events: TLS" in err, err
    # Not retried: the system's trust store will not start trusting the certificate.
    status, _, err, seconds = newsroom("subscribe", "t", "--url", tls_hub.https)
    assert status != 0 and seconds < 5 and "retry" not in err, err
    assert "certificate" in err.lower() or "TLS" in err, err


def test_ca_certificate_needs_a_readable_file_and_https(tls_hub, tmp_path):
    status, _, err, _ = newsroom("subscribe", "t", "--url", tls_hub.https, "--ca-certificate", str(tmp_path / "none.pem"))
    assert status != 0 and "--ca-certificate" in err
    status, _, err, _ = newsroom("subscribe", "t", "--url", tls_hub.url, "--ca-certificate", str(tls_hub.cert))
    assert status != 0 and "https://" in err


# --- the hub restarts under a subscriber ---------------------------------------------------------------


@pytest.mark.parametrize("transport", ["sse", "ws", "grpc"])
def test_subscribe_resumes_across_a_hub_restart_and_says_the_history_started_again(transport):
    from grpc_support import free_port

    args = ["serve", "--port", str(free_port())]
    hub = Hub(args)
    try:
        with httpx.Client() as client:
            assert publish(client, hub, "t1", HELLO).status_code == 202
            running = Running("subscribe", "t1", "--text", "--url", hub.url, "--transport", transport)
            assert wait_until(lambda: running.stdout == "Hello, ", timeout=15), running.stderr
            assert hub.stop() == 0  # SIGTERM: a graceful shutdown
            time.sleep(0.3)
            assert running.proc.poll() is None, running.stderr  # it did not exit after "Hello, "
            hub = Hub(args)  # a new hub on the same port, with an empty history
            # Once it is back (its resume point, seq 2, means nothing to the new hub), the answer is published again.
            assert wait_until(
                lambda: client.get(f"{hub.url}/v1/topics/t1").json().get("subscribers") == 1, timeout=20
            ), running.stderr
            assert publish(client, hub, "t1", ANSWER).status_code == 202
            assert running.wait() == 0, running.stderr
    finally:
        hub.stop()
    assert running.stdout == "Hello, \nHello, world.\n", running.stderr
    err = running.stderr
    assert "retry 1" in err and "resuming after seq 2" in err, err
    assert "the hub no longer has the events after seq 2" in err and "the answer starts again" in err, err
    assert err.endswith("[stop]\n"), err
