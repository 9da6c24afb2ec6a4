"""Socket.IO on the hub's port, with the stock `python-socketio` client (pip) over long-polling only,
WebSocket only, and long-polling upgraded to WebSocket; and the Engine.IO / Socket.IO protocol test
vectors (socketio/engine.io-protocol and socketio/socket.io-protocol `test-suite/test-suite.js`),
re-expressed here with httpx and `websockets` against the real binary, using the suites' settings
(ping interval 300 ms, ping timeout 200 ms, connect timeout 1 s)."""

import json
import socket
import threading
import time

import httpx
import jwt
import pytest
import socketio
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from conftest import Hub, publish, pump, wait_subscribers, wait_until

TRANSPORTS = {
    "polling": ["polling"],
    "websocket": ["websocket"],
    "upgrade": ["polling", "websocket"],
}
SECRET = "a-test-secret-of-enough-length-0123456789"
# The suites' settings. The Engine.IO suite runs against a bare Engine.IO server (no namespace to
# connect), so its sessions get the default connect timeout; the Socket.IO suite's is 1 s.
EIO_SUITE_SETTINGS = {
    "NEWSROOM_SOCKETIO_PING_INTERVAL": "300ms",
    "NEWSROOM_SOCKETIO_PING_TIMEOUT": "200ms",
}
SIO_SUITE_SETTINGS = {**EIO_SUITE_SETTINGS, "NEWSROOM_SOCKETIO_CONNECT_TIMEOUT": "1s"}

START = {"type": "stream_start", "generation": "g1", "provider": "demo", "model": "m"}


def deltas(*texts):
    return [{"type": "text_delta", "text": t} for t in texts]


COMPLETE = {"type": "stream_complete", "finish_reason": "stop"}


class Viewer:
    """A python-socketio client that records every hub event it receives."""

    def __init__(self, url, transports, auth=None, reconnection=False, **connect):
        self.events = []
        self.ended = threading.Event()
        self.client = socketio.Client(reconnection=reconnection, reconnection_delay=0.1, reconnection_delay_max=0.2)
        for name in ("stream_start", "text_delta", "stream_complete", "error", "gap", "heartbeat"):
            self.client.on(name, self._recorder(name))
        self.client.connect(url, transports=transports, auth=auth, wait_timeout=5, **connect)

    def _recorder(self, name):
        def record(event):
            self.events.append(event)
            if name == "stream_complete":
                self.ended.set()
        return record

    def text(self, topic=None):
        return "".join(e.get("text", "") for e in self.events
                       if e["type"] == "text_delta" and (topic is None or e["topic"] == topic))

    def seqs(self, topic=None):
        return [e["seq"] for e in self.events if "seq" in e and (topic is None or e["topic"] == topic)]


@pytest.fixture
def sio_hub(start_hub):
    return start_hub("--heartbeat-interval", "30")


@pytest.mark.stock_client
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_stock_client_replay_then_live_with_exact_text(sio_hub, transport):
    topic = f"sio-{transport}"
    with httpx.Client() as http:
        assert publish(http, sio_hub, topic, [START, *deltas("Hello", ", ")]).status_code == 202
        viewer = Viewer(sio_hub.url, TRANSPORTS[transport])
        try:
            assert viewer.client.transport() == ("polling" if transport == "polling" else "websocket")
            ack = viewer.client.call("subscribe", {"topic": topic}, timeout=5)
            assert ack == {"topic": topic, "last_seq": 3}
            # The replay arrives compacted (the two deltas as one carrying the last seq), each event
            # named after its type.
            assert wait_until(lambda: len(viewer.events) == 2, timeout=5), viewer.events
            assert [(e["type"], e["seq"]) for e in viewer.events] == [("stream_start", 1), ("text_delta", 3)]
            assert publish(http, sio_hub, topic, [*deltas("world", "!"), COMPLETE]).status_code == 202
            assert viewer.ended.wait(5)
            assert viewer.text() == "Hello, world!"
            assert viewer.seqs() == [1, 3, 4, 5, 6]
            assert all(e["topic"] == topic for e in viewer.events)
        finally:
            viewer.client.disconnect()


@pytest.mark.stock_client
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_stock_client_publish_with_ack_and_cancel(sio_hub, transport):
    topic = f"sio-pub-{transport}"
    viewer = Viewer(sio_hub.url, TRANSPORTS[transport])
    try:
        assert viewer.client.call("subscribe", {"topic": topic}, timeout=5) == {"topic": topic, "last_seq": 0}
        ack = viewer.client.call("publish", {"topic": topic, "events": [START, *deltas("one ", "two")]}, timeout=5)
        assert ack == {"topic": topic, "first_seq": 1, "last_seq": 3}
        single = viewer.client.call("publish", {"topic": topic, "event": deltas(" three")[0]}, timeout=5)
        assert single == {"topic": topic, "first_seq": 4, "last_seq": 4}
        bad = viewer.client.call("publish", {"topic": topic, "events": [{"type": "text_delta"}]}, timeout=5)
        assert bad["error"]["code"] == "invalid_event" and "text" in bad["error"]["message"]
        assert wait_until(lambda: viewer.text() == "one two three", timeout=5), viewer.events
        cancelled = viewer.client.call("cancel", {"topic": topic}, timeout=5)
        assert cancelled == {"topic": topic, "state": "ended"}
        assert viewer.ended.wait(5)
        assert viewer.events[-1]["type"] == "stream_complete"
        assert viewer.events[-1]["finish_reason"] == "cancelled"
        assert httpx.get(f"{sio_hub.url}/v1/topics/{topic}").json()["state"] == "ended"
    finally:
        viewer.client.disconnect()


@pytest.mark.stock_client
def test_command_errors_are_acknowledged_with_the_api_codes(sio_hub):
    viewer = Viewer(sio_hub.url, ["websocket"])
    try:
        call = viewer.client.call
        assert call("subscribe", {"topic": "bad topic!"}, timeout=5)["error"]["code"] == "invalid_topic"
        assert call("subscribe", {"topic": "t", "after": -1}, timeout=5)["error"]["code"] == "invalid_resume"
        assert call("subscribe", {"topic": "t", "policy": "x"}, timeout=5)["error"]["code"] == "invalid_policy"
        assert call("subscribe", {"topic": "t", "extra": 1}, timeout=5)["error"]["code"] == "invalid_command"
        assert call("subscribe", {"topic": "t"}, timeout=5) == {"topic": "t", "last_seq": 0}
        assert call("subscribe", {"topic": "t"}, timeout=5)["error"]["code"] == "already_subscribed"
        assert call("unsubscribe", {"topic": "t"}, timeout=5) == {"topic": "t"}
        assert call("unsubscribe", {"topic": "t"}, timeout=5)["error"]["code"] == "not_subscribed"
        assert call("dance", {}, timeout=5)["error"]["code"] == "unknown_event"
        assert call("subscribe", "t", timeout=5)["error"]["code"] == "invalid_command"
        assert call("cancel", {"generation": "nope"}, timeout=5)["error"]["code"] in ("not_found", "generations_disabled")
        # The session is still usable after every refusal.
        assert call("publish", {"topic": "t2", "events": [START]}, timeout=5)["last_seq"] == 1
    finally:
        viewer.client.disconnect()


@pytest.mark.stock_client
def test_more_than_sixteen_events_reach_a_polling_client(sio_hub):
    """python-engineio refuses a poll answer of more than 16 packets: the hub splits them."""
    topic = "sio-many"
    texts = [f"t{i} " for i in range(120)]
    with httpx.Client() as http:
        assert publish(http, sio_hub, topic, [START, *deltas(*texts)]).status_code == 202
    viewer = Viewer(sio_hub.url, ["polling"])
    try:
        viewer.client.call("subscribe", {"topic": topic}, timeout=5)
        with httpx.Client() as http:
            for i in range(0, 60, 3):
                publish(http, sio_hub, topic, deltas(f"live{i} ", f"live{i + 1} ", f"live{i + 2} "))
            publish(http, sio_hub, topic, [COMPLETE])
        assert viewer.ended.wait(10)
        assert viewer.text() == "".join(texts) + "".join(f"live{i} " for i in range(60))
        seqs = viewer.seqs()  # the replay arrives compacted: fewer events, the same text
        assert seqs == sorted(set(seqs)) and seqs[0] == 1 and seqs[-1] == 1 + 120 + 60 + 1
        assert viewer.client.transport() == "polling"
    finally:
        viewer.client.disconnect()


@pytest.mark.stock_client
def test_auth_refused_and_allowed(start_hub):
    hub = start_hub("--auth-hs256-secret", SECRET)
    now = int(time.time())
    viewer_token = jwt.encode({"sub": "v", "exp": now + 600, "subscribe": ["room:*"]}, SECRET, algorithm="HS256")
    with pytest.raises(socketio.exceptions.ConnectionError):
        Viewer(hub.url, ["websocket"])
    with pytest.raises(socketio.exceptions.ConnectionError):
        Viewer(hub.url, ["polling"], auth={"token": "not.a.jwt"})
    # The refusal is a CONNECT_ERROR with a message and the API's code.
    sid = handshake(hub)["sid"]
    assert post(hub, sid, '40{"token":"bad"}') == "ok"
    refusal = poll(hub, sid)
    assert refusal.startswith("44{") and json.loads(refusal[2:])["data"]["code"] == "unauthorized"
    viewer = Viewer(hub.url, ["polling", "websocket"], auth={"token": viewer_token})
    try:
        assert viewer.client.call("subscribe", {"topic": "room:1"}, timeout=5) == {"topic": "room:1", "last_seq": 0}
        assert viewer.client.call("subscribe", {"topic": "other"}, timeout=5)["error"]["code"] == "forbidden"
        assert viewer.client.call("publish", {"topic": "room:1", "events": [START]}, timeout=5)["error"]["code"] == "forbidden"
    finally:
        viewer.client.disconnect()
    # The token may also come as the handshake's `?token=` (or Authorization header).
    other = Viewer(hub.url, ["websocket"], headers={"Authorization": f"Bearer {viewer_token}"})
    try:
        assert other.client.call("subscribe", {"topic": "room:2"}, timeout=5) == {"topic": "room:2", "last_seq": 0}
    finally:
        other.client.disconnect()


class CuttableProxy:
    """A loopback TCP forwarder whose connections the test can cut at once (a network drop)."""

    def __init__(self, port):
        self.target = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            with self.lock:
                self.connections += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=pump, args=(a, b), daemon=True).start()

    def cut(self):
        with self.lock:
            connections, self.connections = self.connections, []
        for s in connections:
            try:
                # A reset (linger 0), and shutdown to wake the pump blocked in recv on it.
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass

    def close(self):
        self.listener.close()
        self.cut()


@pytest.mark.stock_client
@pytest.mark.parametrize("transport", ["websocket", "upgrade"])
def test_stock_client_reconnects_after_a_cut_and_loses_nothing(sio_hub, transport):
    """The python client reconnects by itself; on `connect` it subscribes again after the last seq it
    has (python-socketio has no connection state recovery), and the text is exact."""
    topic = f"sio-cut-{transport}"
    proxy = CuttableProxy(sio_hub.port)
    received = []
    connects = []
    client = socketio.Client(reconnection=True, reconnection_delay=0.1, reconnection_delay_max=0.3)

    @client.on("connect")
    def on_connect():
        connects.append(time.monotonic())
        after = received[-1]["seq"] if received else None
        payload = {"topic": topic} if after is None else {"topic": topic, "after": after}
        client.emit("subscribe", payload)

    client.on("text_delta", lambda e: received.append(e))
    client.on("stream_start", lambda e: received.append(e))
    client.on("stream_complete", lambda e: received.append(e))
    try:
        client.connect(f"http://127.0.0.1:{proxy.port}", transports=TRANSPORTS[transport], wait_timeout=5)
        wait_subscribers(sio_hub, topic)
        with httpx.Client() as http:
            publish(http, sio_hub, topic, [START, *deltas("before ", "the ")])
            assert wait_until(lambda: len(received) == 3, timeout=5)
            proxy.cut()
            publish(http, sio_hub, topic, deltas("cut ", "and "))
            assert wait_until(lambda: len(connects) == 2, timeout=10), "the client did not reconnect"
            publish(http, sio_hub, topic, [*deltas("after"), COMPLETE])
        assert wait_until(lambda: received and received[-1]["type"] == "stream_complete", timeout=10), received
        assert "".join(e.get("text", "") for e in received) == "before the cut and after"
        seqs = [e["seq"] for e in received]  # what was missed may come back compacted
        assert seqs == sorted(set(seqs)) and seqs[:3] == [1, 2, 3] and seqs[-1] == 7
    finally:
        client.disconnect()
        proxy.close()


@pytest.mark.stock_client
def test_generate_through_socketio(start_hub):
    hub = Hub(["demo", "--port", "0", "--answers", "0"])
    try:
        viewer = Viewer(hub.url, ["websocket"])
        try:
            request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
            answer = viewer.client.call("generate", {"provider": "demo-openai", "request": request, "topic": "sio-gen"},
                                        timeout=5)
            assert answer.get("topic") == "sio-gen" and answer.get("generation"), answer
            viewer.client.call("subscribe", {"topic": "sio-gen"}, timeout=5)
            assert viewer.ended.wait(30)
            assert viewer.text() and viewer.events[0]["type"] == "stream_start"
            info = httpx.get(f"{hub.url}/v1/generations/{answer['generation']}").json()
            assert info["state"] == "completed"
        finally:
            viewer.client.disconnect()
    finally:
        hub.stop()


# --- Engine.IO protocol vectors (engine.io-protocol test-suite.js) --------------------------------


@pytest.fixture
def suite_hub(start_hub):
    return start_hub(env=EIO_SUITE_SETTINGS)


@pytest.fixture
def sio_suite_hub(start_hub):
    return start_hub(env=SIO_SUITE_SETTINGS)


def eio_url(hub, path="/socket.io/", **query):
    query = {"EIO": "4", "transport": "polling", **query}
    return f"{hub.url}{path}?" + "&".join(f"{k}={v}" for k, v in query.items() if v is not None)


def handshake(hub, path="/socket.io/"):
    answer = httpx.get(eio_url(hub, path), timeout=5)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    assert answer.text.startswith("0")
    return json.loads(answer.text[1:])


def poll(hub, sid, timeout=5):
    answer = httpx.get(eio_url(hub, sid=sid), timeout=timeout)
    assert answer.status_code == 200, answer.text
    return answer.text


def post(hub, sid, body):
    answer = httpx.post(eio_url(hub, sid=sid), content=body, headers={"content-type": "text/plain;charset=UTF-8"}, timeout=5)
    assert answer.status_code == 200, answer.text
    return answer.text


def test_handshake_open_packet(suite_hub):
    for path in ("/socket.io/", "/socket.io"):
        opened = handshake(suite_hub, path)
        assert set(opened) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
        assert opened["upgrades"] == ["websocket"]
        assert (opened["pingInterval"], opened["pingTimeout"], opened["maxPayload"]) == (300, 200, 1_000_000)
        assert len(opened["sid"]) == 20


@pytest.mark.parametrize("query,code", [
    ({"EIO": None}, 5), ({"EIO": "abc"}, 5), ({"EIO": "3"}, 5), ({"transport": None}, 0), ({"transport": "abc"}, 0),
    ({"transport": "websocket"}, 3), ({"sid": "unknown"}, 1),
])
def test_handshake_errors(suite_hub, query, code):
    answer = httpx.get(eio_url(suite_hub, **query), timeout=5)
    assert answer.status_code == 400
    assert answer.json()["code"] == code and answer.json()["message"]


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_handshake_must_be_get(suite_hub, method):
    answer = httpx.request(method, eio_url(suite_hub), content="4hello", timeout=5)
    assert answer.status_code in (400, 405)
    if method == "POST":
        assert answer.json() == {"code": 2, "message": "Bad handshake method"}


def test_heartbeat_and_ping_timeout_over_polling(suite_hub):
    sid = handshake(suite_hub)["sid"]
    for _ in range(3):
        started = time.monotonic()
        assert poll(suite_hub, sid) == "2"
        assert 0.2 < time.monotonic() - started < 2
        assert post(suite_hub, sid, "3") == "ok"
    # No pong: the session closes after pingInterval + pingTimeout.
    time.sleep(0.3 + 0.2 + 0.3)
    assert httpx.get(eio_url(suite_hub, sid=sid), timeout=5).json() == {"code": 1, "message": "Session ID unknown"}


def test_duplicate_poll_closes_the_session(suite_hub):
    sid = handshake(suite_hub)["sid"]
    with httpx.Client() as http:
        result = {}
        first = threading.Thread(target=lambda: result.setdefault("first", http.get(eio_url(suite_hub, sid=sid), timeout=5)))
        first.start()
        time.sleep(0.05)
        second = httpx.get(eio_url(suite_hub, sid=sid), timeout=5)
        first.join()
    assert second.status_code == 400
    assert result["first"].status_code == 200 and result["first"].text == "1"
    assert httpx.get(eio_url(suite_hub, sid=sid), timeout=5).status_code == 400


def test_client_close_answers_the_pending_poll_with_noop(suite_hub):
    sid = handshake(suite_hub)["sid"]
    result = {}
    pending = threading.Thread(target=lambda: result.setdefault("poll", httpx.get(eio_url(suite_hub, sid=sid), timeout=5)))
    pending.start()
    time.sleep(0.05)
    assert post(suite_hub, sid, "1") == "ok"
    pending.join()
    assert result["poll"].text == "6"
    assert httpx.get(eio_url(suite_hub, sid=sid), timeout=5).status_code == 400


def test_malformed_post_closes_the_session(suite_hub):
    sid = handshake(suite_hub)["sid"]
    answer = httpx.post(eio_url(suite_hub, sid=sid), content="abc", timeout=5)
    assert answer.status_code == 400
    assert httpx.get(eio_url(suite_hub, sid=sid), timeout=5).status_code == 400


def test_post_over_max_payload_is_413(start_hub):
    hub = start_hub(env={"NEWSROOM_SOCKETIO_MAX_PAYLOAD": "1000"})
    sid = handshake(hub)["sid"]
    answer = httpx.post(eio_url(hub, sid=sid), content="4" + "x" * 2000, timeout=5)
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "payload_too_large"
    assert post(hub, sid, "40") == "ok"  # the session goes on


def ws_url(hub, path="/socket.io/", **query):
    return eio_url(hub, path, transport="websocket", **query).replace("http://", "ws://")


def test_upgrade_from_polling(suite_hub):
    sid = handshake(suite_hub)["sid"]
    assert post(suite_hub, sid, "40") == "ok"
    assert poll(suite_hub, sid).startswith("40{")
    with ws_connect(ws_url(suite_hub, sid=sid)) as ws:
        ws.send("2probe")
        assert ws.recv(timeout=5) == "3probe"
        assert poll(suite_hub, sid) == "6"  # the poll is released while upgrading
        ws.send("5")
        ws.send('42["subscribe",{"topic":"up"}]')
        ws.send('421["publish",{"topic":"up","events":[{"type":"text_delta","text":"hi"}]}]')
        frames = sorted((ws.recv(timeout=5) for _ in range(2)), reverse=True)  # the ack may come first
        assert frames[0] == '431[{"first_seq":1,"last_seq":1,"topic":"up"}]'
        assert frames[1].startswith('42["text_delta",{"seq":1,') and frames[1].endswith('"text":"hi","index":0}]')
        # Pings continue on the WebSocket.
        assert ws.recv(timeout=2) == "2"
        ws.send("3")
        # After the upgrade, polling with this sid is refused.
        assert httpx.get(eio_url(suite_hub, sid=sid), timeout=5).status_code == 400
    # A second WebSocket for an upgraded, closed session is refused.
    assert httpx.get(eio_url(suite_hub, sid=sid), timeout=5).status_code == 400


def test_websocket_only_session_and_heartbeat(suite_hub):
    with ws_connect(ws_url(suite_hub)) as ws:
        opened = ws.recv(timeout=5)
        assert opened.startswith("0") and json.loads(opened[1:])["upgrades"] == []
        for _ in range(3):
            assert ws.recv(timeout=2) == "2"
            ws.send("3")
        # No pong: closed after pingInterval + pingTimeout.
        assert ws.recv(timeout=2) == "2"
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=2)


@pytest.mark.parametrize("bad", ["abc", "4abc", '42{}', '42abc["message-with-ack",1]', "2", "44{}"])
def test_malformed_packets_close_the_websocket(suite_hub, bad):
    with ws_connect(ws_url(suite_hub)) as ws:
        ws.recv(timeout=5)
        if bad.startswith("4") and bad not in ("4abc",):
            ws.send("40")
            assert ws.recv(timeout=5).startswith("40{")
        ws.send(bad)
        with pytest.raises(ConnectionClosed):
            while True:
                assert ws.recv(timeout=2) in ("2",)


# --- Socket.IO protocol vectors (socket.io-protocol test-suite.js) ---------------------------------


def connected_ws(hub, connect="40"):
    ws = ws_connect(ws_url(hub))
    ws.recv(timeout=5)
    ws.send(connect)
    return ws, ws.recv(timeout=5)


def test_connect_without_and_with_auth(sio_suite_hub):
    ws, reply = connected_ws(sio_suite_hub)
    with ws:
        assert reply.startswith("40") and set(json.loads(reply[2:])) == {"sid"}
    ws, reply = connected_ws(sio_suite_hub, '40{"token":"123"}')  # auth off: any token is fine
    with ws:
        assert set(json.loads(reply[2:])) == {"sid"}


def test_unknown_namespace_is_refused(sio_suite_hub):
    ws, reply = connected_ws(sio_suite_hub, "40/random")
    with ws:
        assert reply == '44/random,{"message":"Invalid namespace"}'
    ws, reply = connected_ws(sio_suite_hub, "40/custom,")
    with ws:
        assert reply == '44/custom,{"message":"Invalid namespace"}'


def test_connect_timeout_closes_the_session(sio_suite_hub):
    with ws_connect(ws_url(sio_suite_hub)) as ws:
        ws.recv(timeout=5)
        started = time.monotonic()
        with pytest.raises(ConnectionClosed):
            while True:
                frame = ws.recv(timeout=3)
                if frame == "2":
                    ws.send("3")
        assert 0.9 < time.monotonic() - started < 2.5


def test_disconnect_keeps_the_engine_io_session(sio_suite_hub):
    ws, _ = connected_ws(sio_suite_hub)
    with ws:
        ws.send("41")
        assert ws.recv(timeout=2) == "2"
        ws.send("3")
        ws.send("40")
        assert ws.recv(timeout=2).startswith("40{")


def test_event_with_ack_id(sio_suite_hub):
    ws, _ = connected_ws(sio_suite_hub)
    with ws:
        ws.send('42456["subscribe",{"topic":"acked"}]')
        assert ws.recv(timeout=5) == '43456[{"last_seq":0,"topic":"acked"}]'
        ws.send('42["unsubscribe",{"topic":"acked"}]')  # no ack id: no answer
        ws.send('427["unsubscribe",{"topic":"acked"}]')
        assert json.loads(ws.recv(timeout=5)[3:])[0]["error"]["code"] == "not_subscribed"


# --- Connection state recovery (the JavaScript client's pid + offset) ------------------------------


def recv_events(ws, count):
    events = []
    while len(events) < count:
        frame = ws.recv(timeout=5)
        if frame == "2":
            ws.send("3")
        elif frame.startswith("42["):
            events.append(json.loads(frame[2:]))
    return events


def test_recovery_resumes_every_subscription_after_the_offset(start_hub):
    hub = start_hub(env={"NEWSROOM_SOCKETIO_RECOVERY": "120s"})
    ws, reply = connected_ws(hub)
    connected = json.loads(reply[2:])
    assert set(connected) == {"sid", "pid"}
    with httpx.Client() as http:
        ws.send('421["subscribe",{"topic":"ra"}]')
        ws.send('422["subscribe",{"topic":"rb"}]')
        assert {ws.recv(timeout=5) for _ in range(2)} == {'431[{"last_seq":0,"topic":"ra"}]', '432[{"last_seq":0,"topic":"rb"}]'}
        received = []
        for topic, text in (("ra", "a1 "), ("rb", "b1 "), ("ra", "a2 ")):
            publish(http, hub, topic, deltas(text))
            received += recv_events(ws, 1)
        # Each event's last argument is its offset.
        assert [e[2] for e in received] == ["ra#1", "rb#1", "ra#2"]
        # The connection drops; the client got "ra#1" last (the other two were in flight).
        ws.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        ws.socket.close()
        publish(http, hub, "rb", deltas("b2 "))
        assert wait_until(lambda: httpx.get(f"{hub.url}/v1/topics/ra").json()["subscribers"] == 0, timeout=5)
        ws2 = ws_connect(ws_url(hub))
        with ws2:
            ws2.recv(timeout=5)
            ws2.send(json.dumps({"pid": connected["pid"], "offset": "ra#1"}).join(["40", ""]))
            again = json.loads(ws2.recv(timeout=5)[2:])
            assert again == connected  # same sid and pid: recovered
            resumed = recv_events(ws2, 2)  # rb's two events come back as one (replay is compacted)
            by_topic = {t: "".join(e[1]["text"] for e in resumed if e[1]["topic"] == t) for t in ("ra", "rb")}
            assert by_topic == {"ra": "a2 ", "rb": "b1 b2 "}
            assert sorted(e[2] for e in resumed) == ["ra#2", "rb#2"]
            # Live events continue on the recovered subscriptions.
            publish(http, hub, "ra", deltas("a3"))
            assert recv_events(ws2, 1)[0][1]["text"] == "a3"
        # An unknown pid is a fresh session (the client sees recovered = false).
        ws3, reply = connected_ws(hub, '40{"pid":"unknown","offset":"ra#1"}')
        with ws3:
            fresh = json.loads(reply[2:])
            assert fresh["sid"] != connected["sid"] and fresh["pid"] != connected["pid"]


def test_without_recovery_events_have_no_offset_argument(sio_hub):
    ws, reply = connected_ws(sio_hub)
    with ws, httpx.Client() as http:
        assert "pid" not in json.loads(reply[2:])
        ws.send('421["subscribe",{"topic":"plain"}]')
        ws.recv(timeout=5)
        publish(http, sio_hub, "plain", deltas("x"))
        event = recv_events(ws, 1)[0]
        assert len(event) == 2 and event[0] == "text_delta"


def test_engine_io_path_is_configurable(start_hub):
    hub = start_hub(env={"NEWSROOM_SOCKETIO_PATH": "/engine.io/"})
    assert handshake(hub, "/engine.io/")["upgrades"] == ["websocket"]
    assert httpx.get(eio_url(hub, "/socket.io/"), timeout=5).status_code == 404
    viewer = Viewer(hub.url, ["polling", "websocket"], socketio_path="engine.io")
    try:
        assert viewer.client.call("subscribe", {"topic": "p"}, timeout=5) == {"topic": "p", "last_seq": 0}
    finally:
        viewer.client.disconnect()


def test_bad_socketio_configuration_names_the_key(tmp_path):
    with pytest.raises(RuntimeError, match="socketio.pingInterval"):
        Hub(["serve", "--port", "0"], env={"NEWSROOM_SOCKETIO_PING_INTERVAL": "0"})
    with pytest.raises(RuntimeError, match="socketio.path"):
        Hub(["serve", "--port", "0"], env={"NEWSROOM_SOCKETIO_PATH": "no-slash"})


def test_subscriptions_made_while_upgrading_are_acknowledged_and_exact(sio_hub):
    """The JavaScript client subscribes as soon as it is connected, over long-polling, while its upgrade
    to WebSocket is under way: every subscription must be acknowledged once and deliver each event once
    across the session's move to the WebSocket's loop."""
    with httpx.Client() as http:
        for attempt in range(12):
            topic = f"race-{attempt}"
            publish(http, sio_hub, topic, [START, *deltas("a", "b")])
            sid = handshake(sio_hub)["sid"]
            assert post(sio_hub, sid, "40") == "ok"
            assert poll(sio_hub, sid).startswith("40{")
            with ws_connect(ws_url(sio_hub, sid=sid)) as ws:
                ws.send("2probe")
                assert ws.recv(timeout=5) == "3probe"
                # The subscribe goes by polling just before the upgrade completes: its ack and replay,
                # queued for a poll, must come over the WebSocket, and live events after the move.
                assert post(sio_hub, sid, f'42{attempt}["subscribe",{{"topic":"{topic}"}}]') == "ok"
                time.sleep(attempt * 0.001)
                ws.send("5")
                frames, texts, acks = [], [], []
                deadline = time.monotonic() + 5
                published = False
                while time.monotonic() < deadline and not (acks and "".join(texts) == "abc"):
                    try:
                        frame = ws.recv(timeout=0.2)
                    except TimeoutError:
                        # Anything the polling side got before the move comes in a poll answer.
                        frame = None
                    if frame is None:
                        if acks and not published:
                            publish(http, sio_hub, topic, deltas("c"))
                            published = True
                        continue
                    for packet in frame.split("\x1e"):
                        if packet.startswith(f"43{attempt}["):
                            acks.append(packet)
                        elif packet.startswith('42["text_delta"'):
                            texts.append(json.loads(packet[2:])[1]["text"])
                        elif packet == "2":
                            ws.send("3")
                assert len(acks) == 1, (attempt, acks)
                assert "".join(texts) == "abc", (attempt, texts)


def test_websocket_message_over_max_payload_closes_with_1009_and_metrics_count_sessions(start_hub):
    hub = start_hub(env={"NEWSROOM_SOCKETIO_MAX_PAYLOAD": "1000"})
    viewer = Viewer(hub.url, ["polling"])
    try:
        with ws_connect(ws_url(hub)) as ws:
            ws.recv(timeout=5)
            metrics = httpx.get(f"{hub.url}/metrics").text
            assert 'newsroom_socketio_sessions{transport="websocket"} 1' in metrics
            assert 'newsroom_socketio_sessions{transport="polling"} 1' in metrics
            ws.send("4" + "x" * 2000)
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    ws.recv(timeout=5)
            assert closed.value.rcvd.code == 1009
        assert wait_until(lambda: 'newsroom_socketio_sessions{transport="websocket"} 0' in httpx.get(f"{hub.url}/metrics").text)
        assert 'newsroom_socketio_sessions_closed_total{reason="transport_closed"}' in httpx.get(f"{hub.url}/metrics").text
    finally:
        viewer.client.disconnect()
