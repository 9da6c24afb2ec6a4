"""Topic and subscriber limits, history eviction, retention and idle expiry, and a broker outage —
through the real binary with tiny limits (until now these were covered by unit tests and mocks only)."""

import signal
import time

import httpx
import pytest
from httpx_sse import connect_sse

from cluster_support import Node, RedisServer
from conftest import publish, wait_until

START = {"type": "stream_start", "generation": "g", "provider": "p", "model": "m"}
COMPLETE = {"type": "stream_complete", "finish_reason": "stop"}


def delta(text):
    return {"type": "text_delta", "text": text}


def test_topic_limit_refuses_new_topics_with_503(start_hub):
    hub = start_hub(env={"NEWSROOM_TOPICS_MAX": "2"})
    with httpx.Client() as client:
        assert publish(client, hub, "t1", [START]).status_code == 202
        assert publish(client, hub, "t2", [START]).status_code == 202
        refused = publish(client, hub, "t3", [START])
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "topic_limit_reached"
        # Existing topics keep working; the refusal created nothing.
        assert publish(client, hub, "t1", [delta("more")]).status_code == 202
        assert client.get(f"{hub.url}/v1/topics/t3").status_code == 404
        assert len(client.get(f"{hub.url}/v1/topics").json()["topics"]) == 2


def test_subscriber_limit_per_topic(start_hub):
    hub = start_hub(env={"NEWSROOM_TOPICS_MAX_SUBSCRIBERS": "2"})
    with httpx.Client(timeout=10) as client:
        publish(client, hub, "crowded", [START])
        streams = [client.stream("GET", f"{hub.url}/v1/topics/crowded/events") for _ in range(2)]
        try:
            for stream in streams:
                assert stream.__enter__().status_code == 200
            assert wait_until(lambda: client.get(f"{hub.url}/v1/topics/crowded").json()["subscribers"] == 2)
            third = client.get(f"{hub.url}/v1/topics/crowded/events", timeout=5)
            assert third.status_code == 503 and third.json()["error"]["code"] == "subscriber_limit_reached"
            # Another topic is not affected.
            publish(client, hub, "other", [START])
            with client.stream("GET", f"{hub.url}/v1/topics/other/events") as other:
                assert other.status_code == 200
        finally:
            for stream in streams:
                stream.__exit__(None, None, None)


def test_history_bound_evicts_the_oldest_events_and_resume_says_so(start_hub):
    hub = start_hub(env={"NEWSROOM_HISTORY_MAX_EVENTS": "5"})
    with httpx.Client(timeout=10) as client:
        publish(client, hub, "short", [START, *[delta(f"{i} ") for i in range(9)]])
        info = client.get(f"{hub.url}/v1/topics/short").json()
        assert info["last_seq"] == 10 and info["history_events"] <= 5 and info["first_seq"] >= 6
        # A late joiner gets what is kept; a resume point that fell out of the history is told so.
        with connect_sse(client, "GET", f"{hub.url}/v1/topics/short/events?after=2") as source:
            events = []
            for sse in source.iter_sse():
                if not sse.data:
                    continue
                events.append(sse.json())
                if events[-1].get("seq") == 10:
                    break
        assert events[0]["type"] in ("error", "gap")
        assert events[0].get("code") == "resume_unavailable" or events[0]["type"] == "gap"
        seqs = [e["seq"] for e in events if "seq" in e]
        assert seqs == sorted(seqs) and seqs[-1] == 10 and seqs[0] >= info["first_seq"]


def test_an_ended_topic_is_forgotten_after_the_retention(start_hub):
    hub = start_hub("--retention", "1")
    with httpx.Client() as client:
        publish(client, hub, "brief", [START, delta("x"), COMPLETE])
        assert client.get(f"{hub.url}/v1/topics/brief").json()["state"] == "ended"
        assert wait_until(lambda: client.get(f"{hub.url}/v1/topics/brief").status_code == 404, timeout=10)
        # The name is free again: a new answer starts from seq 1.
        assert publish(client, hub, "brief", [START]).json()["first_seq"] == 1


def test_a_topic_that_never_started_expires_when_nobody_watches(start_hub):
    """A viewer opened a topic that never received an event (the answer never came) and left: after the
    idle TTL the topic is gone; a topic that is streaming is not."""
    hub = start_hub(env={"NEWSROOM_TOPICS_IDLE_TTL": "1"})
    with httpx.Client(timeout=10) as client:
        with client.stream("GET", f"{hub.url}/v1/topics/never/events") as stream:
            assert stream.status_code == 200
            assert client.get(f"{hub.url}/v1/topics/never").json()["state"] == "waiting"
        publish(client, hub, "talking", [START, delta("x")])
        assert wait_until(lambda: client.get(f"{hub.url}/v1/topics/never").status_code == 404, timeout=10)
        assert client.get(f"{hub.url}/v1/topics/talking").json()["state"] == "streaming"


def test_redis_down_is_503_broker_unavailable_and_the_node_recovers(tmp_path):
    redis = RedisServer(tmp_path / "redis").start()
    node = Node(redis.url, tmp_path / "hub.log")
    try:
        with httpx.Client(timeout=15) as client:
            assert publish(client, node, "brokered", [START]).status_code == 202
            redis.stop(signal.SIGKILL)
            refused = publish(client, node, "brokered", [delta("x")])
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"]["code"] == "broker_unavailable"
            # The node itself keeps answering.
            assert client.get(f"{node.url}/healthz").status_code == 200
            redis.start()
            assert wait_until(lambda: publish(client, node, "recovered", [START]).status_code == 202, timeout=20)
    finally:
        node.stop()
        redis.stop(signal.SIGKILL)
