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

import os
import pathlib
import re
import shutil
import socket
import subprocess
import time

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
