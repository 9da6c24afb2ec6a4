"""Conversation topics: answers that name a conversation are announced on `conversation:<id>` as they
start (`generation_started`, with the answer's topic) and end (`generation_ended`). A viewer of the
conversation follows each answer from its announcement; a late joiner gets the announcements from the
history. Answers come from /v1/generations, the WebSocket `generate` op, gRPC StartGeneration and the
OpenAI-compatible endpoint, against the replay upstream."""

import json
import threading

import grpc
import httpx
import pytest
from httpx_sse import connect_sse
from websockets.sync.client import connect as ws_connect

openai = pytest.importorskip("openai", reason="the openai SDK is not installed")

import jsonschema  # noqa: E402

from conftest import SCHEMA, Hub, wait_until  # noqa: E402
from grpc_support import generate_stubs  # noqa: E402
from test_sdk_proxy import MESSAGES, provider_env, replay, subscribers, text_of  # noqa: E402,F401


@pytest.fixture(scope="module")
def hub(replay):
    hub = Hub(["serve", "--port", "0", "--heartbeat-interval", "0.5"], env=provider_env(replay))
    yield hub
    hub.stop()


class ConversationViewer:
    """Follows `conversation:<id>` over SSE; for each `generation_started`, reads the announced answer's
    topic to its end (what the web viewer's `?conversation=` does)."""

    def __init__(self, hub, conversation, answers):
        self.hub, self.announcements, self.answers = hub, [], {}
        self.expected = answers
        self.thread = threading.Thread(target=self._run, args=(f"conversation:{conversation}",), daemon=True)
        self.thread.start()
        assert wait_until(lambda: subscribers(hub, f"conversation:{conversation}") >= 1, timeout=10)

    def _run(self, topic):
        with httpx.Client(timeout=60) as client, connect_sse(client, "GET", f"{self.hub.url}/v1/topics/{topic}/events") as source:
            for sse in source.iter_sse():
                if not sse.data:
                    continue
                event = json.loads(sse.data)
                if event["type"] == "heartbeat":
                    continue
                self.announcements.append(event)
                if event["type"] == "generation_started":
                    self.answers[event["generation"]] = self._answer(client, event["answer_topic"])
                if sum(e["type"] == "generation_ended" for e in self.announcements) == self.expected:
                    return

    def _answer(self, client, topic):
        events = []
        with connect_sse(client, "GET", f"{self.hub.url}/v1/topics/{topic}/events") as source:
            for sse in source.iter_sse():
                if sse.data:
                    event = json.loads(sse.data)
                    if event["type"] != "heartbeat":
                        events.append(event)
                    if event["type"] == "stream_complete":
                        return events
        return events

    def wait(self, timeout=60):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), self.announcements
        return self.announcements


def wait_ended(hub, generation):
    assert wait_until(lambda: httpx.get(f"{hub.url}/v1/generations/{generation}").json()["state"] != "running", timeout=20)


def test_three_answers_in_a_row_are_announced_and_followed(hub):
    viewer = ConversationViewer(hub, "c1", answers=3)
    started = []
    # 1: /v1/generations, with the prompt announced.
    first = httpx.post(f"{hub.url}/v1/generations", json={
        "provider": "openai", "conversation": "c1", "announce_prompt": True,
        "request": {"model": "gpt-4o", "messages": [{"role": "system", "content": "be brief"},
                                                     {"role": "user", "content": "What is the capital of France?"}]}})
    assert first.status_code == 201, first.text
    started.append(first.json()["generation"])
    wait_ended(hub, started[-1])
    # 2: the OpenAI SDK through the hub, naming the conversation in a header.
    client = openai.OpenAI(base_url=f"{hub.url}/v1", api_key="unused", max_retries=0)
    stream = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True,
                                            extra_headers={"X-Newsroom-Conversation": "c1"})
    sdk_text = "".join((c.choices[0].delta.content or "") for c in stream if c.choices)
    started.append(stream.response.headers["x-newsroom-generation"])
    wait_ended(hub, started[-1])
    # 3: the WebSocket generate op.
    with ws_connect(f"{hub.url.replace('http', 'ws')}/v1/ws") as ws:
        ws.send(json.dumps({"op": "generate", "id": "g", "provider": "anthropic", "conversation": "c1",
                            "request": {"model": "claude", "max_tokens": 10, "messages": MESSAGES}}))
        reply = json.loads(ws.recv(timeout=10))
    started.append(reply["generation"])

    announcements = viewer.wait()
    assert [(e["type"], e["generation"]) for e in announcements] == [
        (kind, generation) for generation in started for kind in ("generation_started", "generation_ended")]
    assert [e["seq"] for e in announcements] == list(range(1, 7))
    for event in announcements:
        jsonschema.validate(event, SCHEMA)
    first_start = announcements[0]
    assert first_start["prompt"] == "What is the capital of France?" and first_start["provider"] == "openai"
    assert "prompt" not in announcements[2]  # not opted in
    assert all(e["finish_reason"] == "stop" for e in announcements if e["type"] == "generation_ended")
    assert announcements[1]["usage"]["output_tokens"] > 0
    # Each answer followed from its announcement, in full.
    assert text_of(viewer.answers[started[1]]) == sdk_text
    for generation in started:
        answer = viewer.answers[generation]
        assert answer[0]["type"] == "stream_start" and answer[0]["generation"] == generation
        assert answer[-1]["type"] == "stream_complete" and text_of(answer)

    # A late joiner: the announcements from the history (over WebSocket, from the first).
    with ws_connect(f"{hub.url.replace('http', 'ws')}/v1/topics/conversation:c1/ws") as ws:
        late = [json.loads(ws.recv(timeout=5)) for _ in range(6)]
    assert [e["type"] for e in late] == [e["type"] for e in announcements]
    assert [e.get("answer_topic") for e in late] == [e["answer_topic"] for e in announcements]


def test_grpc_start_generation_announces_on_the_conversation(hub):
    stubs = generate_stubs()
    with grpc.insecure_channel(hub.url.replace("http://", "")) as channel:
        stub = stubs.rpc.NewsroomStub(channel)
        info = stub.StartGeneration(stubs.pb.GenerationRequest(
            provider="openai", request=json.dumps({"model": "gpt-4o", "messages": MESSAGES}), conversation="c-grpc"),
            timeout=10)
        wait_ended(hub, info.generation)
        calls = stub.Subscribe(stubs.pb.SubscribeRequest(topic="conversation:c-grpc"), timeout=10)
        first, second = next(calls), next(calls)
        calls.cancel()
    assert first.WhichOneof("payload") == "generation_started"
    assert first.generation_started.generation == info.generation
    assert first.generation_started.answer_topic == info.topic
    assert second.WhichOneof("payload") == "generation_ended"
    assert second.generation_ended.finish_reason == stubs.pb.FINISH_REASON_STOP


def test_a_bad_conversation_id_is_refused(hub):
    bad = httpx.post(f"{hub.url}/v1/generations", json={
        "provider": "openai", "conversation": "no spaces", "request": {"model": "m", "messages": MESSAGES}})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_conversation"
    wrong = httpx.post(f"{hub.url}/v1/generations", json={
        "provider": "openai", "conversation": 7, "request": {"model": "m", "messages": MESSAGES}})
    assert wrong.status_code == 400 and "conversation" in wrong.json()["error"]["message"]
    proxied = httpx.post(f"{hub.url}/v1/chat/completions", json={"model": "gpt-4o", "messages": MESSAGES},
                         headers={"X-Newsroom-Conversation": "x" * 200})
    assert proxied.status_code == 400 and proxied.json()["error"]["code"] == "invalid_conversation"
