"""Shared pieces of scripts/soak and scripts/chaos: the processes they run (hubs, Redis, load testers), a
network namespace with faults on its loopback, and the answer driver that checks each answer's exact text.

Everything listens on loopback (127.0.0.1); scripts/chaos runs itself inside a network namespace it creates
(root and `ip netns`) so that its network faults touch nothing else. Every process is bounded in time and
stopped on exit.
"""

import asyncio
import json
import os
import pathlib
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def binary(explicit=None):
    """The hub binary: --binary, NEWSROOM_BINARY, else the release build if there is one, else the debug build."""
    if explicit:
        return pathlib.Path(explicit)
    if os.environ.get("NEWSROOM_BINARY"):
        return pathlib.Path(os.environ["NEWSROOM_BINARY"])
    release = ROOT / ".build" / "release" / "newsroom"
    return release if release.exists() else ROOT / ".build" / "debug" / "newsroom"


def rss_bytes(pid):
    """Resident memory of a process from /proc (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu_seconds(pid):
    """(user, system) CPU seconds of a process from /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return int(fields[11]) / ticks, int(fields[12]) / ticks
    except OSError:
        return 0.0, 0.0


NAMESPACE_VARIABLE = "CHAOS_NETNS"  # not NEWSROOM_…: the hub refuses unknown NEWSROOM_ variables


def run_in_own_namespace(script, argv):
    """Runs `script argv` again inside a network namespace of its own and returns its exit code, so that
    faults on that namespace's loopback touch nothing else on the machine; None when that is not possible
    (not root, no `ip`) or when already inside one — then the caller goes on, on the loopback it has."""
    if os.environ.get(NAMESPACE_VARIABLE) or os.geteuid() != 0 or shutil.which("ip") is None:
        return None
    name = f"newsroom-chaos-{os.getpid()}"
    if subprocess.run(["ip", "netns", "add", name], capture_output=True).returncode != 0:
        return None
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        env = dict(os.environ, **{NAMESPACE_VARIABLE: name})
        return subprocess.run(["ip", "netns", "exec", name, sys.executable, str(script), *argv], env=env).returncode
    finally:
        subprocess.run(["ip", "netns", "delete", name], capture_output=True)


class Network:
    """Delay and loss on the loopback of the namespace this process runs in (only inside our own one)."""

    def __init__(self):
        self.name = os.environ.get(NAMESPACE_VARIABLE)
        self.tool = None
        if not self.name:
            return
        # tc netem is the tool of choice (delay and loss); kernels without sch_netem (this machine's) get
        # packet loss from iptables' statistic match, whose TCP retransmissions bring the delay.
        if self._run("tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "0ms") == 0:
            self._run("tc", "qdisc", "del", "dev", "lo", "root")
            self.tool = "netem"
        elif shutil.which("iptables") and self._run("iptables", "-L", "INPUT") == 0:
            self.tool = "iptables"

    @staticmethod
    def _run(*command):
        return subprocess.run(list(command), capture_output=True).returncode

    def degrade(self, delay_ms, loss_percent):
        """Delay and loss on the loopback; returns a description of what was applied (None: nothing)."""
        if self.tool == "netem":
            self._run("tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", f"{delay_ms}ms",
                      "loss", f"{loss_percent}%")
            return f"netem delay {delay_ms} ms, loss {loss_percent} %"
        if self.tool == "iptables":
            self._run("iptables", "-A", "INPUT", "-p", "tcp", "-m", "statistic", "--mode", "random",
                      "--probability", str(loss_percent / 100), "-j", "DROP")
            return f"iptables loss {loss_percent} % (no sch_netem in this kernel: delay from retransmissions)"
        return None

    def restore(self):
        if self.tool == "netem":
            self._run("tc", "qdisc", "del", "dev", "lo", "root")
        elif self.tool == "iptables":
            self._run("iptables", "-F", "INPUT")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Processes:
    """The run's processes: logged to the work directory, all stopped on exit."""

    def __init__(self, workdir):
        self.workdir = pathlib.Path(workdir)
        self.procs = []

    def popen(self, name, command, **kwargs):
        log = open(self.workdir / f"{name}.log", "a")
        proc = subprocess.Popen(command, stdout=kwargs.pop("stdout", log), stderr=log,
                                **kwargs)
        self.procs.append(proc)
        return proc

    def stop(self):
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class Redis:
    """redis-server with an append-only file, so a restart keeps the topics' histories (as a deployment would);
    `append_only=False` for a measurement that wants Redis without persistence."""

    def __init__(self, processes, append_only=True):
        self.processes = processes
        self.append_only = append_only
        self.port = free_port()
        self.proc = None
        self.start()

    def cli(self, *args, timeout=10):
        return subprocess.run(["redis-cli", "-p", str(self.port), *args],
                              capture_output=True, text=True, timeout=timeout)

    def start(self):
        self.proc = self.processes.popen("redis", [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "yes" if self.append_only else "no", "--appendfsync", "everysec",
            "--dir", str(self.processes.workdir)])
        deadline = time.monotonic() + 15
        while self.cli("PING").stdout.strip() != "PONG":
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit("redis-server did not start (see redis.log)")
            time.sleep(0.05)

    def restart(self, down_seconds):
        """SHUTDOWN (the append-only file is flushed), `down_seconds` without Redis, then start again."""
        self.cli("SHUTDOWN")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        time.sleep(down_seconds)
        self.start()


class Hub:
    """One `newsroom serve` process on a fixed port, so that it can be killed and started again in its place."""

    def __init__(self, processes, name, path, args):
        self.processes = processes
        self.name = name
        self.path = path
        self.args = args
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self.start()

    def start(self):
        self.proc = self.processes.popen(f"hub-{self.name}", [str(self.path), "serve", "--port", str(self.port),
                                                              *self.args], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            raise SystemExit(f"hub {self.name} did not start: {line!r} (see hub-{self.name}.log)")
        # Keep reading stdout so the hub never blocks on a full pipe.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    @property
    def pid(self):
        return self.proc.pid

    def kill_and_restart(self, down_seconds):
        """SIGKILL (no drain, no notice: a crash), `down_seconds` of nothing listening, then a new process."""
        self.proc.kill()
        self.proc.wait()
        time.sleep(down_seconds)
        self.start()


def loadtest_command(path, url, transport, clients, topics, rate, duration, extra=()):
    return [str(path), "loadtest", "--url", url, "--transport", transport, "--clients", str(clients),
            "--topics", str(topics), "--rate", str(rate), "--duration", str(duration), "--drain", "5",
            "--ramp", "1000", "--json", "--quiet", "--timeout", str(int(duration + clients / 1000 + 90)), *extra]


async def run_loadtest(processes, name, command):
    """Runs one load tester; returns its JSON result (or an `error` entry)."""
    proc = await asyncio.create_subprocess_exec(*command, stdout=subprocess.PIPE,
                                                stderr=open(processes.workdir / f"{name}.log", "a"))
    try:
        out, _ = await proc.communicate()
    except BaseException:
        # Interrupted (Ctrl-C cancels the run's tasks): the load tester must not outlive the run.
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    try:
        return json.loads(out.decode().strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"error": f"load tester {name} exited {proc.returncode} without a result (see {name}.log)"}


class AnswerDriver:
    """Answers starting and ending continuously, each checked for exact text by viewers that resume.

    Each answer is a fresh topic: `stream_start`, `tokens` text deltas one per `token_interval`, then
    `stream_complete`, published one event per request (as a provider's reporter does). Three viewers read
    each answer — SSE from the start, WebSocket from the start, and SSE joining after the end (a late
    joiner) — each resuming after a cut (Last-Event-ID / `?after=`) until `stream_complete`; each one's
    text must equal the published text. Publishes that the hub refuses (503 while Redis restarts, a node
    being down) are retried: nothing is counted as sent until the hub accepted it.
    """

    TOKENS = 30
    # stream_start, the tokens, stream_complete.
    EVENTS_PER_ANSWER = TOKENS + 2

    def __init__(self, publish_url, view_urls, concurrency=4, tokens=TOKENS, token_interval=0.1, prefix="answer"):
        self.publish_url = publish_url
        self.view_urls = view_urls
        self.concurrency = concurrency
        self.tokens = tokens
        self.token_interval = token_interval
        self.prefix = f"{prefix}-{random.randrange(16**6):06x}"
        self.started = 0
        self.exact = 0
        self.wrong = []
        self.resumes = 0
        self.publish_retries = 0
        self.running = True

    def snapshot(self):
        return {"answers": self.exact + len(self.wrong), "exact": self.exact, "wrong": len(self.wrong),
                "viewer_resumes": self.resumes, "publish_retries": self.publish_retries}

    async def run(self, until):
        import httpx
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0), limits=httpx.Limits(max_connections=64)) as http:
            workers = [asyncio.create_task(self._worker(http, until)) for _ in range(self.concurrency)]
            await asyncio.gather(*workers)

    async def _worker(self, http, until):
        while time.monotonic() < until and self.running:
            self.started += 1
            await self._answer(http, f"{self.prefix}-{self.started}")

    async def _publish(self, http, topic, event):
        url = f"{self.publish_url}/v1/topics/{topic}/events"
        deadline = time.monotonic() + 60
        while True:
            try:
                response = await http.post(url, json=event)
                if response.status_code == 202:
                    return
                if response.status_code not in (429, 503):
                    raise RuntimeError(f"publish answered {response.status_code}: {response.text[:200]}")
            except httpx_transport_errors():
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("publish refused for 60 s")
            self.publish_retries += 1
            await asyncio.sleep(0.2)

    async def _answer(self, http, topic):
        view = random.choice(self.view_urls)
        viewers = [asyncio.create_task(self._read_sse(http, view, topic)),
                   asyncio.create_task(self._read_ws(random.choice(self.view_urls), topic))]
        words = [f" {random.choice(WORDS)}{i}" for i in range(self.tokens)]
        try:
            await self._publish(http, topic, {"type": "stream_start", "provider": "soak", "model": "m"})
            for word in words:
                await self._publish(http, topic, {"type": "text_delta", "text": word})
                await asyncio.sleep(self.token_interval)
            await self._publish(http, topic, {"type": "stream_complete", "finish_reason": "stop"})
            viewers.append(asyncio.create_task(self._read_sse(http, random.choice(self.view_urls), topic)))
            texts = await asyncio.wait_for(asyncio.gather(*viewers), timeout=90)
        except Exception as error:  # a viewer or publish that gave up: the answer counts as wrong
            for viewer in viewers:
                viewer.cancel()
            self.wrong.append({"topic": topic, "error": f"{type(error).__name__}: {error}"[:300]})
            return
        expected = "".join(words)
        bad = [text for text in texts if text != expected]
        if bad:
            self.wrong.append({"topic": topic, "expected": expected, "got": bad})
        else:
            self.exact += 1

    async def _read_sse(self, http, base, topic):
        text, last = [], None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            headers = {"accept": "text/event-stream"}
            if last is not None:
                headers["last-event-id"] = str(last)
            try:
                async with http.stream("GET", f"{base}/v1/topics/{topic}/events", headers=headers,
                                       timeout=httpx_stream_timeout()) as response:
                    if response.status_code == 503:
                        # broker_unavailable while Redis restarts (or a node draining): retry, as clients do.
                        raise RetryableNotice(f"http_{response.status_code}")
                    if response.status_code != 200:
                        raise RuntimeError(f"SSE answered {response.status_code}")
                    async for line in response.aiter_lines():
                        if not line.startswith("data: "):
                            continue
                        event = json.loads(line[6:])
                        if self._apply(event, text):
                            return "".join(text)
                        if "seq" in event:
                            last = event["seq"]
            except (RetryableNotice, *httpx_transport_errors()):
                pass
            self.resumes += 1
            await asyncio.sleep(0.3)
        raise RuntimeError("SSE viewer did not see stream_complete within 90 s")

    async def _read_ws(self, base, topic):
        import websockets
        text, last = [], None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            url = base.replace("http://", "ws://") + f"/v1/topics/{topic}/ws"
            if last is not None:
                url += f"?after={last}"
            try:
                async with websockets.connect(url, open_timeout=10, max_size=None) as ws:
                    async for message in ws:
                        event = json.loads(message)
                        if self._apply(event, text):
                            return "".join(text)
                        if "seq" in event:
                            last = event["seq"]
            except (RetryableNotice, OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException):
                pass
            self.resumes += 1
            await asyncio.sleep(0.3)
        raise RuntimeError("WebSocket viewer did not see stream_complete within 90 s")

    @staticmethod
    def _apply(event, text):
        """Adds a delta's text; True at the end. A notice that asks for a resume raises RetryableNotice."""
        kind = event.get("type")
        if kind == "text_delta":
            text.append(event["text"])
        elif kind == "stream_complete":
            return True
        elif kind == "error":
            if event.get("retryable") or event.get("code") in ("server_shutdown", "slow_consumer"):
                raise RetryableNotice(event.get("code"))
            raise RuntimeError(f"error event {event.get('code')}: {event.get('message')}")
        elif kind == "gap":
            raise RuntimeError(f"gap {event}")
        return False


class RetryableNotice(Exception):
    pass


def httpx_transport_errors():
    import httpx
    return (httpx.TransportError, OSError)


def httpx_stream_timeout():
    import httpx
    # Heartbeats arrive at least every 15 s; a read silent for 30 s is a dead connection.
    return httpx.Timeout(10.0, read=30.0)


WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo",
         "lima", "mike", "november", "oscar", "papa", "québec", "romeo", "sierra", "tango", "ünïcode", "😀"]


def percent(part, whole):
    return 0.0 if whole == 0 else 100.0 * part / whole
