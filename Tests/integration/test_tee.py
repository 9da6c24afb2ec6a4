"""Teeing a provider stream an app already holds: `POST /v1/topics/{topic}/events?format=…` takes the
chunks the official SDK yields (NDJSON, posted as they come with `more=true`) or the provider's raw SSE
body, and viewers see the same answer the SDK assembled. The chunks come from the real `openai` and
`anthropic` SDKs talking straight to the replay upstream (no hub in between)."""

import json
import sys
from pathlib import Path

import httpx
import pytest

openai = pytest.importorskip("openai", reason="the openai SDK is not installed")
anthropic = pytest.importorskip("anthropic", reason="the anthropic SDK is not installed")

from conftest import Hub  # noqa: E402
from test_sdk_proxy import MESSAGES, Viewer, replay, text_of, tool_calls_of  # noqa: E402,F401

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "Examples" / "python"))
from tee import tee  # noqa: E402


@pytest.fixture(scope="module")
def hub():
    hub = Hub(["serve", "--port", "0", "--heartbeat-interval", "0.5"])
    yield hub
    hub.stop()


def test_the_openai_sdks_tool_call_chunks_reach_viewers_as_the_same_tool_calls(hub, replay):
    viewer = Viewer(hub, "tee-tools")
    client = openai.OpenAI(base_url=f"{replay}/v1", api_key="k", max_retries=0)
    stream = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True,
                                            extra_body={"replay_transcript": "openai/parallel_tool_calls"})
    calls = {}
    chunks = 0
    for chunk in tee(stream, "tee-tools", hub=hub.url):
        chunks += 1
        for call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            entry = calls.setdefault(call.index, {"id": None, "name": None, "arguments": ""})
            entry["id"] = call.id or entry["id"]
            entry["name"] = (call.function.name if call.function else None) or entry["name"]
            entry["arguments"] += (call.function.arguments or "") if call.function else ""
    sdk_calls = [(c["id"], c["name"], json.loads(c["arguments"])) for _, c in sorted(calls.items())]
    assert chunks > 5 and len(sdk_calls) == 2
    events = viewer.wait()
    assert events[0]["type"] == "stream_start"
    assert tool_calls_of(events) == sdk_calls
    assert events[-1]["type"] == "stream_complete" and events[-1]["finish_reason"] == "tool_calls"
    assert not [e for e in events if e["type"] == "error"]


def test_openai_text_chunks_stream_live_and_the_answer_is_exact(hub, replay):
    viewer = Viewer(hub, "tee-text")
    posts_before = accepted_posts(hub)
    client = openai.OpenAI(base_url=f"{replay}/v1", api_key="k", max_retries=0)
    stream = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    text = "".join((c.choices[0].delta.content or "") for c in tee(stream, "tee-text", hub=hub.url) if c.choices)
    events = viewer.wait()
    assert text and text_of(events) == text
    assert events[-1]["finish_reason"] == "stop"
    # The chunks went out while the answer streamed (15 ms apart), in several posts, not in one at the end.
    assert accepted_posts(hub) - posts_before >= 4


def accepted_posts(hub):
    for line in httpx.get(f"{hub.url}/metrics").text.splitlines():
        if line.startswith("newsroom_http_requests_total{") and 'route="/v1/topics/{topic}/events"' in line \
                and 'status="202"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_anthropic_sdk_events_and_the_raw_sse_body(hub, replay):
    viewer = Viewer(hub, "tee-claude")
    client = anthropic.Anthropic(base_url=replay, api_key="k", max_retries=0)
    stream = client.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=MESSAGES, stream=True,
                                    extra_headers={"x-replay-transcript": "anthropic/thinking"})
    reasoning, text = "", ""
    for event in tee(stream, "tee-claude", format="anthropic", hub=hub.url):
        if event.type == "content_block_delta" and event.delta.type == "thinking_delta":
            reasoning += event.delta.thinking
        if event.type == "content_block_delta" and event.delta.type == "text_delta":
            text += event.delta.text
    events = viewer.wait()
    assert text_of(events) == text and text
    assert "".join(e["text"] for e in events if e["type"] == "reasoning_delta") == reasoning and reasoning

    # The raw body as the provider sent it, in one post.
    raw = httpx.post(f"{replay}/v1/messages", json={"model": "m", "stream": True}, timeout=10).content
    viewer = Viewer(hub, "tee-raw")
    answer = httpx.post(f"{hub.url}/v1/topics/tee-raw/events?format=anthropic", content=raw,
                        headers={"content-type": "text/event-stream"})
    assert answer.status_code == 202 and answer.json()["first_seq"] == 1
    events = viewer.wait()
    assert events[-1]["finish_reason"] == "stop" and text_of(events).startswith("Hello!")


def test_bad_tee_posts_get_clear_errors(hub):
    unknown = httpx.post(f"{hub.url}/v1/topics/tee-bad/events?format=cohere", content=b"{}\n")
    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "bad_request" and "openai-chat" in unknown.json()["error"]["message"]
    more = httpx.post(f"{hub.url}/v1/topics/tee-bad/events?format=openai-chat&more=maybe", content=b"{}\n")
    assert more.status_code == 400
    # An open stream in one format refuses posts in another.
    first = b'{"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n'
    opened = httpx.post(f"{hub.url}/v1/topics/tee-bad/events?format=openai-chat&more=true", content=first)
    assert opened.status_code == 202
    other = httpx.post(f"{hub.url}/v1/topics/tee-bad/events?format=anthropic&more=true", content=b'{"type":"ping"}\n')
    assert other.status_code == 400 and "openai-chat" in other.json()["error"]["message"]
    # The stream ends with its last post: a chunk without finish_reason ends as the provider's would
    # without `[DONE]`... here the post carries none, so the answer is incomplete but ends cleanly.
    last = httpx.post(f"{hub.url}/v1/topics/tee-bad/events?format=openai-chat", content=b"")
    assert last.status_code == 202
    replayed = httpx.get(f"{hub.url}/v1/topics/tee-bad/events", timeout=10).text
    assert "event: stream_start" in replayed and "event: stream_complete" in replayed
