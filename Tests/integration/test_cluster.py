"""Two hub nodes sharing topics through a real `redis-server` (the Redis broker), black-box: every test
starts its own Redis on a free loopback port (in a temporary directory, killed at teardown) and two
`newsroom serve --broker redis://…` processes, and talks to them with httpx / httpx-sse, or raw
sockets for the thousand-viewer test."""

import asyncio
import json
import resource
import shutil
import signal
import subprocess
import threading
import time

import httpx
import pytest

from cluster_support import COMPLETE, Node, RawSSE, RedisServer, delta, events_url, publish, redis_command, viewers  # noqa: F401 (fixture)
from conftest import BINARY, wait_until

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None,
                                reason="redis-server (Debian package redis-server) is not installed")


# ----------------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture
def redis(tmp_path):
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop(signal.SIGKILL)


@pytest.fixture
def persistent_redis(tmp_path):
    server = RedisServer(tmp_path / "redis-aof", persistence=True).start()
    yield server
    server.stop(signal.SIGKILL)


@pytest.fixture
def start_node(tmp_path):
    nodes = []

    def start(redis_server, name, env=None):
        node = Node(redis_server.url, tmp_path / f"hub-{name}.log", env=env)
        nodes.append(node)
        return node

    yield start
    for node in nodes:
        node.stop()


@pytest.fixture
def pair(redis, start_node):
    return start_node(redis, "a"), start_node(redis, "b")


@pytest.fixture
def replay():
    proc = subprocess.Popen([str(BINARY), "replay-upstream", "--port", "0", "--event-delay-ms", "20"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    assert "listening on" in line, line
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    yield line.strip().split("listening on ")[1]
    proc.kill()
    proc.wait(timeout=10)


def provider_env(replay_url):
    return {"NEWSROOM_PROVIDER_OPENAI_BASE_URL": replay_url, "NEWSROOM_PROVIDER_OPENAI_API_KEY": "sk-cluster-test"}


def slow_chat(delay_ms):
    """An OpenAI chat request the replay upstream answers with its 16-event transcript, `delay_ms` apart."""
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
            "replay_behavior": f"delay={delay_ms}"}




def ids(items):
    return [int(i) for i, _ in items]


def text_of(items):
    return "".join(e["text"] for _, e in items if e["type"] == "text_delta")


def wait_reconnected(redis_server, topic_channels=(), timeout=15.0):
    """Both nodes are connected to (the restarted) Redis again and subscribed to the control channel and
    to the given topic channels."""
    def ready():
        try:
            if len(redis_server.clients()) != 2:
                return False
            control = redis_command(redis_server.port, "PUBSUB", "NUMSUB", "nr:control")[1]
            # Topic channels: SUBSCRIBE, or SSUBSCRIBE with NEWSROOM_BROKER_SHARDED=true.
            plain = redis_command(redis_server.port, "PUBSUB", "NUMSUB", *topic_channels)[1::2] if topic_channels else []
            sharded = (redis_command(redis_server.port, "PUBSUB", "SHARDNUMSUB", *topic_channels)[1::2]
                       if topic_channels else [])
            return control == 2 and all(p + s >= 1 for p, s in zip(plain, sharded))
        except (OSError, RuntimeError, ConnectionError):
            return False
    assert wait_until(ready, timeout=timeout, interval=0.05), "the nodes did not reconnect and resubscribe"


# ----------------------------------------------------------------------------------------------------
# 1. Publish on one node, viewers on both


def test_an_event_published_on_either_node_reaches_viewers_on_both_with_the_same_seqs(pair, viewers):
    a, b = pair
    topic = "cross-1"
    on_a, on_b = viewers(events_url(a, topic)), viewers(events_url(b, topic))
    receipts = []
    with httpx.Client(timeout=10) as client:
        for i in range(5):  # A → B
            r = publish(client, a, topic, [delta(f"a{i} ")])
            assert r.status_code == 202, r.text
            receipts.append(r.json())
        for i in range(5):  # B → A
            r = publish(client, b, topic, [delta(f"b{i} ")])
            assert r.status_code == 202, r.text
            receipts.append(r.json())
        r = publish(client, b, topic, [delta("batch "), delta("of two ")])  # an NDJSON batch on B
        assert r.status_code == 202 and r.json()["first_seq"] == 11 and r.json()["last_seq"] == 12
        assert publish(client, a, topic, [COMPLETE]).json()["last_seq"] == 13
    # One global numbering, whichever node took the publish.
    assert [(r["first_seq"], r["last_seq"]) for r in receipts] == [(s, s) for s in range(1, 11)]
    seen_a, seen_b = on_a.until_end(), on_b.until_end()
    assert ids(seen_a) == ids(seen_b) == list(range(1, 14))
    # Byte for byte the same events (seq, text, the publish-time ts) on both nodes.
    assert [e for _, e in seen_a] == [e for _, e in seen_b]
    assert all(int(i) == e["seq"] for i, e in seen_a)
    assert text_of(seen_a) == "".join(f"a{i} " for i in range(5)) + "".join(f"b{i} " for i in range(5)) + "batch of two "
    assert seen_a[-1][1]["type"] == "stream_complete"
    on_a.wait_closed()
    on_b.wait_closed()
    assert a.topic(topic)["last_seq"] == b.topic(topic)["last_seq"] == 13
    assert a.topic(topic)["state"] == b.topic(topic)["state"] == "ended"


# ----------------------------------------------------------------------------------------------------
# 2. Late joiner on the other node


def test_a_late_joiner_on_b_sees_the_whole_history_of_a_topic_that_ended_on_a(pair, viewers):
    a, b = pair
    topic = "late-1"
    words = [f"w{i} " for i in range(12)]
    with httpx.Client(timeout=10) as client:
        start = {"type": "stream_start", "provider": "test", "model": "m1"}
        assert publish(client, a, topic, [start]).status_code == 202
        for word in words[:6]:
            assert publish(client, a, topic, [delta(word)]).status_code == 202
        r = publish(client, a, topic, [*map(delta, words[6:]), COMPLETE])
        assert r.status_code == 202
        last = r.json()["last_seq"]
        assert last == 14
        # B never had a viewer of this topic, yet answers for it (mirroring it from Redis).
        info = b.topic(topic)
        assert info is not None and info["state"] == "ended" and info["last_seq"] == last
        assert b.topic("never-published") is None
        # Nothing can be published after the end, on either node.
        assert publish(client, b, topic, [delta("late")]).status_code == 409
    late = viewers(events_url(b, topic))
    seen = late.until_end()
    late.wait_closed()
    # The replay may merge consecutive deltas (each merged event carries the last seq of its run):
    # the whole text, in order, from stream_start to stream_complete, and strictly increasing ids.
    assert seen[0][1]["type"] == "stream_start" and seen[0][1]["provider"] == "test" and int(seen[0][0]) == 1
    assert seen[-1][1]["type"] == "stream_complete" and int(seen[-1][0]) == last
    assert text_of(seen) == "".join(words)
    assert ids(seen) == sorted(set(ids(seen)))
    assert not [e for _, e in seen if e["type"] == "error"]
    info = b.topic(topic)
    assert info["state"] == "ended" and info["last_seq"] == last and info["first_seq"] == 1
    # Resuming on B with the final seq: nothing more, ever (204 stops EventSource reconnecting).
    with httpx.Client(timeout=10) as client:
        r = client.get(events_url(b, topic), headers={"Last-Event-ID": str(last)})
        assert r.status_code == 204


# ----------------------------------------------------------------------------------------------------
# 3. Resume on the other node


def test_a_viewer_resumes_on_b_with_the_last_event_id_it_got_from_a(pair, viewers):
    a, b = pair
    topic = "resume-1"
    # Alternating `index` keeps consecutive deltas from being merged in the replay, so every event
    # comes back as itself and the ids can be compared one by one.
    first, rest = [delta(f"x{i} ", i % 2) for i in range(6)], [delta(f"y{i} ", i % 2) for i in range(7)]
    on_a = viewers(events_url(a, topic))
    with httpx.Client(timeout=10) as client:
        for event in first:
            assert publish(client, a, topic, [event]).status_code == 202
        got = on_a.take(len(first))
        assert ids(got) == list(range(1, 7))
        last_id = got[-1][0]
        on_a.close()  # the viewer's network drops
        for event in rest:
            assert publish(client, a, topic, [event]).status_code == 202
        assert publish(client, a, topic, [COMPLETE]).json()["last_seq"] == 14
    resumed = viewers(events_url(b, topic), headers={"Last-Event-ID": last_id})
    seen = resumed.until_end()
    assert ids(seen) == list(range(7, 15)), "exactly the rest: no duplicate, no gap"
    assert [e["text"] for _, e in seen[:-1]] == [e["text"] for e in rest]
    assert seen[-1][1]["type"] == "stream_complete"
    assert not [e for _, e in seen if e["type"] == "error"]
    # `?after=` on B, mid-way, gives the same tail.
    tail = viewers(events_url(b, topic, "?after=10")).until_end()
    assert ids(tail) == list(range(11, 15))


def test_a_live_viewer_on_b_resumes_on_a_while_the_topic_is_still_streaming(pair, viewers):
    a, b = pair
    topic = "resume-2"
    with httpx.Client(timeout=10) as client:
        on_b = viewers(events_url(b, topic))
        for i in range(4):
            assert publish(client, a, topic, [delta(f"p{i} ", i % 2)]).status_code == 202
        got = on_b.take(4)
        on_b.close()
        for i in range(4, 8):
            assert publish(client, b, topic, [delta(f"p{i} ", i % 2)]).status_code == 202
        again = viewers(events_url(a, topic), headers={"Last-Event-ID": got[-1][0]})
        assert ids(again.take(4)) == [5, 6, 7, 8]  # replayed from A's mirror of the shared history
        for i in range(8, 10):  # … then live, still without a gap
            assert publish(client, b, topic, [delta(f"p{i} ", i % 2)]).status_code == 202
        assert ids(again.take(2)) == [9, 10]


# ----------------------------------------------------------------------------------------------------
# 4. A thousand viewers over both nodes


def test_a_thousand_viewers_over_both_nodes_all_receive_every_event_in_order(pair):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if max(soft, hard) < 1200:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is too low for 1,000 sockets")
    a, b = pair
    topic = "fanout-1000"
    per_node, count = 500, 20

    async def scenario():
        clients = [RawSSE(node.port, f"/v1/topics/{topic}/events") for node in (a, b) for _ in range(per_node)]
        tasks = []
        for start in range(0, len(clients), 100):  # connect in waves, well inside the listen backlog
            for client in clients[start:start + 100]:
                tasks.append(asyncio.create_task(client.run()))
            await asyncio.wait_for(asyncio.gather(*(c.subscribed.wait() for c in clients[start:start + 100])), 20)
        loop = asyncio.get_running_loop()
        assert await loop.run_in_executor(None, a.subscribers, topic) == per_node
        assert await loop.run_in_executor(None, b.subscribers, topic) == per_node

        def publish_all():
            with httpx.Client(timeout=10) as client:
                for i in range(count):  # alternately on each node, ~100 events/s
                    node = a if i % 2 == 0 else b
                    assert publish(client, node, topic, [delta(f"t{i} ")]).status_code == 202
                    time.sleep(0.01)
                assert publish(client, a, topic, [COMPLETE]).status_code == 202

        started = time.monotonic()
        await loop.run_in_executor(None, publish_all)
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
        return clients, time.monotonic() - started

    clients, elapsed = asyncio.run(asyncio.wait_for(scenario(), 55))
    expected_text = "".join(f"t{i} " for i in range(count))
    for client in clients:
        assert ids(client.events) == list(range(1, count + 2)), (client.port, ids(client.events))
        assert text_of(client.events) == expected_text
        assert client.events[-1][1]["type"] == "stream_complete"
    assert elapsed < 30


# ----------------------------------------------------------------------------------------------------
# 5. Cancel a generation through the other node


def test_a_generation_started_on_a_is_cancelled_through_b(redis, start_node, replay, viewers):
    a = start_node(redis, "a", env=provider_env(replay))
    b = start_node(redis, "b", env=provider_env(replay))
    topic = "gen-cancel"
    with httpx.Client(timeout=10) as client:
        r = client.post(f"{a.url}/v1/generations",
                        json={"provider": "openai", "topic": topic, "request": slow_chat(400)})
        assert r.status_code == 201, r.text
        generation = r.json()["generation"]
        on_a, on_b = viewers(events_url(a, topic)), viewers(events_url(b, topic))
        before = on_b.until(lambda e: e["type"] == "text_delta", timeout=10)
        # The generation runs on A; B answers for its id from the shared record …
        remote = client.get(f"{b.url}/v1/generations/{generation}")
        assert remote.status_code == 200, remote.text
        assert remote.json()["state"] == "running" and remote.json()["topic"] == topic
        assert client.get(f"{b.url}/v1/generations/gen_unknown").status_code == 404
        # … and ends its topic, which reaches the node that runs it.
        started = time.monotonic()
        r = client.delete(f"{b.url}/v1/topics/{topic}")
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "ended"
        rest_b = on_b.until_end(timeout=10)
        took = time.monotonic() - started
        seen_b = before + rest_b
        seen_a = on_a.until_end(timeout=10)
        for seen in (seen_a, seen_b):
            assert seen[-1][1]["type"] == "stream_complete" and seen[-1][1]["finish_reason"] == "cancelled"
            assert not [e for _, e in seen if e["type"] == "error"]
        assert seen_a[-1] == seen_b[-1]
        assert text_of(seen_b).startswith("The")
        assert took < 5, f"the cancel took {took:.1f} s to reach B's viewers"
        # The owner aborted the upstream request: the replay upstream saw its client close the connection.
        def aborted():
            requests = client.get(f"{replay}/__replay/requests").json()
            return len(requests) == 1 and requests[0]["client_closed"]
        assert wait_until(aborted, timeout=5), client.get(f"{replay}/__replay/requests").json()
        assert client.get(f"{a.url}/v1/generations/{generation}").json()["state"] == "cancelled"
        # The owner recorded the end for every node.
        assert wait_until(
            lambda: client.get(f"{b.url}/v1/generations/{generation}").json()["state"] == "cancelled", timeout=5)
        # Cancelling again (on either node) is idempotent; a new generation on the ended topic is refused.
        assert client.delete(f"{b.url}/v1/topics/{topic}").json()["state"] == "ended"
        assert client.delete(f"{a.url}/v1/topics/{topic}").json()["state"] == "ended"
        r = client.post(f"{b.url}/v1/generations", json={"provider": "openai", "topic": topic, "request": slow_chat(10)})
        assert r.status_code == 409


def generation_on_a_watched_on_b(redis, start_node, replay, viewers, client, topic):
    """Two nodes; a slow generation started on A; a viewer on B that has seen its first delta.
    Returns (a, b, generation id, B's viewer)."""
    a = start_node(redis, "a", env=provider_env(replay))
    b = start_node(redis, "b", env=provider_env(replay))
    r = client.post(f"{a.url}/v1/generations", json={"provider": "openai", "topic": topic, "request": slow_chat(400)})
    assert r.status_code == 201, r.text
    on_b = viewers(events_url(b, topic))
    on_b.until(lambda e: e["type"] == "text_delta", timeout=10)
    return a, b, r.json()["generation"], on_b


def test_a_generation_is_cancelled_by_its_id_on_the_other_node(redis, start_node, replay, viewers):
    """`DELETE /v1/generations/{id}` works on whichever node the load balancer picks."""
    with httpx.Client(timeout=10) as client:
        a, b, generation, on_b = generation_on_a_watched_on_b(redis, start_node, replay, viewers, client, "gen-cancel-by-id")
        r = client.delete(f"{b.url}/v1/generations/{generation}")
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "cancelled" and r.json()["generation"] == generation
        seen = on_b.until_end(timeout=10)
        assert seen[-1][1]["type"] == "stream_complete" and seen[-1][1]["finish_reason"] == "cancelled"
        assert wait_until(lambda: client.get(f"{replay}/__replay/requests").json()[0]["client_closed"], timeout=5)
        assert client.get(f"{a.url}/v1/generations/{generation}").json()["state"] == "cancelled"
        assert client.delete(f"{b.url}/v1/generations/gen_unknown").status_code == 404


def assert_cancelled_on_its_owner(client, replay, a, generation, seen):
    """The viewer saw `stream_complete(cancelled)`, the owner aborted the upstream request, and the
    generation's state is `cancelled`."""
    assert seen[-1][1]["type"] == "stream_complete" and seen[-1][1]["finish_reason"] == "cancelled"
    assert wait_until(lambda: client.get(f"{replay}/__replay/requests").json()[0]["client_closed"], timeout=5)
    assert client.get(f"{a.url}/v1/generations/{generation}").json()["state"] == "cancelled"


@pytest.mark.parametrize("target", ["generation", "topic"])
def test_a_generation_is_cancelled_over_a_websocket_on_the_other_node(redis, start_node, replay, viewers, target):
    """The WebSocket API's `cancel` op (by generation id or by topic) on B ends a generation running on A."""
    from websockets.sync.client import connect as ws_connect

    with httpx.Client(timeout=10) as client:
        topic = f"ws-cancel-{target}"
        a, b, generation, on_b = generation_on_a_watched_on_b(redis, start_node, replay, viewers, client, topic)
        with ws_connect(f"ws://127.0.0.1:{b.port}/v1/ws", open_timeout=10) as ws:
            ws.send(json.dumps({"op": "cancel", target: generation if target == "generation" else topic, "id": 7}))
            reply = json.loads(ws.recv(timeout=10))
        assert reply["op"] == "ok" and reply["id"] == 7, reply
        assert_cancelled_on_its_owner(client, replay, a, generation, on_b.until_end(timeout=10))


def test_a_generation_is_cancelled_over_grpc_on_the_other_node(redis, start_node, replay, viewers):
    """`CancelGeneration` on B's port (gRPC on the main port) ends a generation running on A."""
    grpc = pytest.importorskip("grpc")
    from grpc_support import generate_stubs

    stubs = generate_stubs()
    with httpx.Client(timeout=10) as client:
        a, b, generation, on_b = generation_on_a_watched_on_b(redis, start_node, replay, viewers, client, "grpc-cancel")
        with grpc.insecure_channel(f"127.0.0.1:{b.port}") as channel:
            stub = stubs.rpc.NewsroomStub(channel)
            answer = stub.CancelGeneration(stubs.pb.CancelRequest(generation=generation), timeout=10)
            assert answer.generation == generation and answer.state == stubs.pb.GENERATION_STATE_CANCELLED
            with pytest.raises(grpc.RpcError) as unknown:
                stub.CancelGeneration(stubs.pb.CancelRequest(generation="gen_unknown"), timeout=10)
            assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
        assert_cancelled_on_its_owner(client, replay, a, generation, on_b.until_end(timeout=10))


def test_a_second_generation_on_a_topic_running_on_the_other_node_is_refused(redis, start_node, replay):
    a = start_node(redis, "a", env=provider_env(replay))
    b = start_node(redis, "b", env=provider_env(replay))
    topic = "gen-lease"
    with httpx.Client(timeout=10) as client:
        r = client.post(f"{a.url}/v1/generations", json={"provider": "openai", "topic": topic, "request": slow_chat(300)})
        assert r.status_code == 201, r.text
        busy = client.post(f"{b.url}/v1/generations", json={"provider": "openai", "topic": topic, "request": slow_chat(10)})
        assert busy.status_code == 409, busy.text
        assert client.delete(f"{a.url}/v1/generations/{r.json()['generation']}").json()["state"] == "cancelled"


# ----------------------------------------------------------------------------------------------------
# 6. The owner dies


def test_viewers_on_b_learn_within_10_s_that_the_node_running_their_generation_died(redis, start_node, replay, viewers):
    a = start_node(redis, "a", env=provider_env(replay))
    b = start_node(redis, "b", env=provider_env(replay))
    topic = "gen-owner-lost"
    with httpx.Client(timeout=10) as client:
        r = client.post(f"{a.url}/v1/generations", json={"provider": "openai", "topic": topic, "request": slow_chat(1000)})
        assert r.status_code == 201, r.text
    on_b = viewers(events_url(b, topic))
    before = on_b.until(lambda e: e["type"] == "text_delta", timeout=10)
    a.stop(signal.SIGKILL)
    killed = time.monotonic()
    rest = on_b.until_end(timeout=12)
    took = time.monotonic() - killed
    seen = before + rest
    assert took <= 10, f"owner_lost took {took:.1f} s"
    error, complete = seen[-2][1], seen[-1][1]
    assert error["type"] == "error" and error["code"] == "owner_lost" and error["retryable"] is True
    assert complete["type"] == "stream_complete" and complete["finish_reason"] == "error"
    assert ids(seen) == sorted(set(ids(seen))) and int(seen[-1][0]) == int(seen[-2][0]) + 1 == int(before[-1][0]) + len(rest)
    assert text_of(seen).startswith("The")
    on_b.wait_closed()
    # The end is stored: a late joiner on B replays it, and no one can publish after it.
    late = viewers(events_url(b, topic)).until_end()
    assert late[-1][1] == complete and late[-2][1] == error
    with httpx.Client(timeout=10) as client:
        assert publish(client, b, topic, [delta("more")]).status_code == 409


# ----------------------------------------------------------------------------------------------------
# 7. Redis restarts


def test_with_persistence_a_redis_restart_loses_nothing_and_viewers_keep_receiving(persistent_redis, start_node, viewers):
    redis_server = persistent_redis
    a, b = start_node(redis_server, "a"), start_node(redis_server, "b")
    topic = "restart-aof"
    on_b = viewers(events_url(b, topic))
    with httpx.Client(timeout=15) as client:
        for i in range(3):  # (alternating index: the replay to a later viewer merges nothing)
            assert publish(client, a, topic, [delta(f"before{i} ", i % 2)]).status_code == 202
        assert ids(on_b.take(3)) == [1, 2, 3]
        on_a = viewers(events_url(a, topic))  # a mirror on A too, synced before the restart
        assert ids(on_a.take(3)) == [1, 2, 3]
        # Redis dies hard (appendfsync always: everything acknowledged is on disk) …
        redis_server.stop(signal.SIGKILL)
        # … a publish made while it is down waits for the reconnect (up to the command timeout) …
        during = {}

        def publish_during():
            with httpx.Client(timeout=15) as other:
                during["r"] = publish(other, a, topic, [delta("during ")])

        publisher = threading.Thread(target=publish_during)
        publisher.start()
        time.sleep(0.5)
        # … and it comes back on the same port and directory.
        redis_server.start()
        assert redis_server.command("HGET", f"nr:{{{topic}}}:meta", "head") in (b"3", b"4")
        publisher.join(timeout=15)
        wait_reconnected(redis_server, [f"nr:{{{topic}}}:live"])
        kept = during["r"].status_code == 202
        assert kept, f"the publish made while Redis was down failed: {during['r'].status_code} {during['r'].text}"
        for i in range(3):
            node = a if i % 2 == 0 else b
            assert publish(client, node, topic, [delta(f"after{i} ")]).status_code == 202
        assert publish(client, b, topic, [COMPLETE]).json()["last_seq"] == 8
    for viewer in (on_b, on_a):
        seen = viewer.until_end(timeout=15)
        assert ids(seen) == list(range(4, 9)), "every event after the restart, no duplicate, no gap"
        assert not [e for _, e in seen if e["type"] == "error"]
        assert text_of(seen) == "during after0 after1 after2 "
    # The history survived: a late joiner on either node gets all of it, the first epoch included.
    for node in (a, b):
        late = viewers(events_url(node, topic)).until_end()
        assert text_of(late) == "before0 before1 before2 during after0 after1 after2 "
        assert int(late[-1][0]) == 8


def test_without_persistence_a_redis_restart_makes_old_resume_points_unavailable(redis, start_node, viewers):
    a, b = start_node(redis, "a"), start_node(redis, "b")
    topic = "restart-empty"
    # A viewer waiting on B before anything was published, and one joining on A afterwards.
    waiting_on_b = viewers(events_url(b, topic))
    with httpx.Client(timeout=15) as client:
        start = {"type": "stream_start", "provider": "test", "model": "m1"}
        assert publish(client, a, topic, [start]).status_code == 202
        for i in range(3):
            assert publish(client, a, topic, [delta(f"old{i} ")]).status_code == 202
        got = waiting_on_b.take(4)
        old_epoch = got[0][1]["epoch"]
        assert old_epoch and ids(got) == [1, 2, 3, 4]
        joined_on_a = viewers(events_url(a, topic))
        assert ids(joined_on_a.take(2)) == [1, 4]  # stream_start, then the merged deltas
        # Redis restarts empty: the topic's shared history, and its seq numbering, are gone.
        redis.stop(signal.SIGKILL)
        redis.start()
        wait_reconnected(redis)
        # Each live viewer is told its history is gone (retryable: reconnect to learn where to resume).
        for viewer in (waiting_on_b, joined_on_a):
            _, notice = viewer.next(timeout=10)
            assert notice["type"] == "error" and notice["code"] == "history_lost" and notice["retryable"] is True
            viewer.wait_closed()
        # Reconnecting with the old resume point, on either node: resume_unavailable comes first.
        resumed_b = viewers(events_url(b, topic), headers={"Last-Event-ID": "4"})
        resumed_a = viewers(events_url(a, topic), headers={"Last-Event-ID": "4"})
        for viewer in (resumed_b, resumed_a):
            event_id, notice = viewer.next(timeout=10)
            assert event_id is None and notice["type"] == "error" and notice["code"] == "resume_unavailable"
        # The topic starts over in a new epoch, and the resumed viewers follow it live.
        assert publish(client, a, topic, [start]).json()["first_seq"] == 1
        assert publish(client, b, topic, [delta("new "), COMPLETE]).json()["last_seq"] == 3
        for viewer in (resumed_b, resumed_a):
            seen = viewer.until_end()
            assert ids(seen) == [1, 2, 3]
            assert seen[0][1]["epoch"] and seen[0][1]["epoch"] != old_epoch
            assert text_of(seen) == "new "


def test_without_persistence_events_of_the_new_epoch_are_never_taken_for_the_old_ones(redis, start_node, viewers):
    """Right after an empty restart the topic is published again before the nodes caught up: a mirror of
    the old epoch must not skip the new seqs 1…4 as duplicates, nor append the new 5, 6 to the old history."""
    a, b = start_node(redis, "a"), start_node(redis, "b")
    topic = "restart-race"
    old_on_b = viewers(events_url(b, topic))  # mirrored on B before the first publish
    with httpx.Client(timeout=15) as client:
        assert publish(client, a, topic, [delta(f"old{i} ", i % 2) for i in range(4)]).status_code == 202
        assert ids(old_on_b.take(4)) == [1, 2, 3, 4]
        redis.stop(signal.SIGKILL)
        redis.start()
        # Published at once (this waits for A's reconnect, not for B's): seqs 1…6 of a new epoch.
        r = publish(client, a, topic, [delta(f"new{i} ", i % 2) for i in range(6)])
        assert r.status_code == 202 and r.json()["first_seq"] == 1 and r.json()["last_seq"] == 6
        _, notice = old_on_b.next(timeout=10)
        assert notice["type"] == "error" and notice["code"] == "history_lost", notice
        old_on_b.wait_closed()
        wait_reconnected(redis)
        fresh = viewers(events_url(b, topic))
        assert [e["text"] for _, e in fresh.take(6)] == [f"new{i} " for i in range(6)]
        assert b.topic(topic)["last_seq"] == 6 and b.topic(topic)["first_seq"] == 1


def test_a_topic_flushed_from_redis_while_the_nodes_stay_connected_starts_over_everywhere(redis, start_node, viewers):
    """No reconnect to catch up on: the new epoch is noticed in the live messages themselves (the
    publishing node's own copy and the other node's)."""
    a, b = start_node(redis, "a"), start_node(redis, "b")
    topic = "flushed"
    on_a, on_b = viewers(events_url(a, topic)), viewers(events_url(b, topic))
    with httpx.Client(timeout=15) as client:
        assert publish(client, a, topic, [delta(f"old{i} ", i % 2) for i in range(4)]).status_code == 202
        for viewer in (on_a, on_b):
            assert ids(viewer.take(4)) == [1, 2, 3, 4]
        assert redis.command("FLUSHALL") == "OK"  # the shared history is gone; both nodes stay connected
        r = publish(client, a, topic, [delta(f"new{i} ", i % 2) for i in range(6)])
        assert r.status_code == 202 and (r.json()["first_seq"], r.json()["last_seq"]) == (1, 6)
        for viewer in (on_a, on_b):
            _, notice = viewer.next(timeout=10)
            assert notice["type"] == "error" and notice["code"] == "history_lost", notice
            viewer.wait_closed()
        for node in (a, b):
            fresh = viewers(events_url(node, topic))
            assert [e["text"] for _, e in fresh.take(6)] == [f"new{i} " for i in range(6)]


def test_a_rolling_restart_behind_a_load_balancer_loses_no_viewer(redis, start_node, tmp_path):
    """A node drained by SIGTERM behind a load balancer that polls /readyz: readiness turns 503 for the
    drain delay (new clients go to the other node), then its viewers get `server_shutdown`; every client
    of the project — the CLI over SSE, WebSocket and gRPC, the Python SSE and WebSocket examples, the web
    viewer in headless Chromium over SSE and WebSocket — reconnects through the balancer to the other node
    and shows the exact answer, while the generation keeps streaming on its owner; the drained node then
    comes back (the rolling restart's next step)."""
    from cluster_support import ReadinessBalancer
    from conftest import ROOT
    from viewer_support import require_browser, start_browser, wait_for

    require_browser()

    upstream = subprocess.Popen([str(BINARY), "replay-upstream", "--port", "0", "--event-delay-ms", "400"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    replay_url = upstream.stdout.readline().strip().split("listening on ")[1]
    threading.Thread(target=upstream.stdout.read, daemon=True).start()
    env = {**provider_env(replay_url), "NEWSROOM_HTTP_DRAIN_DELAY": "1"}
    a = start_node(redis, "a", env=env)
    b = start_node(redis, "b", env=env)
    balancer = ReadinessBalancer([a.port, b.port])
    clients = []
    browser = None
    try:
        topic = "rolling"
        with httpx.Client(timeout=30) as http:
            # The generation runs on B (its owner); the viewers all land on A through the balancer.
            started = http.post(f"{b.url}/v1/generations", json={
                "provider": "openai", "topic": topic,
                "request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}})
            assert started.status_code == 201, started.text
            generation = started.json()["generation"]
            commands = {
                "cli-sse": [str(BINARY), "subscribe", topic, "--url", balancer.url, "--text"],
                "cli-ws": [str(BINARY), "subscribe", topic, "--url", balancer.url, "--text", "--transport", "ws"],
                "cli-grpc": [str(BINARY), "subscribe", topic, "--url", balancer.url, "--text", "--transport", "grpc"],
                "python-sse": ["python3", str(ROOT / "Examples/python/sse_subscribe.py"), topic, balancer.url],
                "python-ws": ["python3", str(ROOT / "Examples/python/ws_subscribe.py"), topic,
                              balancer.url.replace("http://", "ws://")],
            }
            for name, command in commands.items():
                clients.append((name, subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
            # The web viewer, one tab per transport.
            browser = start_browser()
            tabs = {}
            for transport in ("sse", "ws"):
                if tabs:
                    browser.switch_to.new_window("tab")
                browser.get(f"{balancer.url}/viewer?topic={topic}&transport={transport}")
                tabs[transport] = browser.current_window_handle
            watching = len(commands) + len(tabs)
            assert wait_until(lambda: a.subscribers(topic) == watching, timeout=15), a.subscribers(topic)
            assert http.get(f"{b.url}/v1/generations/{generation}").json()["state"] == "running"
            # Drain A mid-answer.
            a.proc.send_signal(signal.SIGTERM)
            assert a.proc.wait(timeout=15) == 0
            assert http.get(f"{b.url}/v1/generations/{generation}").json()["state"] == "running"
            # The next step of the rollout: A comes back while B still streams.
            a2 = start_node(redis, "a2", env=env)
            balancer.connections[a2.port] = 0
            balancer.ports.append(a2.port)
            outputs = {}
            for name, process in clients:
                out, err = process.communicate(timeout=60)
                outputs[name] = (process.returncode, out, err)
            for transport, handle in tabs.items():
                browser.switch_to.window(handle)
                wait_for(browser, "return window.newsroomViewer && window.newsroomViewer.state === 'ended'",
                         timeout=60, message=f"the {transport} viewer to see the end")
                viewer = browser.execute_script(
                    "return {text: window.newsroomViewer.answerText(), states: window.newsroomViewer.states}")
                outputs[f"web-viewer-{transport}"] = (0 if "resumed" in viewer["states"] else viewer["states"],
                                                      viewer["text"], "")
            assert wait_until(lambda: http.get(f"{b.url}/v1/generations/{generation}").json()["state"] == "completed")
            answer = "".join(json.loads(line.removeprefix("data: "))["text"]
                             for line in http.get(f"{b.url}/v1/topics/{topic}/events?after=0", timeout=10).text.splitlines()
                             if line.startswith("data: ") and '"text_delta"' in line)
        assert answer
        for name, (code, out, err) in outputs.items():
            assert code == 0, (name, err[-500:])
            assert out.strip() == answer.strip(), (name, out, err[-500:])
        assert balancer.connections[b.port] >= watching  # every client resumed on B
    finally:
        if browser is not None:
            browser.quit()
        for _, process in clients:
            process.kill()
        balancer.close()
        upstream.kill()
        upstream.wait(10)
