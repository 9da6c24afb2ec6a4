"""gRPC-Web on the hub's one port, as browsers' clients speak it: the stock Python gRPC-Web client
`sonora` (application/grpc-web+proto over HTTP/1.1; its asyncio client, on aiohttp, for streaming as it
arrives: its urllib3 client reads 16 KiB at a time) for unary calls and Subscribe, and raw curl requests
in application/grpc-web-text (base64) over HTTP/1.1 and HTTP/2, decoded here frame by frame; CORS for
browser origins; and the errors a client gets.

No gRPC-Web client for browsers is packaged in Debian or on PyPI (grpc-web and @improbable-eng/grpc-web
are npm packages), so there is no headless-Chromium test: the wire format is checked with sonora and curl."""

import asyncio
import base64
import json
import struct
import subprocess
import threading
import time

import httpx
import pytest

pytest.importorskip("grpc_tools", reason="grpcio-tools is not installed")
sonora_client = pytest.importorskip("sonora.client", reason="sonora is not installed (see Tests/integration/requirements-nodeps.txt)")

from conftest import Hub, publish, wait_until  # noqa: E402
from grpc_support import generate_stubs  # noqa: E402

ANSWER = [
    {"type": "stream_start", "provider": "test"},
    {"type": "text_delta", "text": "Hello, "},
    {"type": "text_delta", "text": "world."},
    {"type": "stream_complete", "finish_reason": "stop"},
]


@pytest.fixture(scope="module")
def stubs():
    return generate_stubs()


class WebChannel:
    """sonora's channel with the keyword arguments today's generated stubs pass (`_registered_method`),
    which sonora 0.2 does not take. Client streaming is not part of gRPC-Web."""

    def __init__(self, url, channel=None):
        self.channel = channel or sonora_client.insecure_web_channel(url)

    def unary_unary(self, path, request_serializer=None, response_deserializer=None, **_):
        return self.channel.unary_unary(path, request_serializer, response_deserializer)

    def unary_stream(self, path, request_serializer=None, response_deserializer=None, **_):
        return self.channel.unary_stream(path, request_serializer, response_deserializer)

    def stream_unary(self, *_, **__):
        return None

    def stream_stream(self, *_, **__):
        return None


def subscribers(hub, topic):
    r = httpx.get(f"{hub.url}/v1/topics/{topic}")
    return r.json()["subscribers"] if r.status_code == 200 else 0


def test_sonora_unary_calls_and_their_errors(stubs, hub):
    channel = WebChannel(hub.url)
    health = stubs.health_rpc.HealthStub(channel)
    assert health.Check(stubs.health_pb.HealthCheckRequest(), timeout=5).status == \
        stubs.health_pb.HealthCheckResponse.SERVING
    stub = stubs.rpc.NewsroomStub(channel)
    with httpx.Client() as client:
        publish(client, hub, "web-unary", ANSWER[:2])
    topic = stub.GetTopic(stubs.pb.GetTopicRequest(topic="web-unary"), timeout=5)
    assert (topic.name, topic.last_seq) == ("web-unary", 2)
    assert "web-unary" in [t.name for t in stub.ListTopics(stubs.pb.ListTopicsRequest(), timeout=5).topics]
    with pytest.raises(Exception) as missing:
        stub.GetTopic(stubs.pb.GetTopicRequest(topic="nope"), timeout=5)
    assert missing.value.code().name == "NOT_FOUND"
    assert "nope" in missing.value.details()
    with pytest.raises(Exception) as bad:
        stub.GetTopic(stubs.pb.GetTopicRequest(topic="bad topic!"), timeout=5)
    assert bad.value.code().name == "INVALID_ARGUMENT"


def test_sonora_subscribe_streams_incrementally_then_ends_ok(stubs, hub):
    """The replay arrives, then each live event as it is published (not buffered until the end), then
    the topic's end is status OK."""
    import sonora.aio

    with httpx.Client() as client:
        publish(client, hub, "web-live", ANSWER[:2])
    received = []

    def read():
        async def subscribe():
            async with sonora.aio.insecure_web_channel(hub.url) as channel:
                stub = stubs.rpc.NewsroomStub(WebChannel(hub.url, channel))
                async for event in stub.Subscribe(stubs.pb.SubscribeRequest(topic="web-live"), timeout=30):
                    received.append(event)
        asyncio.run(subscribe())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert wait_until(lambda: len(received) == 2, timeout=10), received
    # The first events were delivered while the topic is still open: the stream is not buffered.
    assert subscribers(hub, "web-live") == 1
    with httpx.Client() as client:
        publish(client, hub, "web-live", [ANSWER[2]])
        assert wait_until(lambda: len(received) == 3, timeout=10)
        publish(client, hub, "web-live", [ANSWER[3]])
    reader.join(timeout=10)
    assert not reader.is_alive()
    assert [e.seq for e in received] == [1, 2, 3, 4]
    assert "".join(e.text_delta.text for e in received) == "Hello, world."
    assert received[-1].WhichOneof("payload") == "stream_complete"
    # Resume: only what came after (sonora's urllib3 client).
    stub = stubs.rpc.NewsroomStub(WebChannel(hub.url))
    later = list(stub.Subscribe(stubs.pb.SubscribeRequest(topic="web-live", after=2), timeout=10))
    assert [e.seq for e in later] == [3, 4]


def test_sonora_with_tokens(stubs, start_hub):
    jwt = pytest.importorskip("jwt", reason="PyJWT is not installed")
    secret = "a-grpc-web-test-secret-of-enough-length"
    hub = start_hub("--auth-hs256-secret", secret)
    stub = stubs.rpc.NewsroomStub(WebChannel(hub.url))
    request = stubs.pb.SubscribeRequest(topic="web-auth")
    with pytest.raises(Exception) as missing:
        list(stub.Subscribe(request, timeout=5))
    assert missing.value.code().name == "UNAUTHENTICATED"
    viewer = jwt.encode({"sub": "v", "exp": int(time.time()) + 600, "subscribe": ["web-auth"]}, secret, algorithm="HS256")
    with pytest.raises(Exception) as denied:
        stub.ListTopics(stubs.pb.ListTopicsRequest(), timeout=5, metadata=[("authorization", f"Bearer {viewer}")])
    assert denied.value.code().name == "PERMISSION_DENIED"
    admin = jwt.encode({"sub": "a", "exp": int(time.time()) + 600, "admin": True}, secret, algorithm="HS256")
    with httpx.Client() as client:
        r = client.post(f"{hub.url}/v1/topics/web-auth/events", headers={"authorization": f"Bearer {admin}",
                        "content-type": "application/x-ndjson"}, content="\n".join(json.dumps(e) for e in ANSWER))
        assert r.status_code == 202, r.text
    events = list(stub.Subscribe(request, timeout=10, metadata=[("authorization", f"Bearer {viewer}")]))
    assert "".join(e.text_delta.text for e in events) == "Hello, world."


# --- gRPC-Web text with curl ----------------------------------------------------------------------

def text_request(message_bytes):
    return base64.b64encode(struct.pack(">BI", 0, len(message_bytes)) + message_bytes)


def decode_text_body(body):
    """Splits a grpc-web-text body into its messages and its trailers. Each base64 chunk is decoded on
    its own (a server may pad at any flush), 4 characters at a time, as gRPC-Web clients do."""
    raw = b"".join(base64.b64decode(body[i:i + 4]) for i in range(0, len(body), 4))
    messages, trailers, offset = [], None, 0
    while offset < len(raw):
        flag, length = struct.unpack(">BI", raw[offset:offset + 5])
        payload = raw[offset + 5:offset + 5 + length]
        offset += 5 + length
        if flag & 0x80:
            trailers = dict(line.split(": ", 1) for line in payload.decode().split("\r\n") if line)
        else:
            messages.append(payload)
    return messages, trailers


@pytest.mark.parametrize("version", ["--http1.1", "--http2-prior-knowledge"])
def test_curl_grpc_web_text_subscribe_decodes_to_the_events(stubs, hub, tmp_path, version):
    topic = f"web-text-{'h1' if '1.1' in version else 'h2'}"
    with httpx.Client() as client:
        publish(client, hub, topic, ANSWER[:2])
    body = tmp_path / "request.txt"
    body.write_bytes(text_request(stubs.pb.SubscribeRequest(topic=topic).SerializeToString()))
    curl = subprocess.Popen(
        ["curl", "-sS", "-N", version, "--max-time", "20", "-D", str(tmp_path / "headers"), "-X", "POST",
         "-H", "content-type: application/grpc-web-text", "-H", "x-grpc-web: 1", "-H", "accept: application/grpc-web-text",
         "--data-binary", f"@{body}", f"{hub.url}/newsroom.v1.Newsroom/Subscribe"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert wait_until(lambda: subscribers(hub, topic) == 1, timeout=10)
    with httpx.Client() as client:
        publish(client, hub, topic, ANSWER[2:])
    out, err = curl.communicate(timeout=30)
    assert curl.returncode == 0, err
    headers = (tmp_path / "headers").read_text().lower()
    assert "content-type: application/grpc-web-text" in headers
    messages, trailers = decode_text_body(out)
    events = [stubs.pb.Event.FromString(m) for m in messages]
    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert "".join(e.text_delta.text for e in events) == "Hello, world."
    assert trailers == {"grpc-status": "0"}


def test_grpc_web_errors_are_trailers_only_answers(hub):
    def call(path, body, content_type="application/grpc-web-text"):
        return httpx.post(f"{hub.url}{path}", content=body, headers={"content-type": content_type}, timeout=10)

    unknown = call("/newsroom.v1.Newsroom/Nope", text_request(b""))
    assert unknown.status_code == 200 and unknown.headers["grpc-status"] == "12"  # UNIMPLEMENTED
    not_base64 = call("/newsroom.v1.Newsroom/GetTopic", b"!!!!")
    assert not_base64.headers["grpc-status"] == "3"  # INVALID_ARGUMENT
    garbage = call("/newsroom.v1.Newsroom/GetTopic", struct.pack(">BI", 0, 3) + b"\xff\xff\xff",
                   content_type="application/grpc-web+proto")
    assert garbage.headers["grpc-status"] == "3"
    compressed = call("/newsroom.v1.Newsroom/GetTopic", struct.pack(">BI", 1, 0), content_type="application/grpc-web")
    assert compressed.headers["grpc-status"] == "12" and compressed.headers["grpc-accept-encoding"] == "identity"
    missing = call("/newsroom.v1.Newsroom/GetTopic", text_request(b"\x0a\x04nope"))
    assert missing.headers["grpc-status"] == "5" and "nope" in missing.headers["grpc-message"]
    assert missing.headers["newsroom-code"] == "not_found"  # as the HTTP API says it
    # The hub still serves everyone else.
    assert httpx.get(f"{hub.url}/healthz").status_code == 200


def test_cors_preflight_and_exposed_status_for_browser_clients(start_hub):
    origin = "https://app.example"
    hub = start_hub("--allowed-origins", origin)
    preflight = httpx.options(
        f"{hub.url}/newsroom.v1.Newsroom/Subscribe",
        headers={"origin": origin, "access-control-request-method": "POST",
                 "access-control-request-headers": "content-type,x-grpc-web,x-user-agent,grpc-timeout,authorization"})
    assert preflight.status_code == 204, preflight.text
    assert preflight.headers["access-control-allow-origin"] == origin
    allowed = {h.strip() for h in preflight.headers["access-control-allow-headers"].lower().split(",")}
    assert {"content-type", "x-grpc-web", "x-user-agent", "grpc-timeout", "authorization"} <= allowed
    answer = httpx.post(f"{hub.url}/newsroom.v1.Newsroom/GetTopic", content=text_request(b"\x0a\x04nope"),
                        headers={"content-type": "application/grpc-web-text", "origin": origin})
    assert answer.headers["access-control-allow-origin"] == origin
    exposed = {h.strip() for h in answer.headers["access-control-expose-headers"].lower().split(",")}
    assert {"grpc-status", "grpc-message"} <= exposed
    # Another origin gets no CORS headers.
    other = httpx.post(f"{hub.url}/newsroom.v1.Newsroom/GetTopic", content=text_request(b"\x0a\x04nope"),
                       headers={"content-type": "application/grpc-web-text", "origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_a_stalled_grpc_web_reader_does_not_slow_the_others(stubs, start_hub, tmp_path):
    """A gRPC-Web viewer that stops reading is dropped by its policy while a sonora viewer receives
    everything."""
    import socket

    hub = start_hub("--default-policy", "disconnect", "--queue-max-bytes", "65536")
    stub = stubs.rpc.NewsroomStub(WebChannel(hub.url))
    stalled = socket.create_connection(("127.0.0.1", hub.port))
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    body = text_request(stubs.pb.SubscribeRequest(topic="web-slow").SerializeToString())
    stalled.sendall(b"POST /newsroom.v1.Newsroom/Subscribe HTTP/1.1\r\nhost: x\r\ncontent-type: application/grpc-web-text\r\n"
                    + f"content-length: {len(body)}\r\n\r\n".encode() + body)
    received = []
    reader = threading.Thread(
        target=lambda: received.extend(stub.Subscribe(stubs.pb.SubscribeRequest(topic="web-slow"), timeout=60)),
        daemon=True)
    reader.start()
    assert wait_until(lambda: subscribers(hub, "web-slow") == 2, timeout=10)
    chunk = "x" * 2000
    with httpx.Client() as client:
        # Up to 16 MB: more than loopback's socket buffers hold for the stalled reader.
        batches = 0
        while subscribers(hub, "web-slow") == 2 and batches < 400:
            publish(client, hub, "web-slow", [{"type": "text_delta", "text": chunk}] * 20)
            batches += 1
        assert wait_until(lambda: subscribers(hub, "web-slow") == 1, timeout=20), batches
        publish(client, hub, "web-slow", [{"type": "stream_complete", "finish_reason": "stop"}])
    reader.join(timeout=30)
    stalled.close()
    assert [e.seq for e in received] == list(range(1, 20 * batches + 2))
