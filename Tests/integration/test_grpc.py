"""The gRPC service against the real `newsroom` binary, with grpcio and stubs generated from the repository's
.proto at test time: subscribe (replay + live, resume), client-stream publish, generations, deadlines,
cancellation, health, TLS, tokens — on the hub's one port (HTTP/2), as a client sees it; and on an extra
--grpc-port."""

import json
import subprocess
import threading
import time

import pytest

grpc = pytest.importorskip("grpc", reason="grpcio is not installed (pip install -r Tests/integration/requirements.txt)")
pytest.importorskip("grpc_tools", reason="grpcio-tools is not installed")

import httpx  # noqa: E402

from conftest import BINARY, wait_until  # noqa: E402
from grpc_support import GRPCHub, generate_stubs  # noqa: E402


@pytest.fixture(scope="module")
def stubs():
    return generate_stubs()


@pytest.fixture
def ghub():
    hub = GRPCHub(["--heartbeat-interval", "0.3"])
    yield hub
    hub.stop()


@pytest.fixture
def channel(ghub):
    with grpc.insecure_channel(ghub.grpc_target) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        yield channel


@pytest.fixture
def stub(stubs, channel):
    return stubs.rpc.NewsroomStub(channel)


def text_event(pb, text):
    return pb.Event(text_delta=pb.TextDelta(text=text))


def publish(stubs, stub, topic, events):
    pb = stubs.pb
    requests = [pb.PublishRequest(topic=topic, event=event) for event in events]
    return stub.Publish(iter(requests), timeout=10)


def collect(call, into, until=None):
    """Reads a server stream into `into` (a list) until it ends or `until(event)` holds."""
    for event in call:
        into.append(event)
        if until and until(event):
            break
    return into


def sequenced(events):
    return [e for e in events if e.seq]


def test_subscribe_replays_the_history_then_streams_live_events(stubs, stub, ghub):
    pb = stubs.pb
    summary = publish(stubs, stub, "chat", [
        pb.Event(stream_start=pb.StreamStart(provider="demo", model="m1")), text_event(pb, "Hel"), text_event(pb, "lo"),
    ])
    assert (summary.topic, summary.first_seq, summary.last_seq, summary.count) == ("chat", 1, 3, 3)

    received = []
    call = stub.Subscribe(pb.SubscribeRequest(topic="chat"), timeout=30)
    reader = threading.Thread(target=collect, args=(call, received))
    reader.start()
    assert wait_until(lambda: len(sequenced(received)) >= 2)  # the replay: stream_start, then "Hello" merged
    publish(stubs, stub, "chat", [text_event(pb, " world"), pb.Event(
        stream_complete=pb.StreamComplete(finish_reason=pb.FINISH_REASON_STOP,
                                          usage=pb.Usage(input_tokens=3, output_tokens=2)))])
    reader.join(timeout=10)
    assert not reader.is_alive()
    assert call.code() == grpc.StatusCode.OK
    events = sequenced(received)
    assert [e.seq for e in events] == [1, 3, 4, 5]
    assert events[0].WhichOneof("payload") == "stream_start" and events[0].stream_start.model == "m1"
    assert not events[0].stream_start.HasField("generation")
    assert "".join(e.text_delta.text for e in events if e.WhichOneof("payload") == "text_delta") == "Hello world"
    last = events[-1].stream_complete
    assert last.finish_reason == pb.FINISH_REASON_STOP and last.usage.input_tokens == 3
    assert not last.HasField("provider_finish_reason")
    assert all(e.topic == "chat" and e.ts.seconds > 0 for e in events)


def test_grpc_and_sse_carry_the_same_events(stubs, stub, ghub):
    pb = stubs.pb
    publish(stubs, stub, "same", [text_event(pb, "a\nb"), pb.Event(
        tool_call=pb.ToolCall(index=1, call_id="c1", name="f", arguments='{"x":1}')),
        pb.Event(stream_complete=pb.StreamComplete(finish_reason=pb.FINISH_REASON_TOOL_CALLS))])
    grpc_events = list(stub.Subscribe(pb.SubscribeRequest(topic="same"), timeout=10))
    with httpx.Client(timeout=10) as client:
        body = client.get(f"{ghub.url}/v1/topics/same/events").text
    sse_events = [json.loads(line[len("data: "):]) for line in body.splitlines() if line.startswith("data: ")]
    assert [e.seq for e in grpc_events] == [e["seq"] for e in sse_events]
    assert grpc_events[0].text_delta.text == sse_events[0]["text"] == "a\nb"
    assert grpc_events[1].tool_call.arguments == sse_events[1]["arguments"]
    for g, s in zip(grpc_events, sse_events):
        assert g.ts.ToDatetime().isoformat(timespec="milliseconds") == s["ts"].rstrip("Z")


def test_resume_with_after_sends_only_later_events(stubs, stub):
    pb = stubs.pb
    publish(stubs, stub, "resume", [text_event(pb, t) for t in ["a", "b", "c", "d"]] + [
        pb.Event(stream_complete=pb.StreamComplete(finish_reason=pb.FINISH_REASON_STOP))])
    events = list(stub.Subscribe(pb.SubscribeRequest(topic="resume", after=2), timeout=10))
    assert events[-1].seq == 5
    assert "".join(e.text_delta.text for e in events) == "cd"
    # After the final seq of an ended topic: nothing, and the call ends OK.
    assert list(stub.Subscribe(pb.SubscribeRequest(topic="resume", after=5), timeout=10)) == []
    # Beyond anything the topic issued: a resume_unavailable notice (no seq) comes first.
    events = list(stub.Subscribe(pb.SubscribeRequest(topic="resume", after=99), timeout=10))
    assert events[0].seq == 0 and events[0].error.code == "resume_unavailable"
    assert events[-1].seq == 5


def test_idle_subscribers_get_heartbeats(stubs, stub):
    pb = stubs.pb
    call = stub.Subscribe(pb.SubscribeRequest(topic="idle"), timeout=10)
    event = next(iter(call))
    assert event.WhichOneof("payload") == "heartbeat" and event.seq == 0
    assert event.heartbeat.state == pb.TOPIC_STATE_WAITING
    call.cancel()


def test_publish_client_stream_and_its_errors(stubs, stub):
    pb = stubs.pb

    def requests():
        yield pb.PublishRequest(topic="pub", event=pb.Event(stream_start=pb.StreamStart()))
        for i in range(10):
            yield pb.PublishRequest(event=text_event(pb, f"t{i} "))  # later messages may omit the topic
        yield pb.PublishRequest(event=pb.Event(stream_complete=pb.StreamComplete(finish_reason=pb.FINISH_REASON_STOP)))

    summary = stub.Publish(requests(), timeout=10)
    assert (summary.first_seq, summary.last_seq, summary.count) == (1, 12, 12)
    info = stub.GetTopic(pb.GetTopicRequest(topic="pub"), timeout=10)
    assert info.state == pb.TOPIC_STATE_ENDED and info.last_seq == 12

    with pytest.raises(grpc.RpcError) as ended:
        publish(stubs, stub, "pub", [text_event(pb, "late")])
    assert ended.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    for request in [
        pb.PublishRequest(topic="bad topic", event=text_event(pb, "x")),
        pb.PublishRequest(topic="t", event=pb.Event()),
        pb.PublishRequest(topic="t", event=pb.Event(seq=3, text_delta=pb.TextDelta(text="x"))),
        pb.PublishRequest(topic="t", event=pb.Event(heartbeat=pb.Heartbeat(last_seq=1))),
        pb.PublishRequest(topic="t", event=pb.Event(stream_complete=pb.StreamComplete())),
        pb.PublishRequest(topic="t", event=pb.Event(tool_call_delta=pb.ToolCallDelta(arguments_delta="{"))),
    ]:
        with pytest.raises(grpc.RpcError) as bad:
            stub.Publish(iter([request]), timeout=10)
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT, request
    with pytest.raises(grpc.RpcError) as missing:
        stub.GetTopic(pb.GetTopicRequest(topic="t"), timeout=10)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_deadline_ends_the_call_and_removes_the_subscription(stubs, stub):
    pb = stubs.pb
    call = stub.Subscribe(pb.SubscribeRequest(topic="deadline"), timeout=0.5)
    with pytest.raises(grpc.RpcError) as expired:
        list(call)
    assert expired.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert wait_until(lambda: stub.GetTopic(pb.GetTopicRequest(topic="deadline"), timeout=5).subscribers == 0,
                      timeout=2)


def test_a_client_cancel_removes_the_subscription(stubs, stub):
    pb = stubs.pb
    call = stub.Subscribe(pb.SubscribeRequest(topic="cancel"))
    next(iter(call))  # a heartbeat: the subscription is in place
    assert stub.GetTopic(pb.GetTopicRequest(topic="cancel"), timeout=5).subscribers == 1
    call.cancel()
    assert wait_until(lambda: stub.GetTopic(pb.GetTopicRequest(topic="cancel"), timeout=5).subscribers == 0,
                      timeout=2)


def test_health_check_and_watch(stubs, channel):
    health = stubs.health_rpc.HealthStub(channel)
    hpb = stubs.health_pb
    assert health.Check(hpb.HealthCheckRequest(), timeout=5).status == hpb.HealthCheckResponse.SERVING
    assert health.Check(hpb.HealthCheckRequest(service="newsroom.v1.Newsroom"),
                        timeout=5).status == hpb.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as unknown:
        health.Check(hpb.HealthCheckRequest(service="nope"), timeout=5)
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    watch = health.Watch(hpb.HealthCheckRequest(), timeout=5)
    assert next(iter(watch)).status == hpb.HealthCheckResponse.SERVING
    watch.cancel()


def test_list_topics(stubs, stub):
    pb = stubs.pb
    publish(stubs, stub, "b-list", [text_event(pb, "x")])
    publish(stubs, stub, "a-list", [text_event(pb, "x")])
    names = [t.name for t in stub.ListTopics(pb.ListTopicsRequest(), timeout=5).topics]
    assert names.index("a-list") < names.index("b-list")


# Generations, against the replay upstream (as in test_generations.py).

@pytest.fixture(scope="module")
def replay():
    proc = subprocess.Popen([str(BINARY), "replay-upstream", "--port", "0", "--event-delay-ms", "50"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert "listening on" in line, line
    yield line.strip().split("listening on ")[1]
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def gen_hub(replay):
    hub = GRPCHub(env={"NEWSROOM_PROVIDER_OPENAI_BASE_URL": replay, "NEWSROOM_PROVIDER_OPENAI_API_KEY": "sk-test"})
    yield hub
    hub.stop()


def test_start_and_cancel_a_generation(stubs, gen_hub):
    pb = stubs.pb
    # The replay upstream waits 300 ms between events, so the cancel lands mid-stream.
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "a long story"}],
                       "replay_behavior": "delay=300"})
    with grpc.insecure_channel(gen_hub.grpc_target) as channel:
        stub = stubs.rpc.NewsroomStub(channel)
        generation = stub.StartGeneration(pb.GenerationRequest(provider="openai", request=body, topic="gen"),
                                          timeout=10)
        assert generation.generation.startswith("gen_") and generation.topic == "gen"
        assert generation.state == pb.GENERATION_STATE_RUNNING and generation.timings.HasField("queued")

        received = []
        call = stub.Subscribe(pb.SubscribeRequest(topic="gen"), timeout=30)
        collect(call, received, until=lambda e: e.WhichOneof("payload") == "text_delta")
        cancelled = stub.CancelGeneration(pb.CancelRequest(generation=generation.generation), timeout=10)
        assert cancelled.state == pb.GENERATION_STATE_CANCELLED
        collect(call, received)
        assert call.code() == grpc.StatusCode.OK
        assert received[0].stream_start.generation == generation.generation
        assert received[-1].stream_complete.finish_reason == pb.FINISH_REASON_CANCELLED
        info = stub.GetGeneration(pb.GetGenerationRequest(generation=generation.generation), timeout=10)
        assert info.state == pb.GENERATION_STATE_CANCELLED and info.finish_reason == pb.FINISH_REASON_CANCELLED

        with pytest.raises(grpc.RpcError) as busy:
            stub.StartGeneration(pb.GenerationRequest(provider="openai", request=body, topic="gen"), timeout=10)
        assert busy.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        with pytest.raises(grpc.RpcError) as unknown:
            stub.StartGeneration(pb.GenerationRequest(provider="nope", request=body), timeout=10)
        assert unknown.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.RpcError) as malformed:
            stub.StartGeneration(pb.GenerationRequest(provider="openai", request="{nope"), timeout=10)
        assert malformed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.RpcError) as missing:
            stub.CancelGeneration(pb.CancelRequest(generation="gen_nope"), timeout=10)
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND


def test_tls_with_the_http_ports_certificate(stubs, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True)
    hub = GRPCHub(["--tls-certificate", str(cert), "--tls-private-key", str(key)])
    try:
        credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        with grpc.secure_channel(hub.grpc_target, credentials) as channel:
            health = stubs.health_rpc.HealthStub(channel)
            hpb = stubs.health_pb
            assert health.Check(hpb.HealthCheckRequest(), timeout=10).status == hpb.HealthCheckResponse.SERVING
            stub = stubs.rpc.NewsroomStub(channel)
            pb = stubs.pb
            publish(stubs, stub, "tls", [text_event(pb, "secret"), pb.Event(
                stream_complete=pb.StreamComplete(finish_reason=pb.FINISH_REASON_STOP))])
            events = list(stub.Subscribe(pb.SubscribeRequest(topic="tls"), timeout=10))
            assert events[0].text_delta.text == "secret" and len(events) == 2
        # Plaintext is refused on the TLS port.
        with grpc.insecure_channel(hub.grpc_target) as plain:
            with pytest.raises(grpc.RpcError) as refused:
                stubs.health_rpc.HealthStub(plain).Check(stubs.health_pb.HealthCheckRequest(), timeout=3)
            assert refused.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    finally:
        hub.stop()


def test_tokens_on_the_grpc_port(stubs):
    """The same tokens as HTTP, in the `authorization` metadata: none or a bad one → UNAUTHENTICATED, a
    token without the capability → PERMISSION_DENIED, an expiring token ends the subscription."""
    import time

    jwt = pytest.importorskip("jwt", reason="PyJWT is not installed")
    secret = "a-grpc-test-secret-of-enough-length-0123"

    def token(expires_in=600, **claims):
        return jwt.encode({"sub": "svc", "exp": int(time.time()) + expires_in, **claims}, secret, algorithm="HS256")

    def auth(t):
        return (("authorization", f"Bearer {t}"),)

    hub = GRPCHub(["--auth-hs256-secret", secret])
    try:
        with grpc.insecure_channel(hub.grpc_target) as channel:
            stub = stubs.rpc.NewsroomStub(channel)
            pb = stubs.pb
            request = pb.SubscribeRequest(topic="room")

            with pytest.raises(grpc.RpcError) as missing:
                list(stub.Subscribe(request, timeout=10))
            assert missing.value.code() == grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(grpc.RpcError) as forged:
                list(stub.Subscribe(request, timeout=10, metadata=auth(token()[:-4] + "AAAA")))
            assert forged.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert token() not in forged.value.details()

            viewer = token(subscribe=["room"])
            with pytest.raises(grpc.RpcError) as denied:
                stub.Publish(iter([pb.PublishRequest(topic="room", event=text_event(pb, "x"))]),
                             timeout=10, metadata=auth(viewer))
            assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
            with pytest.raises(grpc.RpcError) as other_topic:
                list(stub.Subscribe(pb.SubscribeRequest(topic="elsewhere"), timeout=10, metadata=auth(viewer)))
            assert other_topic.value.code() == grpc.StatusCode.PERMISSION_DENIED
            with pytest.raises(grpc.RpcError) as listing:
                stub.ListTopics(pb.ListTopicsRequest(), timeout=10, metadata=auth(viewer))
            assert listing.value.code() == grpc.StatusCode.PERMISSION_DENIED

            backend = token(publish=["room"])
            summary = stub.Publish(iter([
                pb.PublishRequest(topic="room", event=text_event(pb, "hello")),
                pb.PublishRequest(topic="room", event=pb.Event(
                    stream_complete=pb.StreamComplete(finish_reason=pb.FINISH_REASON_STOP))),
            ]), timeout=10, metadata=auth(backend))
            assert (summary.first_seq, summary.last_seq, summary.count) == (1, 2, 2)
            events = list(stub.Subscribe(request, timeout=10, metadata=auth(viewer)))
            assert [e.seq for e in events] == [1, 2] and events[0].text_delta.text == "hello"
            admin = token(admin=True)
            assert "room" in [t.name for t in stub.ListTopics(pb.ListTopicsRequest(), timeout=10,
                                                               metadata=auth(admin)).topics]

            # A token that expires while subscribed ends the call with UNAUTHENTICATED (exp plus the
            # hub's 30 s leeway, so the token is issued already 29 s past its exp).
            short = token(expires_in=-29, subscribe=["live"])
            started = time.monotonic()
            with pytest.raises(grpc.RpcError) as expired:
                list(stub.Subscribe(pb.SubscribeRequest(topic="live"), timeout=15, metadata=auth(short)))
            assert expired.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert time.monotonic() - started < 10
    finally:
        hub.stop()


def test_an_extra_grpc_port_serves_the_same_service(stubs):
    """--grpc-port adds a port with the same listener: gRPC there and on the main port see one hub."""
    hub = GRPCHub(extra_port=True)
    try:
        main = f"127.0.0.1:{hub.url.rsplit(':', 1)[1]}"
        assert hub.grpc_target != main
        pb = stubs.pb
        with grpc.insecure_channel(hub.grpc_target) as extra, grpc.insecure_channel(main) as same:
            publish(stubs, stubs.rpc.NewsroomStub(extra), "both-ports", [text_event(pb, "one"), pb.Event(
                stream_complete=pb.StreamComplete(finish_reason=pb.FINISH_REASON_STOP))])
            events = list(stubs.rpc.NewsroomStub(same).Subscribe(pb.SubscribeRequest(topic="both-ports"), timeout=10))
            assert [e.seq for e in events] == [1, 2] and events[0].text_delta.text == "one"
    finally:
        hub.stop()


def test_two_hubs_with_only_port_run_side_by_side(stubs):
    """No second port by default: two hubs on one machine do not collide, and each serves gRPC."""
    first, second = GRPCHub(), GRPCHub()
    try:
        for hub in (first, second):
            assert hub.grpc_target == hub.url.replace("http://", "")
            with grpc.insecure_channel(hub.grpc_target) as channel:
                health = stubs.health_rpc.HealthStub(channel)
                assert health.Check(stubs.health_pb.HealthCheckRequest(), timeout=5).status == \
                    stubs.health_pb.HealthCheckResponse.SERVING
    finally:
        first.stop()
        second.stop()


def test_http2_keepalive_pings_and_a_silent_peer_is_closed():
    """The hub PINGs each HTTP/2 connection every interval (here the heartbeat interval, 0.3 s); a peer
    that answers stays, one that never answers is closed after two unanswered PINGs."""
    import socket

    import h2.config
    import h2.connection
    import h2.events

    hub = GRPCHub(["--heartbeat-interval", "0.3"])
    try:
        def connect():
            sock = socket.create_connection(("127.0.0.1", int(hub.url.rsplit(":", 1)[1])))
            sock.settimeout(5)
            conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
            conn.initiate_connection()
            sock.sendall(conn.data_to_send())
            return sock, conn

        def run(sock, conn, seconds, answer):
            pings, closed, deadline = 0, False, time.monotonic() + seconds
            while time.monotonic() < deadline:
                try:
                    data = sock.recv(65536)
                except socket.timeout:
                    break
                if not data:
                    closed = True
                    break
                if not answer:
                    # h2 answers PINGs itself; a silent peer must not, so count them off the raw bytes.
                    pings += data.count(b"\x00\x00\x08\x06\x00\x00\x00\x00\x00")
                    continue
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.PingReceived):
                        pings += 1
                    if isinstance(event, h2.events.ConnectionTerminated):
                        closed = True
                sock.sendall(conn.data_to_send())
            return pings, closed

        answering = connect()
        pings, closed = run(*answering, seconds=2.0, answer=True)
        assert pings >= 3 and not closed
        silent = connect()
        pings, closed = run(*silent, seconds=5.0, answer=False)
        assert closed and 2 <= pings <= 4, pings
        answering[0].close()
        silent[0].close()
    finally:
        hub.stop()


def test_cancelling_every_open_stream_at_once_is_not_a_reset_flood(stubs):
    """A client that cancels all its calls at once (250 on one connection) keeps its connection: the
    rapid-reset guard allows twice the stream limit, and the next call works on the same connection."""
    import socket
    import struct

    import h2.config
    import h2.connection
    import h2.events

    hub = GRPCHub()
    try:
        sock = socket.create_connection(("127.0.0.1", int(hub.url.rsplit(":", 1)[1])))
        sock.settimeout(5)
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        # Settle the SETTINGS exchange first: until the hub's limit of 256 streams is acknowledged, it
        # counts with HTTP/2's initial 100.
        acknowledged = False
        while not acknowledged:
            for event in conn.receive_data(sock.recv(65536)):
                acknowledged = acknowledged or isinstance(event, h2.events.SettingsAcknowledged)
            sock.sendall(conn.data_to_send())
        time.sleep(0.2)
        request = stubs.pb.SubscribeRequest(topic="many").SerializeToString()
        body = struct.pack(">BI", 0, len(request)) + request
        headers = [(":method", "POST"), (":scheme", "http"), (":path", "/newsroom.v1.Newsroom/Subscribe"),
                   (":authority", "127.0.0.1"), ("content-type", "application/grpc"), ("te", "trailers")]
        ids = []
        for _ in range(250):
            stream = conn.get_next_available_stream_id()
            conn.send_headers(stream, headers)
            conn.send_data(stream, body, end_stream=True)
            ids.append(stream)
        sock.sendall(conn.data_to_send())
        assert wait_until(lambda: httpx.get(f"{hub.url}/v1/topics/many").json().get("subscribers") == 250, timeout=10)
        for stream in ids:
            conn.reset_stream(stream)
        sock.sendall(conn.data_to_send())
        assert wait_until(lambda: httpx.get(f"{hub.url}/v1/topics/many").json().get("subscribers") == 0, timeout=10)
        # One more call on the same connection: answered (NOT_FOUND for a topic that does not exist).
        stream = conn.get_next_available_stream_id()
        conn.send_headers(stream, [(k, v.replace("Subscribe", "GetTopic")) for k, v in headers])
        get = stubs.pb.GetTopicRequest(topic="nope").SerializeToString()
        conn.send_data(stream, struct.pack(">BI", 0, len(get)) + get, end_stream=True)
        sock.sendall(conn.data_to_send())
        status, goaway = None, False
        deadline = time.monotonic() + 5
        while status is None and not goaway and time.monotonic() < deadline:
            data = sock.recv(65536)
            if not data:
                break
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ConnectionTerminated):
                    goaway = True
                if isinstance(event, (h2.events.ResponseReceived, h2.events.TrailersReceived)) and event.stream_id == stream:
                    status = dict(event.headers).get("grpc-status", status)
            sock.sendall(conn.data_to_send())
        assert not goaway
        assert status == "5"
        sock.close()
    finally:
        hub.stop()


def test_an_early_error_while_the_request_is_open_resets_with_no_error(stubs):
    """An answer decided before the request ended (here a method that does not exist) ends with the
    status in trailers-only headers and then RST_STREAM NO_ERROR (RFC 9113 section 8.1), not CANCEL:
    a client that reads the reset before the trailers (grpcio did, now and then) would report CANCELLED
    instead of the real status."""
    import socket

    import h2.config
    import h2.connection
    import h2.events

    hub = GRPCHub()
    try:
        sock = socket.create_connection(("127.0.0.1", int(hub.url.rsplit(":", 1)[1])))
        sock.settimeout(5)
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        conn.initiate_connection()
        stream = conn.get_next_available_stream_id()
        conn.send_headers(stream, [(":method", "POST"), (":scheme", "http"), (":path", "/newsroom.v1.Newsroom/Nope"),
                                   (":authority", "127.0.0.1"), ("content-type", "application/grpc"), ("te", "trailers")])
        sock.sendall(conn.data_to_send())  # no END_STREAM: the request stays open
        status, reset = None, None
        deadline = time.monotonic() + 5
        while reset is None and time.monotonic() < deadline:
            data = sock.recv(65536)
            if not data:
                break
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived) and event.stream_id == stream:
                    status = dict(event.headers).get("grpc-status")
                if isinstance(event, h2.events.StreamReset) and event.stream_id == stream:
                    reset = event.error_code
            sock.sendall(conn.data_to_send())
        assert status == "12"
        assert reset == 0, f"RST_STREAM error code {reset}"
        sock.close()
    finally:
        hub.stop()


def test_subscribe_takes_max_delay_ms(stubs):
    """SubscribeRequest.max_delay_ms is this subscriber's flush window, as ?max_delay= on SSE, cut to the
    server's limit."""
    import grpc

    hub = GRPCHub(["--flush-interval", "0"])
    try:
        pb = stubs.pb
        with grpc.insecure_channel(hub.url.replace("http://", "")) as channel:
            stub = stubs.rpc.NewsroomStub(channel)
            calls = stub.Subscribe(pb.SubscribeRequest(topic="md", max_delay_ms=300), timeout=10)
            assert wait_until(lambda: httpx.get(f"{hub.url}/v1/topics/md").json().get("subscribers") == 1)
            sent = time.monotonic()
            httpx.post(f"{hub.url}/v1/topics/md/events", json={"type": "text_delta", "text": "x"})
            event = next(calls)
            assert event.seq == 1 and time.monotonic() - sent >= 0.25
            calls.cancel()
            # Beyond the server's limit (1 s): cut to it, as ?max_delay= is.
            calls = stub.Subscribe(pb.SubscribeRequest(topic="md2", max_delay_ms=5000), timeout=10)
            assert wait_until(lambda: httpx.get(f"{hub.url}/v1/topics/md2").json().get("subscribers") == 1)
            sent = time.monotonic()
            httpx.post(f"{hub.url}/v1/topics/md2/events", json={"type": "text_delta", "text": "x"})
            assert next(calls).seq == 1 and 0.8 <= time.monotonic() - sent < 3
            calls.cancel()
    finally:
        hub.stop()
