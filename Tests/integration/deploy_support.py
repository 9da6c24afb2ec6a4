"""Helpers for test_deploy.py: run the shipped nginx configuration (deploy/nginx) for real, as the
current user in a temporary prefix, in front of hub processes on loopback.

The rendered files are the shipped ones with only these changes, each of which must apply exactly
once (so the shipped files cannot drift away from what is tested without the test noticing):
- newsroom.conf: the two `server hub-N:8080` upstream lines → the test hubs' loopback addresses; the
  `listen 80;` port → a free loopback port;
- newsroom-tls.conf (when asked for): the `listen 443` port → a free loopback port; the certificate
  paths are the shipped relative ones (tls/ beside nginx.conf), filled with a self-signed pair;
- nginx.conf: the access log path, and the temporary-file paths (Debian's nginx has absolute ones
  under /var/lib/nginx compiled in);
- on the command line: `daemon off`, the pid file and an error log in the prefix (and `user root`
  when the tests run as root, so the workers can use the prefix).
- `overrides` (a test's own, named where used): replace one shipped directive's value.
"""

import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import time

import httpx
from httpx_sse import connect_sse

from conftest import ROOT

DEPLOY = ROOT / "deploy"
NGINX_DIR = DEPLOY / "nginx"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
UPSTREAM_LINE = re.compile(r"^(\s*server\s+)hub-(\d+):8080(\b.*)$", re.M)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def replace_once(text, old, new, what):
    count = text.count(old)
    assert count == 1, f"{what}: expected exactly one {old!r} in the shipped file, found {count}"
    return text.replace(old, new)


def render_newsroom_conf(upstreams, listen_port, overrides=None):
    """deploy/nginx/newsroom.conf with the test's upstreams [(host, port), …] and listen port."""
    text = (NGINX_DIR / "newsroom.conf").read_text()
    shipped = UPSTREAM_LINE.findall(text)
    assert [int(n) for _, n, _ in shipped] == list(range(1, len(upstreams) + 1)), (
        f"the shipped upstream lists {len(shipped)} hub-N:8080 servers, the test has {len(upstreams)}")
    addresses = iter(upstreams)

    def swap(match):
        host, port = next(addresses)
        return f"{match.group(1)}{host}:{port}{match.group(3)}"

    text = UPSTREAM_LINE.sub(swap, text)
    text = replace_once(text, "listen 80;", f"listen 127.0.0.1:{listen_port};", "newsroom.conf")
    return apply_overrides(text, overrides, "newsroom.conf")


def render_proxy_snippet(overrides=None):
    text = (NGINX_DIR / "snippets" / "newsroom-proxy.conf").read_text()
    return apply_overrides(text, overrides, "newsroom-proxy.conf")


def apply_overrides(text, overrides, what):
    for directive, value in (overrides or {}).items():
        pattern = re.compile(rf"^(\s*{re.escape(directive)}\s+)[^;]+;", re.M)
        if pattern.search(text) is None:
            continue
        text, count = pattern.subn(lambda m: f"{m.group(1)}{value};", text)
        assert count == 1, f"{what}: {directive} appears {count} times"
    return text


def render_main_conf(prefix):
    text = (NGINX_DIR / "nginx.conf").read_text()
    text = replace_once(text, "access_log /dev/stdout newsroom;", f"access_log {prefix}/access.log newsroom;",
                        "nginx.conf")
    temp_paths = "".join(
        f"    {name}_temp_path {prefix}/tmp/{name};\n"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return replace_once(text, "http {\n", "http {\n" + temp_paths, "nginx.conf")


def make_self_signed(tls_dir):
    tls_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(tls_dir / "newsroom.key"), "-out", str(tls_dir / "newsroom.crt")],
        check=True, capture_output=True, timeout=60,
    )


class Nginx:
    """nginx from the system, run in the foreground in `prefix` with the rendered deploy/nginx files."""

    def __init__(self, prefix, upstreams, tls=False, overrides=None):
        assert NGINX, "nginx is not installed"
        self.prefix = pathlib.Path(prefix)
        self.prefix.mkdir(parents=True, exist_ok=True)
        (self.prefix / "tmp").mkdir(exist_ok=True)
        (self.prefix / "conf.d").mkdir(exist_ok=True)
        (self.prefix / "snippets").mkdir(exist_ok=True)
        self.port = free_port()
        (self.prefix / "nginx.conf").write_text(render_main_conf(self.prefix))
        (self.prefix / "conf.d" / "newsroom.conf").write_text(
            render_newsroom_conf(upstreams, self.port, overrides))
        (self.prefix / "snippets" / "newsroom-proxy.conf").write_text(render_proxy_snippet(overrides))
        self.tls_port = None
        if tls:
            self.tls_port = free_port()
            make_self_signed(self.prefix / "tls")
            text = (NGINX_DIR / "newsroom-tls.conf").read_text()
            text = replace_once(text, "listen 443 ssl http2;", f"listen 127.0.0.1:{self.tls_port} ssl http2;",
                                "newsroom-tls.conf")
            (self.prefix / "conf.d" / "newsroom-tls.conf").write_text(apply_overrides(text, overrides, "tls"))
        rendered = "".join(path.read_text() for path in self.prefix.rglob("*.conf"))
        for directive, value in (overrides or {}).items():
            assert f"{directive} {value};" in rendered, f"override {directive} matched no shipped directive"
        self.url = f"http://127.0.0.1:{self.port}"
        self.tls_url = f"https://127.0.0.1:{self.tls_port}" if tls else None
        self.proc = None

    def command(self, *extra):
        globals_ = f"daemon off; pid {self.prefix}/nginx.pid; error_log {self.prefix}/error.log info;"
        if os.geteuid() == 0:
            globals_ += " user root;"
        return [NGINX, "-p", f"{self.prefix}/", "-c", str(self.prefix / "nginx.conf"), "-g", globals_, *extra]

    def check(self):
        """`nginx -t` on the rendered files: (ok, output)."""
        result = subprocess.run(self.command("-t"), capture_output=True, text=True, timeout=30)
        return result.returncode == 0, result.stdout + result.stderr

    def start(self, timeout=10.0):
        ok, output = self.check()
        assert ok, output
        self.log = open(self.prefix / "nginx.out", "w")
        self.proc = subprocess.Popen(self.command(), stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.error_log()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not start listening: " + self.error_log())

    def error_log(self):
        out = []
        for name in ("nginx.out", "error.log"):
            path = self.prefix / name
            if path.exists():
                out.append(path.read_text()[-4000:])
        return "\n".join(out)

    def access_log(self):
        path = self.prefix / "access.log"
        return path.read_text() if path.exists() else ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: fast shutdown of master and workers
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()


class StreamReader:
    """One SSE subscription read in a thread (httpx + httpx-sse, clients the project did not write);
    every event is kept with its arrival time (time.monotonic())."""

    def __init__(self, url, headers=None, http2=False, verify=True, timeout=30.0):
        import queue
        import threading

        self.events = queue.Queue()
        self.response_headers = None
        self.http_version = None
        self.status = None
        self.ended = threading.Event()
        self.error = None
        self.opened = threading.Event()
        self._client = httpx.Client(http2=http2, verify=verify, timeout=httpx.Timeout(timeout, connect=5.0))
        self._thread = threading.Thread(target=self._run, args=(url, headers or {}), daemon=True)
        self._thread.start()
        assert self.opened.wait(10), f"no response from {url}: {self.error}"

    def _run(self, url, headers):
        try:
            with connect_sse(self._client, "GET", url, headers=headers) as source:
                self.status = source.response.status_code
                self.response_headers = source.response.headers
                self.http_version = source.response.http_version
                self.opened.set()
                for sse in source.iter_sse():
                    if not sse.data:  # the stream's opening `retry:` block
                        continue
                    self.events.put((time.monotonic(), sse.id, json.loads(sse.data)))
        except Exception as error:  # noqa: BLE001 - kept for the test's message
            self.error = error
        finally:
            self.opened.set()
            self.ended.set()

    def next(self, timeout=5.0, skip_heartbeats=True):
        """(arrival time, id, event) of the next event, skipping heartbeats unless asked."""
        import queue

        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                item = self.events.get(timeout=max(0.0, remaining))
            except queue.Empty:
                raise AssertionError(f"no event within {timeout} s (ended={self.ended.is_set()}, {self.error})")
            if skip_heartbeats and item[2].get("type") == "heartbeat":
                continue
            return item

    def close(self):
        self._client.close()
        self._thread.join(timeout=5)


def topic_subscribers(hub, topic):
    """Subscribers of `topic` on one hub, read directly from that hub (0 if the topic is unknown)."""
    response = httpx.get(f"{hub.url}/v1/topics/{topic}", timeout=5)
    if response.status_code == 404:
        return 0
    response.raise_for_status()
    return response.json()["subscribers"]


def node_holding(hubs, topic, expected=1, timeout=5.0):
    """The hub that holds the (single) subscriber of `topic`, found by asking each hub directly."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = [topic_subscribers(hub, topic) for hub in hubs]
        if sum(counts) >= expected:
            return hubs[max(range(len(hubs)), key=lambda i: counts[i])]
        time.sleep(0.02)
    raise AssertionError(f"no hub holds a subscriber of {topic}")


def established_connections_to(ports):
    """Established TCP connections whose remote end is one of `ports` on loopback (from /proc/net/tcp)."""
    count = 0
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = pathlib.Path(path).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if fields[3] == "01" and remote_port in ports:
                count += 1
    return count
