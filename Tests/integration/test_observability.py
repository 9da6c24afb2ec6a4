"""Metrics parsed with prometheus_client's real text parser, traces received by a test OTLP/HTTP receiver,
JSON logs parsed line by line."""

import http.server
import json
import socket
import subprocess
import threading
import time

import httpx
import pytest
from httpx_sse import connect_sse
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from prometheus_client.parser import text_string_to_metric_families

from conftest import BINARY, Hub, publish, wait_until, wait_subscribers


def scrape(hub):
    text = httpx.get(f"{hub.url}/metrics").text
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            samples[key] = sample.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(scope="module")
def replay():
    proc = subprocess.Popen([str(BINARY), "replay-upstream", "--port", "0", "--event-delay-ms", "20"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip().split("listening on ")[1]
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def test_metrics_move_as_a_scripted_scenario_says(replay):
    hub = Hub(["serve", "--port", "0", "--heartbeat-interval", "0.2", "--queue-max-events", "8"], env={
        "NEWSROOM_PROVIDER_OPENAI_BASE_URL": replay, "NEWSROOM_HTTP_SEND_BUFFER_BYTES": "4096"})
    try:
        before = scrape(hub)
        with httpx.Client(timeout=30) as client:
            # publish + subscribe
            publish(client, hub, "m", [{"type": "text_delta", "text": f"{i}"} for i in range(10)])
            with connect_sse(client, "GET", f"{hub.url}/v1/topics/m/events") as source:
                it = source.iter_sse()
                next(it)
                mid = scrape(hub)
                assert value(mid, "newsroom_subscriptions", transport="sse") == 1
                assert value(mid, "newsroom_connections", transport="http1") >= 1
                publish(client, hub, "m", [{"type": "text_delta", "text": "live"}])
                while True:  # wait for the live event, then a heartbeat
                    sse = next(it)
                    if sse.event == "heartbeat":
                        break
            # resume
            with connect_sse(client, "GET", f"{hub.url}/v1/topics/m/events", headers={"Last-Event-ID": "5"}) as source:
                next(iter(source.iter_sse()))
            # a slow consumer under disconnect
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", hub.port))
            sock.sendall(b"GET /v1/topics/slow/events?policy=disconnect HTTP/1.1\r\nHost: x\r\n\r\n")
            wait_subscribers(hub, "slow")
            for i in range(0, 2000, 100):
                publish(client, hub, "slow", [{"type": "text_delta", "text": "z" * 300} for _ in range(100)])
            sock.close()
            # a cancelled generation and an upstream error
            r = client.post(f"{hub.url}/v1/generations", json={"provider": "openai", "request": {
                "model": "m", "messages": [], "replay_behavior": "delay=300"}})
            time.sleep(0.5)
            client.delete(f"{hub.url}/v1/generations/{r.json()['generation']}")
            r = client.post(f"{hub.url}/v1/generations", json={"provider": "openai", "request": {
                "model": "m", "messages": [], "replay_transcript": "openai/midstream_error"}})
            assert wait_until(lambda: client.get(f"{hub.url}/v1/generations/{r.json()['generation']}").json()["state"] != "running")
            # bad input
            client.post(f"{hub.url}/v1/topics/m/events", content=b"{bad")
        after = scrape(hub)
        d = lambda name, **labels: value(after, name, **labels) - value(before, name, **labels)
        assert d("newsroom_events_published_total", type="text_delta") >= 11 + 2000
        assert d("newsroom_deliveries_total", transport="sse") >= 2
        assert d("newsroom_delivered_bytes_total", transport="sse") > 0
        assert d("newsroom_heartbeats_total") >= 1
        assert d("newsroom_resumes_total", outcome="full") == 1
        assert d("newsroom_slow_consumer_disconnects_total", transport="sse") == 1
        assert d("newsroom_delivery_lag_seconds_count") >= 1
        assert d("newsroom_generations_total", provider="openai", outcome="cancelled") == 1
        assert d("newsroom_generations_total", provider="openai", outcome="failed") == 1
        assert d("newsroom_errors_total", code="upstream_unavailable") + d("newsroom_errors_total", code="overloaded") + \
            sum(v for (n, l), v in after.items() if n == "newsroom_errors_total") >= 1
        assert d("newsroom_upstream_ttft_seconds_count", provider="openai") >= 1
        assert d("newsroom_http_requests_total", route="/v1/topics/{topic}/events", status="202") >= 20
        assert d("newsroom_http_requests_total", route="/v1/topics/{topic}/events", status="400") == 1
        assert d("newsroom_http_requests_total", route="/v1/generations", status="201") == 2
        assert value(after, "newsroom_topics", state="streaming") >= 2
        assert value(after, "newsroom_generations_running") == 0
        assert value(after, "newsroom_subscriptions", transport="sse") == 0
        # low-cardinality labels only: no topic or generation id appears anywhere
        for name, labels in after:
            for _, label_value in labels:
                assert label_value not in ("m", "slow") and not label_value.startswith("gen_")
    finally:
        hub.stop()


class OTLPReceiver(http.server.BaseHTTPRequestHandler):
    spans = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        request = trace_service_pb2.ExportTraceServiceRequest()
        request.ParseFromString(body)
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                for span in scope.spans:
                    OTLPReceiver.spans.append(span)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.end_headers()
        self.wfile.write(trace_service_pb2.ExportTraceServiceResponse().SerializeToString())

    def log_message(self, *args):
        pass


def test_a_generation_trace_runs_from_the_callers_traceparent_to_the_upstream_request(replay):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), OTLPReceiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    OTLPReceiver.spans.clear()
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    traceparent = f"00-{trace_id}-00f067aa0ba902b7-01"
    hub = Hub(["serve", "--port", "0"], env={
        "NEWSROOM_PROVIDER_OPENAI_BASE_URL": replay,
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{server.server_port}",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_SERVICE_NAME": "newsroom-test",
    })
    try:
        with httpx.Client(timeout=30) as client:
            r = client.post(f"{hub.url}/v1/generations", headers={"traceparent": traceparent},
                            json={"provider": "openai", "topic": "traced", "request": {"model": "m", "messages": []}})
            assert r.status_code == 201
            with connect_sse(client, "GET", f"{hub.url}/v1/topics/traced/events") as source:
                [s for s in source.iter_sse()]
            seen = client.get(f"{replay}/__replay/requests").json()
        upstream = [q for q in seen if q["headers"].get("traceparent", "").split("-")[1:2] == [trace_id]]
        assert upstream, "the upstream request should carry the caller's trace id"
        assert wait_until(lambda: {"POST", "newsroom.generation"} <= {s.name for s in OTLPReceiver.spans}, timeout=10)
        ids = {s.trace_id.hex() for s in OTLPReceiver.spans}
        assert trace_id in ids
        names = {s.name for s in OTLPReceiver.spans if s.trace_id.hex() == trace_id}
        assert {"POST /v1/generations", "newsroom.generation", "POST"} <= names, names
        # the upstream request's parent span id is the exported client span's id
        client_span = next(s for s in OTLPReceiver.spans if s.name == "POST" and s.trace_id.hex() == trace_id)
        assert upstream[-1]["headers"]["traceparent"].split("-")[2] == client_span.span_id.hex()
    finally:
        hub.stop()
        server.shutdown()


def test_grpc_calls_are_server_spans_that_continue_the_callers_trace(replay):
    """traceparent in gRPC metadata: a server span per call (OTel RPC attributes), and StartGeneration's
    generation and upstream request in the same trace."""
    grpc = pytest.importorskip("grpc", reason="grpcio is not installed")
    from grpc_support import GRPCHub, generate_stubs

    stubs = generate_stubs()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), OTLPReceiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    OTLPReceiver.spans.clear()
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    metadata = (("traceparent", f"00-{trace_id}-b7ad6b7169203331-01"),)
    hub = GRPCHub(env={
        "NEWSROOM_PROVIDER_OPENAI_BASE_URL": replay,
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{server.server_port}",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_SERVICE_NAME": "newsroom-test",
    })
    try:
        pb = stubs.pb
        with grpc.insecure_channel(hub.grpc_target) as channel:
            stub = stubs.rpc.NewsroomStub(channel)
            started = stub.StartGeneration(pb.GenerationRequest(
                provider="openai", topic="grpc-traced", request='{"model": "m", "messages": []}'),
                timeout=10, metadata=metadata)
            assert started.topic == "grpc-traced"
            events = list(stub.Subscribe(pb.SubscribeRequest(topic="grpc-traced"), timeout=30, metadata=metadata))
            assert events[-1].WhichOneof("payload") == "stream_complete"
        seen = httpx.get(f"{replay}/__replay/requests").json()
        assert [q for q in seen if q["headers"].get("traceparent", "").split("-")[1:2] == [trace_id]]

        def traced():
            return {s.name for s in OTLPReceiver.spans if s.trace_id.hex() == trace_id}
        wanted = {"newsroom.v1.Newsroom/StartGeneration", "newsroom.v1.Newsroom/Subscribe", "newsroom.generation", "POST"}
        assert wait_until(lambda: wanted <= traced(), timeout=10), traced()
        rpc = next(s for s in OTLPReceiver.spans if s.name == "newsroom.v1.Newsroom/StartGeneration")
        attributes = {a.key: a.value for a in rpc.attributes}
        assert attributes["rpc.system"].string_value == "grpc"
        assert attributes["rpc.service"].string_value == "newsroom.v1.Newsroom"
        assert attributes["rpc.method"].string_value == "StartGeneration"
        assert rpc.kind == rpc.SPAN_KIND_SERVER
        assert rpc.parent_span_id.hex() == "b7ad6b7169203331"
    finally:
        hub.stop()
        server.shutdown()


def test_with_no_collector_the_hub_neither_blocks_nor_floods_its_log():
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there
    hub = Hub(["serve", "--port", "0"], env={
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_BSP_SCHEDULE_DELAY": "100"})
    try:
        with httpx.Client(timeout=5) as client:
            start = time.monotonic()
            for i in range(200):
                assert publish(client, hub, "nocollector", [{"type": "text_delta", "text": "x"}]).status_code == 202
            assert time.monotonic() - start < 20
        time.sleep(1.5)
    finally:
        hub.stop()
    lines = hub.log_text().splitlines()
    assert len(lines) < 60, len(lines)


def test_json_logs_parse_line_by_line_and_carry_connection_lines():
    hub = Hub(["serve", "--port", "0", "--log-format", "json", "--log-level", "debug"])
    with httpx.Client() as client:
        publish(client, hub, "logs", [{"type": "text_delta", "text": "x"}, {"type": "stream_complete", "finish_reason": "stop"}])
        with connect_sse(client, "GET", f"{hub.url}/v1/topics/logs/events") as source:
            [s for s in source.iter_sse()]
    hub.stop()
    records = [json.loads(line) for line in hub.log_text().splitlines()]
    assert all({"ts", "level", "msg"} <= r.keys() for r in records)
    messages = {r["msg"] for r in records}
    assert {"connection opened", "connection closed", "subscription started", "subscription ended"} <= messages
    closed = [r for r in records if r["msg"] == "connection closed"]
    assert any(int(r["newsroom.events_delivered"]) == 2 for r in closed)


def test_log_lines_carry_the_callers_trace_id_without_an_exporter(replay):
    """No OTLP endpoint configured: spans are not exported, but the log lines of a request that came
    with a `traceparent` (here `generation started`) still carry its trace id, for correlation."""
    trace_id = "5bf92f3577b34da6a3ce929d0e0e4737"
    hub = Hub(["serve", "--port", "0", "--log-format", "json"], env={
        "NEWSROOM_PROVIDER_OPENAI_BASE_URL": replay, "NEWSROOM_LOG_LEVEL": "info"})
    try:
        with httpx.Client(timeout=30) as client:
            r = client.post(f"{hub.url}/v1/generations", headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"},
                            json={"provider": "openai", "topic": "logged", "request": {"model": "m", "messages": []}})
            assert r.status_code == 201
            with connect_sse(client, "GET", f"{hub.url}/v1/topics/logged/events") as source:
                [s for s in source.iter_sse()]
    finally:
        hub.stop()
    lines = [json.loads(line) for line in hub.log_text().splitlines() if line.startswith("{")]
    started = [line for line in lines if line.get("msg") == "generation started"]
    assert started, [line.get("msg") for line in lines]
    assert started[0].get("trace_id") == trace_id, started[0]
