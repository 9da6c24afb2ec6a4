"""Generations through the HTTP and WebSocket APIs, against the replay upstream (`newsroom replay-upstream`)."""

import json
import subprocess
import time

import httpx
import pytest
from httpx_sse import connect_sse
from websockets.sync.client import connect as ws_connect

from conftest import BINARY, Hub, wait_until

API_KEY = "sk-test-SECRET-0123456789abcdef"
PROMPT = "tell me a secret-prompt-marker story"


@pytest.fixture(scope="module")
def replay():
    proc = subprocess.Popen([str(BINARY), "replay-upstream", "--port", "0", "--event-delay-ms", "20"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert "listening on" in line, line
    url = line.strip().split("listening on ")[1]
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def gen_hub(replay):
    hub = Hub(["serve", "--port", "0", "--log-level", "debug"], env={
        "NEWSROOM_PROVIDER_OPENAI_BASE_URL": replay,
        "NEWSROOM_PROVIDER_OPENAI_API_KEY": API_KEY,
        "NEWSROOM_PROVIDER_ANTHROPIC_BASE_URL": replay,
        "NEWSROOM_PROVIDER_ANTHROPIC_API_KEY": API_KEY,
        "NEWSROOM_GENERATIONS_MAX_RUNNING": "2",
    })
    yield hub
    hub.stop()
    hub.log = hub.log_text()


def chat(**extra):
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": PROMPT}]}
    body.update(extra)
    return body


def events_of(client, url):
    with connect_sse(client, "GET", url) as source:
        return [json.loads(s.data) for s in source.iter_sse() if s.data]


def test_a_generation_streams_to_viewers_as_standard_events(gen_hub):
    with httpx.Client(timeout=30) as client:
        r = client.post(f"{gen_hub.url}/v1/generations", json={"provider": "openai", "request": chat(), "topic": "g1"})
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["topic"] == "g1" and body["generation"].startswith("gen_")
        assert body["events_url"].endswith("/v1/topics/g1/events") and body["ws_url"].endswith("/v1/topics/g1/ws")
        events = events_of(client, f"{gen_hub.url}/v1/topics/g1/events")
        assert events[0]["type"] == "stream_start" and events[0]["provider"] == "openai"
        assert events[-1]["type"] == "stream_complete" and events[-1]["finish_reason"] == "stop"
        assert "".join(e["text"] for e in events if e["type"] == "text_delta")
        info = client.get(f"{gen_hub.url}/v1/generations/{body['generation']}").json()
        assert info["state"] == "completed" and info["topic"] == "g1" and info["provider"] == "openai"
        assert info["timings"]["queued"] and info["timings"]["first_token"] and info["timings"]["completed"]
        # a second generation on the ended topic is refused
        assert client.post(f"{gen_hub.url}/v1/generations", json={"provider": "openai", "request": chat(), "topic": "g1"}).status_code == 409
        for e in events:
            assert API_KEY not in json.dumps(e)


def test_bad_generation_requests_are_400(gen_hub):
    with httpx.Client() as client:
        for body, fragment in [
            (b"{nope", "malformed"),
            (json.dumps({"provider": "nope", "request": {}}).encode(), "unknown provider"),
            (json.dumps({"provider": "openai"}).encode(), "request"),
            (json.dumps({"provider": "openai", "request": {}, "topic": "bad topic"}).encode(), "topic"),
            (json.dumps({"provider": "openai", "request": {}, "colour": 1}).encode(), "colour"),
        ]:
            r = client.post(f"{gen_hub.url}/v1/generations", content=body)
            assert r.status_code == 400, (body, r.text)
            assert fragment in r.json()["error"]["message"]
        assert client.get(f"{gen_hub.url}/v1/generations/gen_unknown").status_code == 404


def test_cancel_over_http_ends_the_topic_as_cancelled_and_a_running_topic_is_409(gen_hub, replay):
    with httpx.Client(timeout=30) as client:
        r = client.post(f"{gen_hub.url}/v1/generations",
                        json={"provider": "openai", "request": chat(replay_behavior="delay=300"), "topic": "g2"})
        generation = r.json()["generation"]
        busy = client.post(f"{gen_hub.url}/v1/generations", json={"provider": "openai", "request": chat(), "topic": "g2"})
        assert busy.status_code == 409
        time.sleep(0.8)
        cancelled = client.delete(f"{gen_hub.url}/v1/generations/{generation}")
        assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
        # The cancel reached the upstream: the provider request's connection was closed by the hub.
        assert wait_until(lambda: client.get(f"{replay}/__replay/requests").json()[-1]["client_closed"], timeout=5)
        events = events_of(client, f"{gen_hub.url}/v1/topics/g2/events")
        assert events[-1]["type"] == "stream_complete" and events[-1]["finish_reason"] == "cancelled"
        # DELETE on the topic cancels that topic's generation too
        r = client.post(f"{gen_hub.url}/v1/generations",
                        json={"provider": "openai", "request": chat(replay_behavior="delay=300"), "topic": "g3"})
        time.sleep(0.5)
        assert client.delete(f"{gen_hub.url}/v1/topics/g3").json()["state"] == "ended"
        assert client.get(f"{gen_hub.url}/v1/generations/{r.json()['generation']}").json()["state"] == "cancelled"


def test_too_many_running_generations_is_429_with_retry_after(gen_hub):
    with httpx.Client(timeout=30) as client:
        started = [client.post(f"{gen_hub.url}/v1/generations",
                               json={"provider": "openai", "request": chat(replay_behavior="delay=300")}) for _ in range(2)]
        assert all(r.status_code == 201 for r in started)
        r = client.post(f"{gen_hub.url}/v1/generations", json={"provider": "openai", "request": chat()})
        assert r.status_code == 429 and "retry-after" in r.headers
        for s in started:
            client.delete(f"{gen_hub.url}/v1/generations/{s.json()['generation']}")


def test_generate_and_cancel_over_one_websocket(gen_hub):
    url = gen_hub.url.replace("http://", "ws://") + "/v1/ws"
    with ws_connect(url) as ws:
        ws.send(json.dumps({"op": "generate", "id": 1, "provider": "anthropic", "topic": "wsgen",
                            "request": {"model": "claude", "max_tokens": 100, "messages": [{"role": "user", "content": PROMPT}],
                                        "replay_behavior": "delay=300"}}))
        reply = json.loads(ws.recv(timeout=10))
        assert reply["op"] == "ok" and reply["topic"] == "wsgen"
        ws.send(json.dumps({"op": "subscribe", "topic": "wsgen", "id": 2}))
        seen = []
        while not any(e.get("type") == "text_delta" for e in seen):
            seen.append(json.loads(ws.recv(timeout=10)))
        ws.send(json.dumps({"op": "cancel", "generation": reply["generation"], "id": 3}))
        while True:
            message = json.loads(ws.recv(timeout=10))
            seen.append(message)
            if message.get("type") == "stream_complete":
                break
        assert message["finish_reason"] == "cancelled"
        assert any(m.get("op") == "ok" and m.get("id") == 3 for m in seen) or json.loads(ws.recv(timeout=5))["id"] == 3


def test_the_api_key_and_the_prompt_never_reach_the_log(replay):
    hub = Hub(["serve", "--port", "0", "--log-level", "trace", "--log-format", "json"], env={
        "NEWSROOM_PROVIDER_OPENAI_BASE_URL": replay, "NEWSROOM_PROVIDER_OPENAI_API_KEY": API_KEY})
    with httpx.Client(timeout=30) as client:
        client.post(f"{hub.url}/v1/generations", json={"provider": "openai", "request": chat(), "topic": "secret"})
        events_of(client, f"{hub.url}/v1/topics/secret/events")
        # an upstream error path too
        client.post(f"{hub.url}/v1/generations", json={"provider": "openai", "request": chat(replay_transcript="openai/midstream_error")})
        time.sleep(0.5)
    hub.stop()
    log = hub.log_text()
    assert log, "expected some log lines"
    assert API_KEY not in log
    assert "secret-prompt-marker" not in log
    for line in log.splitlines():
        json.loads(line)


def test_a_hosted_provider_without_a_key_is_refused_at_once_naming_the_setting():
    """A hosted API (OpenAI, Anthropic, Gemini) with no key is a 400 `provider_not_configured` that names
    the environment variable, on /v1/generations and the SDK endpoints alike, instead of a 201 whose
    viewers wait for the upstream's refusal. A provider on another base URL (a local server) needs none."""
    hub = Hub(["serve", "--port", "0"], env={"NEWSROOM_PROVIDER_VLLM_BASE_URL": "http://127.0.0.1:9"})
    try:
        with httpx.Client(timeout=10) as client:
            started = time.monotonic()
            answer = client.post(f"{hub.url}/v1/generations", json={
                "provider": "anthropic", "request": {"model": "m", "max_tokens": 5, "messages": []}})
            assert answer.status_code == 400 and time.monotonic() - started < 2
            error = answer.json()["error"]
            assert error["code"] == "provider_not_configured" and "NEWSROOM_PROVIDER_ANTHROPIC_API_KEY" in error["message"]
            sdk = client.post(f"{hub.url}/v1/chat/completions", json={"model": "gpt-4o", "messages": []})
            assert sdk.status_code == 400 and "NEWSROOM_PROVIDER_OPENAI_API_KEY" in sdk.json()["error"]["message"]
            local = client.post(f"{hub.url}/v1/generations", json={
                "provider": "vllm", "request": {"model": "m", "messages": []}})
            assert local.status_code == 201
    finally:
        hub.stop()
