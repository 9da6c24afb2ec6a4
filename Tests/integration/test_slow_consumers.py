"""The slow-consumer policies over WebSocket and gRPC, through the binary (SSE's are in test_sse.py and
test_probe_regressions.py): a viewer that stops reading while an answer streams, then reads again.

- coalesce: the stalled viewer gets the exact text (deltas merged), seqs increasing, no gap.
- drop_oldest: it gets `gap` events whose ranges are disjoint from the seqs it received and, together
  with them, cover every seq; a resume from `from - 1` refills exactly the missing events.
- disconnect: the viewer is told (`slow_consumer` notice; WebSocket close 4008; gRPC RESOURCE_EXHAUSTED).

The hub runs with a small per-subscriber queue and socket send buffer so that a stall is reached with a
few hundred kilobytes. The WebSocket viewer is a raw socket with a 4 KiB receive buffer (a library client
reads into its own queue); the gRPC viewer is grpcio with flow control tied to what the application reads
(no BDP probing, a small lookahead), so not iterating the call stops the stream's window.
"""

import json
import threading
import time

import httpx
import pytest

from conftest import publish, wait_subscribers, wait_until
from wsraw import RawWebSocket

grpc = pytest.importorskip("grpc", reason="grpcio is not installed (pip install -r Tests/integration/requirements.txt)")

from grpc_support import generate_stubs  # noqa: E402

COUNT = 2000
SIZE = 300
SMALL_BUFFERS = ("--queue-max-events", "64")  # bytes stay 1 MiB: coalesced text must fit
SMALL_SEND_BUFFER = {"NEWSROOM_HTTP_SEND_BUFFER_BYTES": "4096"}


@pytest.fixture(scope="module")
def stubs():
    return generate_stubs()


def answer_text(j):
    return f"{j}:" + "x" * SIZE


def stream_answer(hub, topic):
    """Publishes COUNT text deltas in batches, then stream_complete; returns the full text."""
    with httpx.Client(timeout=10) as client:
        for i in range(0, COUNT, 50):
            publish(client, hub, topic, [{"type": "text_delta", "text": answer_text(j)} for j in range(i, i + 50)])
        publish(client, hub, topic, [{"type": "stream_complete", "finish_reason": "stop"}])
    return "".join(answer_text(j) for j in range(COUNT))


def read_stalled_websocket(hub, topic, policy):
    """A WebSocket viewer that reads nothing while the answer streams, then everything: (events, close code)."""
    raw = RawWebSocket(hub.port, f"/v1/topics/{topic}/ws?policy={policy}", rcvbuf=4096, timeout=10)
    assert raw.status == 101
    wait_subscribers(hub, topic)
    expected = stream_answer(hub, topic)
    texts, code, _ = raw.recv_until_close()
    raw.close()
    return [json.loads(text) for text in texts], code, expected


def assert_gaps_are_disjoint_and_refillable(events, resume, expected_count):
    """`gap` ranges never overlap received seqs; received + gaps = 1…expected_count; a resume from each
    gap's `from - 1` returns the missing seqs (checked through `resume(after)` → events)."""
    received = [e["seq"] for e in events if e["type"] != "gap" and "seq" in e]
    gaps = [(e["from"], e["to"]) for e in events if e["type"] == "gap"]
    assert gaps, "drop_oldest never dropped: the stall did not fill the queue"
    assert received == sorted(received) and len(set(received)) == len(received)
    covered = set(received)
    for first, last in gaps:
        span = set(range(first, last + 1))
        assert not span & covered, (first, last)
        covered |= span
    assert covered == set(range(1, expected_count + 1))
    first, last = gaps[0]
    refill = resume(first - 1)
    refilled = [e["seq"] for e in refill if e["type"] == "text_delta"]
    # A replay merges consecutive deltas into one event carrying the last seq; the text tells them apart.
    text = "".join(e["text"] for e in refill if e["type"] == "text_delta")
    assert refilled and refilled[-1] >= last
    assert text.startswith("".join(answer_text(seq - 1) for seq in range(first, last + 1)))


def test_websocket_coalesce_gives_a_stalled_viewer_the_exact_text(start_hub):
    hub = start_hub(*SMALL_BUFFERS, env=SMALL_SEND_BUFFER)
    events, code, expected = read_stalled_websocket(hub, "ws-coalesce", "coalesce")
    deltas = [e for e in events if e["type"] == "text_delta"]
    assert code == 1000
    assert events[-1]["type"] == "stream_complete"
    assert not [e for e in events if e["type"] in ("gap", "error")]
    assert "".join(e["text"] for e in deltas) == expected
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and seqs[-1] == COUNT + 1
    assert len(deltas) < COUNT, "nothing was coalesced: the viewer never fell behind"


def test_websocket_drop_oldest_reports_gaps_that_a_resume_refills(start_hub):
    hub = start_hub(*SMALL_BUFFERS, env=SMALL_SEND_BUFFER)
    events, code, _ = read_stalled_websocket(hub, "ws-drop", "drop_oldest")
    assert code == 1000 and events[-1]["type"] == "stream_complete"

    def resume(after):
        raw = RawWebSocket(hub.port, f"/v1/topics/ws-drop/ws?after={after}", timeout=10)
        texts, _, _ = raw.recv_until_close()
        raw.close()
        return [json.loads(text) for text in texts]

    # stream_start is absent here: seq 1 is the first delta (stream_answer publishes none), so seq = j + 1.
    assert_gaps_are_disjoint_and_refillable(events, resume, COUNT + 1)


def test_websocket_disconnect_tells_the_viewer_before_closing_with_4008(start_hub):
    hub = start_hub(*SMALL_BUFFERS, env=SMALL_SEND_BUFFER)
    events, code, _ = read_stalled_websocket(hub, "ws-disconnect", "disconnect")
    assert code == 4008
    notices = [e for e in events if e["type"] == "error" and e.get("code") == "slow_consumer"]
    assert notices and notices[-1].get("retryable") is True and not notices[-1].get("terminal")
    assert len([e for e in events if e["type"] == "text_delta"]) < COUNT


def grpc_channel(hub):
    # Flow control follows what the application reads: no BDP probing, a small read-ahead.
    return grpc.insecure_channel(f"127.0.0.1:{hub.port}", options=[
        ("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 1024)])


def read_stalled_grpc(stubs, hub, topic, policy):
    """A gRPC viewer that iterates nothing while the answer streams, then everything: (events, status)."""
    pb = stubs.pb
    with grpc_channel(hub) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        stub = stubs.rpc.NewsroomStub(channel)
        call = stub.Subscribe(pb.SubscribeRequest(topic=topic, policy=policy), timeout=60)
        wait_subscribers(hub, topic)
        expected = stream_answer(hub, topic)
        time.sleep(0.5)
        events, status = [], grpc.StatusCode.OK
        try:
            for event in call:
                events.append(event)
        except grpc.RpcError as error:
            status = error.code()
        return events, status, expected


def test_grpc_coalesce_gives_a_stalled_viewer_the_exact_text(stubs, start_hub):
    hub = start_hub(*SMALL_BUFFERS, env=SMALL_SEND_BUFFER)
    events, status, expected = read_stalled_grpc(stubs, hub, "grpc-coalesce", stubs.pb.SLOW_CONSUMER_POLICY_COALESCE)
    kinds = [e.WhichOneof("payload") for e in events]
    assert status == grpc.StatusCode.OK
    assert kinds[-1] == "stream_complete" and "gap" not in kinds and "error" not in kinds
    assert "".join(e.text_delta.text for e in events if e.HasField("text_delta")) == expected
    seqs = [e.seq for e in events if e.seq]
    assert seqs == sorted(seqs) and seqs[-1] == COUNT + 1
    assert kinds.count("text_delta") < COUNT, "nothing was coalesced: the viewer never fell behind"


def test_grpc_drop_oldest_reports_gaps_that_a_resume_refills(stubs, start_hub):
    hub = start_hub(*SMALL_BUFFERS, env=SMALL_SEND_BUFFER)
    events, status, _ = read_stalled_grpc(stubs, hub, "grpc-drop", stubs.pb.SLOW_CONSUMER_POLICY_DROP_OLDEST)
    assert status == grpc.StatusCode.OK

    def as_dict(event):
        kind = event.WhichOneof("payload")
        if kind == "gap":
            return {"type": "gap", "from": event.gap.from_seq, "to": event.gap.to_seq}
        entry = {"type": kind, "seq": event.seq}
        if kind == "text_delta":
            entry["text"] = event.text_delta.text
        return entry

    def resume(after):
        with grpc_channel(hub) as channel:
            stub = stubs.rpc.NewsroomStub(channel)
            return [as_dict(e) for e in stub.Subscribe(stubs.pb.SubscribeRequest(topic="grpc-drop", after=after),
                                                       timeout=30)]

    converted = [as_dict(e) for e in events if e.seq or e.WhichOneof("payload") == "gap"]
    assert_gaps_are_disjoint_and_refillable(converted, resume, COUNT + 1)


def test_grpc_disconnect_ends_the_call_with_resource_exhausted(stubs, start_hub):
    hub = start_hub(*SMALL_BUFFERS, env=SMALL_SEND_BUFFER)
    events, status, _ = read_stalled_grpc(stubs, hub, "grpc-disconnect", stubs.pb.SLOW_CONSUMER_POLICY_DISCONNECT)
    assert status == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert len([e for e in events if e.HasField("text_delta")]) < COUNT
    # The others are not held back: a new viewer gets the whole answer at once.
    with grpc_channel(hub) as channel:
        stub = stubs.rpc.NewsroomStub(channel)
        fresh = list(stub.Subscribe(stubs.pb.SubscribeRequest(topic="grpc-disconnect"), timeout=30))
    assert fresh[-1].HasField("stream_complete")
