"""WebSocket on the hub's port, with the `websockets` client (pip) and a raw client for hostile frames."""

import json
import socket
import struct
import threading
import time

import httpx
import pytest
from websockets.sync.client import connect as ws_connect

from conftest import publish, wait_until, wait_subscribers
from wsraw import RawWebSocket


def ws_url(hub, path):
    return hub.url.replace("http://", "ws://") + path


def text(words):
    return [{"type": "text_delta", "text": w} for w in words]


def test_single_topic_socket_receives_every_event_in_order_and_closes_1000(hub):
    with httpx.Client() as client, ws_connect(ws_url(hub, "/v1/topics/ws1/ws")) as ws:
        wait_subscribers(hub, "ws1")
        publish(client, hub, "ws1", [{"type": "stream_start"}] + text([f"t{i} " for i in range(50)]))
        publish(client, hub, "ws1", [{"type": "stream_complete", "finish_reason": "stop"}])
        events = []
        try:
            while True:
                event = json.loads(ws.recv(timeout=5))
                if event["type"] != "heartbeat":
                    events.append(event)
        except Exception:
            pass
        assert ws.close_code == 1000
    assert [e["seq"] for e in events] == list(range(1, 53))
    assert "".join(e["text"] for e in events if e["type"] == "text_delta") == "".join(f"t{i} " for i in range(50))


def test_single_topic_resume_with_after(hub):
    with httpx.Client() as client:
        publish(client, hub, "ws2", text(["a", "b", "c"]) + [{"type": "stream_complete", "finish_reason": "stop"}])
        with ws_connect(ws_url(hub, "/v1/topics/ws2/ws?after=2")) as ws:
            seqs = []
            try:
                while True:
                    seqs.append(json.loads(ws.recv(timeout=5))["seq"])
            except Exception:
                pass
    assert seqs == [3, 4]


def test_multiplexed_socket_subscribes_publishes_and_unsubscribes(hub):
    with ws_connect(ws_url(hub, "/v1/ws")) as ws:
        events = []  # events that arrived while waiting for replies

        def request(command):
            ws.send(json.dumps(command))
            while True:
                message = json.loads(ws.recv(timeout=5))
                if message.get("op") in ("ok", "error") and message.get("id") == command.get("id"):
                    return message
                events.append(message)

        assert request({"op": "subscribe", "topic": "m1", "id": 1})["op"] == "ok"
        assert request({"op": "subscribe", "topic": "m2", "id": "two"})["op"] == "ok"
        assert request({"op": "subscribe", "topic": "m1", "id": 3})["code"] == "already_subscribed"
        ok = request({"op": "publish", "topic": "m1", "id": 4, "event": {"type": "text_delta", "text": "one"}})
        assert ok["op"] == "ok" and ok["first_seq"] == 1 and ok["last_seq"] == 1
        bad = request({"op": "publish", "topic": "m2", "id": 5, "event": {"type": "text_delta"}})
        assert bad["op"] == "error" and bad["code"] == "invalid_event" and "text" in bad["message"]
        assert request({"op": "publish", "topic": "m2", "id": 6, "event": {"type": "text_delta", "text": "two"}})["op"] == "ok"
        deadline = time.monotonic() + 5
        while len([e for e in events if e.get("type") == "text_delta"]) < 2 and time.monotonic() < deadline:
            events.append(json.loads(ws.recv(timeout=5)))
        received = [(e["topic"], e["text"]) for e in events if e.get("type") == "text_delta"]
        assert sorted(received) == [("m1", "one"), ("m2", "two")]
        assert request({"op": "unsubscribe", "topic": "m1", "id": 7})["op"] == "ok"
        assert request({"op": "unsubscribe", "topic": "m1", "id": 8})["code"] == "not_subscribed"
        # malformed input gets an error reply and the socket stays up
        ws.send("{nope")
        assert json.loads(ws.recv(timeout=5))["code"] == "invalid_json"
        assert request({"op": "dance", "id": 9})["code"] == "unknown_op"
        assert request({"op": "subscribe", "topic": "bad topic", "id": 10})["code"] == "invalid_topic"
        # cancel a topic over the socket: subscribers see stream_complete(cancelled)
        assert request({"op": "cancel", "topic": "m2", "id": 11})["state"] == "ended"
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            message = events.pop(0) if events else json.loads(ws.recv(timeout=5))
            if message.get("type") == "stream_complete":
                assert message["topic"] == "m2" and message["finish_reason"] == "cancelled"
                break
        else:
            pytest.fail("no stream_complete for the cancelled topic")


def test_back_to_back_publishes_keep_their_order_behind_a_command_answered_later(hub):
    """Publishes are answered at once when nothing is pending, and queue behind a command that is
    answered off the loop (here a cancel): either way a socket's tokens land in the order sent."""
    with httpx.Client() as client:
        assert publish(client, hub, "order-other", text(["x"])).status_code == 202
    with ws_connect(ws_url(hub, "/v1/ws")) as ws:
        ws.send(json.dumps({"op": "cancel", "topic": "order-other", "id": "c"}))
        words = [f"w{i} " for i in range(60)]
        for i, word in enumerate(words):
            ws.send(json.dumps({"op": "publish", "topic": "order", "id": i, "event": {"type": "text_delta", "text": word}}))
        replies = {}
        order = []
        while len(replies) < 61:
            message = json.loads(ws.recv(timeout=10))
            if message.get("op") in ("ok", "error"):
                replies[message["id"]] = message
                order.append(message["id"])
    assert replies["c"]["op"] == "ok"
    # Answered in the order sent: no publish overtook the cancel still being answered.
    assert order == ["c"] + list(range(60))
    assert [replies[i]["first_seq"] for i in range(60)] == list(range(1, 61))
    # The replay merges consecutive deltas (each merged event carries the last seq it holds): the text,
    # read up to seq 60, is the words in the order sent.
    received = ""
    with ws_connect(ws_url(hub, "/v1/topics/order/ws?after=0")) as viewer:
        last = 0
        while last < 60:
            message = json.loads(viewer.recv(timeout=10))
            if message.get("type") == "text_delta":
                received += message["text"]
                last = message["seq"]
    assert received == "".join(words)


def test_fragmented_command_with_a_ping_between_fragments(hub):
    raw = RawWebSocket(hub.port, "/v1/ws")
    command = json.dumps({"op": "subscribe", "topic": "frag", "id": 42}).encode()
    raw.send_frame(0x1, command[:10], fin=False)
    raw.send_frame(0x9, b"are you there")  # a control frame between fragments
    raw.send_frame(0x0, command[10:20], fin=False)
    raw.send_frame(0x0, command[20:], fin=True)
    frames = []
    while not any(op == 0x1 for op, _ in frames):
        frames.append(raw.recv_frame())  # server pings (0x9) may come in between
    assert (0xA, b"are you there") in frames
    reply = next(json.loads(p) for op, p in frames if op == 0x1)
    assert reply == {"op": "ok", "id": 42, "topic": "frag"}
    raw.close()


@pytest.mark.parametrize(
    "action, code",
    [
        ("binary", 1003),
        ("invalid_utf8", 1007),
        ("unmasked", 1002),
        ("too_big", 1009),
        ("huge_length", 1009),
    ],
)
def test_bad_frames_get_their_close_code_and_others_keep_receiving(start_hub, action, code):
    hub = start_hub(env={"NEWSROOM_HTTP_WEB_SOCKET_MAX_MESSAGE_BYTES": "65536"})
    with ws_connect(ws_url(hub, "/v1/topics/side/ws")) as side, httpx.Client() as client:
        raw = RawWebSocket(hub.port, "/v1/ws")
        if action == "binary":
            raw.send_frame(0x2, b"\x00\x01")
        elif action == "invalid_utf8":
            raw.send_frame(0x1, b'{"op":"\xc3\x28"}')
        elif action == "unmasked":
            raw.send_frame(0x1, b'{"op":"subscribe","topic":"x"}', mask=False)
        elif action == "too_big":
            raw.send_frame(0x1, b"x" * 100_000)
        elif action == "huge_length":
            raw.send_frame(0x1, b"", claimed_length=(1 << 63) - 1)
        _, close_code, _ = raw.recv_until_close()
        assert close_code == code
        raw.close()
        publish(client, hub, "side", text(["still", " here"]))
        got = [json.loads(side.recv(timeout=5)) for _ in range(2)]
        assert [e["text"] for e in got] == ["still", " here"]


def test_slow_consumer_under_disconnect_is_closed_with_4008(start_hub):
    hub = start_hub("--queue-max-events", "16", env={"NEWSROOM_HTTP_SEND_BUFFER_BYTES": "4096"})
    raw = RawWebSocket(hub.port, "/v1/topics/slow/ws?policy=disconnect", rcvbuf=4096)
    wait_subscribers(hub, "slow")
    with httpx.Client() as client:
        for i in range(0, 2000, 100):
            publish(client, hub, "slow", [{"type": "text_delta", "text": f"{j}:" + "y" * 300} for j in range(i, i + 100)])
    # now read: what was buffered, then the close frame
    texts, close_code, reason = raw.recv_until_close()
    assert close_code == 4008
    assert "slow" in reason
    assert len(texts) < 2000
    raw.close()


def test_server_pings_and_closes_a_socket_that_never_answers(start_hub):
    hub = start_hub("--heartbeat-interval", "0.3")
    # the websockets client answers pings: it stays open
    with ws_connect(ws_url(hub, "/v1/ws")) as good:
        raw = RawWebSocket(hub.port, "/v1/ws")
        pings = 0
        start = time.monotonic()
        close_code = None
        while time.monotonic() - start < 5:
            opcode, payload = raw.recv_frame()
            if opcode == 0x9:
                pings += 1  # never answered
            elif opcode == 0x8:
                close_code = struct.unpack("!H", payload[:2])[0]
                break
        assert pings >= 2
        assert close_code == 1001
        good.send(json.dumps({"op": "subscribe", "topic": "alive", "id": 1}))
        assert json.loads(good.recv(timeout=5))["op"] == "ok"


def test_heartbeat_events_reach_idle_websocket_subscribers(start_hub):
    hub = start_hub("--heartbeat-interval", "0.2")
    with ws_connect(ws_url(hub, "/v1/topics/quiet/ws")) as ws:
        event = json.loads(ws.recv(timeout=5))
        assert event["type"] == "heartbeat" and "seq" not in event


def test_generate_without_a_generation_service_is_unsupported_or_bad_provider(hub):
    with ws_connect(ws_url(hub, "/v1/ws")) as ws:
        ws.send(json.dumps({"op": "generate", "id": 1, "provider": "nope", "request": {}}))
        reply = json.loads(ws.recv(timeout=5))
        assert reply["op"] == "error" and reply["code"] in ("unsupported", "unknown_provider")


def test_plain_get_on_a_websocket_endpoint_is_426_and_bad_topic_400(hub):
    with httpx.Client() as client:
        assert client.get(f"{hub.url}/v1/topics/x/ws").status_code == 426
        assert client.get(f"{hub.url}/v1/topics/bad%20x/ws").json()["error"]["code"] == "invalid_topic"
