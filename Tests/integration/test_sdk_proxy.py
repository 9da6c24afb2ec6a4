"""Provider APIs on the hub, with the official `openai` and `anthropic` Python SDKs pointed at it by base
URL, against the replay upstream: the SDK gets the provider's answer as the provider sent it (its own
parsers, tool-call handling, usage and error types work), and viewers of the topic see the same answer
as standard events."""

import asyncio
import json
import socket
import subprocess
import threading
import time

import httpx
import pytest
from httpx_sse import connect_sse
from websockets.sync.client import connect as ws_connect

openai = pytest.importorskip("openai", reason="the openai SDK is not installed")
anthropic = pytest.importorskip("anthropic", reason="the anthropic SDK is not installed")

from conftest import BINARY, Hub, wait_until  # noqa: E402

HUB_KEY = "sk-hub-SECRET-0123456789abcdef"
MESSAGES = [{"role": "user", "content": "a question"}]


@pytest.fixture(scope="module")
def replay():
    proc = subprocess.Popen([str(BINARY), "replay-upstream", "--port", "0", "--event-delay-ms", "15"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert "listening on" in line, line
    yield line.strip().split("listening on ")[1]
    proc.terminate()
    proc.wait(timeout=10)


def provider_env(replay, **extra):
    env = {"NEWSROOM_PROXY_RETRY_GRACE": "2"}
    for provider in ("OPENAI", "ANTHROPIC", "VLLM"):
        env[f"NEWSROOM_PROVIDER_{provider}_BASE_URL"] = replay
        env[f"NEWSROOM_PROVIDER_{provider}_API_KEY"] = HUB_KEY
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def hub(replay):
    hub = Hub(["serve", "--port", "0", "--heartbeat-interval", "0.5"], env=provider_env(replay))
    hub.replay = replay
    yield hub
    hub.stop()


def recorded(replay):
    return httpx.get(f"{replay}/__replay/requests", timeout=5).json()


class Viewer:
    """An SSE viewer of a topic, opened before the answer starts; collects every event until the end."""

    def __init__(self, hub, topic):
        self.events = []
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(hub.url, topic), daemon=True)
        self.thread.start()
        assert wait_until(lambda: subscribers(hub, topic) >= 1, timeout=10)

    def _run(self, url, topic):
        with httpx.Client(timeout=60) as client, connect_sse(client, "GET", f"{url}/v1/topics/{topic}/events") as source:
            for sse in source.iter_sse():
                if not sse.data:
                    continue
                event = json.loads(sse.data)
                if event["type"] == "heartbeat":
                    continue
                self.events.append(event)
                if event["type"] == "stream_complete" or (event["type"] == "error" and event.get("terminal")):
                    return

    def wait(self, timeout=30):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), self.events
        return self.events


def subscribers(hub, topic):
    answer = httpx.get(f"{hub.url}/v1/topics/{topic}")
    return answer.json().get("subscribers", 0) if answer.status_code == 200 else 0


def text_of(events):
    return "".join(e["text"] for e in events if e["type"] == "text_delta")


def tool_calls_of(events):
    return [(e["call_id"], e["name"], json.loads(e["arguments"])) for e in events if e["type"] == "tool_call"]


def open_topic(hub, topic):
    """Creates the topic (so a viewer can wait on it) by subscribing: the hub makes topics on first use."""
    return Viewer(hub, topic)


def openai_client(hub, **kwargs):
    return openai.OpenAI(base_url=f"{hub.url}/v1", api_key=kwargs.pop("api_key", "unused"), max_retries=0, **kwargs)


# --- OpenAI Chat Completions ------------------------------------------------------------------------


def test_openai_chat_stream_text_reaches_the_sdk_and_the_viewers(hub):
    viewer = open_topic(hub, "sdk-chat")
    client = openai_client(hub)
    stream = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True},
        extra_headers={"X-Newsroom-Topic": "sdk-chat"})
    assert stream.headers["x-newsroom-topic"] == "sdk-chat"
    assert stream.headers["x-newsroom-generation"].startswith("gen_")
    text, usage = "", None
    for chunk in stream.parse():
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
        if chunk.usage:
            usage = chunk.usage
    assert text == "The capital of France is Paris — “la Ville Lumière” ☀️."
    assert usage.prompt_tokens == 14 and usage.completion_tokens == 12
    events = viewer.wait()
    assert events[0]["type"] == "stream_start" and events[0]["provider"] == "openai"
    assert text_of(events) == text
    assert events[-1]["finish_reason"] == "stop"
    assert events[-1]["usage"] == {"input_tokens": 14, "output_tokens": 12}
    # The provider got the hub's key, never the caller's credential.
    last = recorded(hub.replay)[-1]
    assert last["headers"].get("authorization") == f"Bearer {HUB_KEY}"


def test_openai_chat_stream_tool_calls_sync_and_async(hub):
    body = {"replay_transcript": "openai/parallel_tool_calls"}
    viewer = open_topic(hub, "sdk-tools")
    client = openai_client(hub)
    calls = {}
    for chunk in client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True, extra_body=body,
                                                extra_headers={"X-Newsroom-Topic": "sdk-tools"}):
        for call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            entry = calls.setdefault(call.index, {"id": None, "name": None, "arguments": ""})
            entry["id"] = call.id or entry["id"]
            entry["name"] = (call.function.name if call.function else None) or entry["name"]
            entry["arguments"] += (call.function.arguments or "") if call.function else ""
    sdk_calls = [(c["id"], c["name"], json.loads(c["arguments"])) for _, c in sorted(calls.items())]
    assert len(sdk_calls) == 2
    events = viewer.wait()
    assert tool_calls_of(events) == sdk_calls
    assert events[-1]["finish_reason"] == "tool_calls"

    async def async_calls():
        async_client = openai.AsyncOpenAI(base_url=f"{hub.url}/v1", api_key="unused", max_retries=0)
        stream = await async_client.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True, extra_body=body,
            extra_headers={"X-Newsroom-Topic": "sdk-tools-async"})
        names = []
        async for chunk in stream:
            for call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
                if call.function and call.function.name:
                    names.append(call.function.name)
        await async_client.close()
        return names

    assert asyncio.run(async_calls()) == ["get_weather", "get_weather"]
    replayed = httpx.get(f"{hub.url}/v1/topics/sdk-tools-async/events", timeout=10).text
    assert replayed.count("event: tool_call\n") == 2


def test_openai_chat_without_stream_is_answered_whole_and_broadcast(hub):
    client = openai_client(hub)
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
    completion = raw.parse()
    topic = raw.headers["x-newsroom-topic"]
    assert completion.choices[0].message.content == "The capital of France is Paris — “la Ville Lumière” ☀️."
    assert completion.usage.total_tokens == 26
    with httpx.Client(timeout=10) as http, connect_sse(http, "GET", f"{hub.url}/v1/topics/{topic}/events") as source:
        events = [json.loads(s.data) for s in source.iter_sse() if s.data]
    assert text_of(events) == completion.choices[0].message.content
    assert events[-1]["finish_reason"] == "stop" and events[-1]["usage"]["output_tokens"] == 12
    # Tool calls in a whole answer.
    tools = client.chat.completions.create(model="gpt-4o", messages=MESSAGES,
                                           extra_body={"replay_transcript": "openai/parallel_tool_calls"},
                                           extra_headers={"X-Newsroom-Topic": "sdk-whole-tools"})
    sdk = [(c.id, c.function.name, json.loads(c.function.arguments)) for c in tools.choices[0].message.tool_calls]
    events = [json.loads(line[6:]) for line in httpx.get(f"{hub.url}/v1/topics/sdk-whole-tools/events", timeout=10)
              .text.splitlines() if line.startswith("data: ")]
    assert tool_calls_of(events) == sdk and events[-1]["finish_reason"] == "tool_calls"


def test_an_upstream_429_is_the_sdks_rate_limit_error_and_the_viewers_error(hub):
    client = openai_client(hub)
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True,
                                       extra_body={"replay_transcript": "openai/http_error_429"})
    response = raised.value.response
    assert response.headers["retry-after-ms"] == "200" and response.headers["x-request-id"] == "req_5f2b7c9e1a3d4f60"
    assert raised.value.code == "rate_limit_exceeded"
    topic = response.headers["x-newsroom-topic"]
    events = [json.loads(line[6:]) for line in httpx.get(f"{hub.url}/v1/topics/{topic}/events", timeout=10)
              .text.splitlines() if line.startswith("data: ")]
    assert [e["type"] for e in events][-2:] == ["error", "stream_complete"]
    assert events[-2]["code"] == "rate_limited"


def test_an_sdk_retry_continues_a_named_topic(hub):
    """With X-Newsroom-Topic, a 429 the SDK retries leaves the topic open: the viewers see a retryable
    error, then the answer of the retry, on the same topic."""
    viewer = open_topic(hub, "sdk-retry")
    client = openai.OpenAI(base_url=f"{hub.url}/v1", api_key="unused", max_retries=2)
    stream = client.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True, extra_body={"replay_behavior": "fail=429x1,retry-after-ms=50"},
        extra_headers={"X-Newsroom-Topic": "sdk-retry"})
    text = "".join((c.choices[0].delta.content or "") for c in stream if c.choices)
    assert text.startswith("The capital of France")
    events = viewer.wait()
    errors = [e for e in events if e["type"] == "error"]
    assert len(errors) == 1 and errors[0]["retryable"] and not errors[0].get("terminal")
    assert text_of(events) == text and events[-1]["finish_reason"] == "stop"


def test_a_caller_that_drops_the_error_answer_unread_still_gets_its_retry(hub):
    """An SDK may close a 429 response without reading its body (the connection goes with it); that close
    used to cancel the failed attempt's generation and end the topic it had left open, so the retry got
    409 `topic has ended`. A raw client does exactly that, then retries at once, five times over."""
    for attempt in range(5):
        topic = f"sdk-drop-{attempt}"
        viewer = open_topic(hub, topic)
        body = json.dumps({"model": "gpt-4o", "stream": True, "messages": MESSAGES,
                           # Attempts are counted per behaviour string: a fresh one per round.
                           "replay_behavior": f"fail=429x1,retry-after-ms={60 + attempt}"}).encode()
        head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"X-Newsroom-Topic: {topic}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        with socket.create_connection(("127.0.0.1", hub.port), timeout=10) as raw:
            raw.sendall(head + body)
            assert raw.recv(12).startswith(b"HTTP/1.1 429")
        # Closed with the body unread; the retry comes straight after.
        client = openai.OpenAI(base_url=f"{hub.url}/v1", api_key="unused", max_retries=0)
        stream = client.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True, extra_headers={"X-Newsroom-Topic": topic},
            extra_body={"replay_behavior": f"fail=429x1,retry-after-ms={60 + attempt}"})
        text = "".join((c.choices[0].delta.content or "") for c in stream if c.choices)
        events = viewer.wait()
        assert [e["type"] for e in events if e["type"] == "error"] == ["error"], events
        assert text_of(events) == text and text.startswith("The capital of France")


def test_closing_the_sdk_stream_cancels_the_upstream_request(hub, replay):
    viewer = open_topic(hub, "sdk-close")
    client = openai_client(hub)
    stream = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True,
                                            extra_body={"replay_behavior": "delay=300"},
                                            extra_headers={"X-Newsroom-Topic": "sdk-close"})
    first = next(iter(stream))
    assert first.choices
    stream.close()
    events = viewer.wait()
    assert events[-1]["type"] == "stream_complete" and events[-1]["finish_reason"] == "cancelled"
    assert wait_until(lambda: recorded(replay)[-1]["client_closed"], timeout=5), recorded(replay)[-1]


def test_detach_lets_the_answer_run_on_for_the_viewers(hub):
    viewer = open_topic(hub, "sdk-detach")
    client = openai_client(hub)
    stream = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True,
                                            extra_body={"replay_behavior": "delay=100"},
                                            extra_headers={"X-Newsroom-Topic": "sdk-detach", "X-Newsroom-Detach": "true"})
    next(iter(stream))
    stream.close()
    events = viewer.wait()
    assert events[-1]["finish_reason"] == "stop"
    assert text_of(events) == "The capital of France is Paris — “la Ville Lumière” ☀️."


def test_a_detached_answer_is_cancelled_once_the_topic_has_no_viewer(hub):
    """X-Newsroom-Cancel-When-Idle: the `cancel_when_idle_s` rule, for a detached proxied answer."""
    client = openai_client(hub)
    stream = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True,
                                            extra_body={"replay_behavior": "delay=300"},
                                            extra_headers={"X-Newsroom-Topic": "sdk-idle", "X-Newsroom-Detach": "true",
                                                           "X-Newsroom-Cancel-When-Idle": "0.5"})
    generation = stream.response.headers["x-newsroom-generation"]
    next(iter(stream))
    stream.close()
    assert wait_until(lambda: httpx.get(f"{hub.url}/v1/generations/{generation}").json()["state"] == "cancelled",
                      timeout=10)
    bad = httpx.post(f"{hub.url}/v1/chat/completions", json={"model": "gpt-4o", "messages": MESSAGES},
                     headers={"X-Newsroom-Cancel-When-Idle": "soon"})
    assert bad.status_code == 400 and "X-Newsroom-Cancel-When-Idle" in bad.json()["error"]["message"]


def test_the_readme_sdk_examples_work_against_the_demo():
    """`newsroom demo` answers /v1/chat/completions and /v1/messages from its replay (no key), so the
    README's first SDK examples run as they are."""
    demo = Hub(["demo", "--port", "0", "--answers", "0"])
    try:
        viewer = open_topic(demo, "chat:42")
        client = openai.OpenAI(base_url=f"{demo.url}/v1", api_key="anything", max_retries=0)
        stream = client.chat.completions.create(model="gpt-4o-mini", stream=True, messages=MESSAGES,
                                                extra_headers={"X-Newsroom-Topic": "chat:42"})
        text = "".join((c.choices[0].delta.content or "") for c in stream if c.choices)
        assert text and text_of(viewer.wait()) == text
        claude = anthropic.Anthropic(base_url=demo.url, api_key="anything", max_retries=0)
        with claude.messages.stream(model="claude-sonnet-4-5", max_tokens=1024, messages=MESSAGES) as answer:
            assert "".join(answer.text_stream).startswith("Hello!")
    finally:
        demo.stop()


def test_openai_responses_stream_and_function_calls(hub):
    viewer = open_topic(hub, "sdk-responses")
    client = openai_client(hub)
    with client.responses.stream(model="gpt-4.1", input="hi", extra_headers={"X-Newsroom-Topic": "sdk-responses"}) as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    events = viewer.wait()
    assert text_of(events) == final.output_text and final.output_text
    viewer = open_topic(hub, "sdk-responses-tools")
    with client.responses.stream(model="gpt-4.1", input="weather?", extra_body={"replay_transcript": "openai-responses/function_call"},
                                 extra_headers={"X-Newsroom-Topic": "sdk-responses-tools"}) as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    sdk_calls = [(item.call_id, item.name, json.loads(item.arguments)) for item in final.output if item.type == "function_call"]
    events = viewer.wait()
    assert sdk_calls and tool_calls_of(events) == sdk_calls


# --- Anthropic Messages -----------------------------------------------------------------------------


def anthropic_client(hub, api_key="unused"):
    return anthropic.Anthropic(base_url=hub.url, api_key=api_key, max_retries=0)


@pytest.mark.parametrize("transcript", ["anthropic/text", "anthropic/thinking", "anthropic/tool_use"])
def test_anthropic_messages_stream(hub, transcript):
    topic = "sdk-" + transcript.replace("/", "-")
    viewer = open_topic(hub, topic)
    client = anthropic_client(hub)
    with client.messages.stream(model="claude-sonnet-4-5", max_tokens=256, messages=MESSAGES,
                                extra_body={"replay_transcript": transcript},
                                extra_headers={"X-Newsroom-Topic": topic}) as stream:
        message = stream.get_final_message()
    events = viewer.wait()
    sdk_text = "".join(block.text for block in message.content if block.type == "text")
    sdk_thinking = "".join(block.thinking for block in message.content if block.type == "thinking")
    sdk_tools = [(block.id, block.name, block.input) for block in message.content if block.type == "tool_use"]
    assert text_of(events) == sdk_text
    assert "".join(e["text"] for e in events if e["type"] == "reasoning_delta") == sdk_thinking
    assert tool_calls_of(events) == sdk_tools
    assert events[-1]["usage"]["output_tokens"] == message.usage.output_tokens
    if transcript == "anthropic/tool_use":
        assert sdk_tools and events[-1]["finish_reason"] == "tool_calls"
    # The provider got the hub's key in Anthropic's header.
    assert recorded(hub.replay)[-1]["headers"].get("x-api-key") == HUB_KEY


def test_anthropic_without_stream_is_answered_whole(hub):
    raw = anthropic_client(hub).messages.with_raw_response.create(
        model="claude-sonnet-4-5", max_tokens=256, messages=MESSAGES, extra_body={"replay_transcript": "anthropic/tool_use"})
    message = raw.parse()
    topic = raw.headers["x-newsroom-topic"]
    events = [json.loads(line[6:]) for line in httpx.get(f"{hub.url}/v1/topics/{topic}/events", timeout=10)
              .text.splitlines() if line.startswith("data: ")]
    assert text_of(events) == message.content[0].text
    assert tool_calls_of(events) == [(b.id, b.name, b.input) for b in message.content if b.type == "tool_use"]


# --- Routing, auth and errors -----------------------------------------------------------------------


def test_a_provider_prefix_routes_and_is_removed_and_unknown_providers_are_sdk_errors(hub, replay):
    client = openai_client(hub)
    answer = client.chat.completions.create(model="vllm/qwen-2.5", messages=MESSAGES)
    assert answer.choices[0].message.content
    assert json.loads(recorded(replay)[-1]["body"])["model"] == "qwen-2.5"
    with pytest.raises(openai.BadRequestError) as unknown:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, extra_headers={"X-Newsroom-Topic": "bad topic!"})
    assert unknown.value.status_code == 400
    with pytest.raises(anthropic.BadRequestError) as wrong:
        anthropic_client(hub).messages.create(model="openai/gpt-4o", max_tokens=10, messages=MESSAGES)
    assert "does not serve /v1/messages" in str(wrong.value)


def test_hub_tokens_in_the_sdks_own_credential(replay):
    jwt = pytest.importorskip("jwt", reason="PyJWT is not installed")
    secret = "a-proxy-test-secret-of-enough-length-01"

    def token(**claims):
        return jwt.encode({"sub": "app", "exp": int(time.time()) + 600, **claims}, secret, algorithm="HS256")

    hub = Hub(["serve", "--port", "0", "--auth-hs256-secret", secret], env=provider_env(replay))
    try:
        with pytest.raises(openai.AuthenticationError):
            openai_client(hub, api_key="not-a-token").chat.completions.create(model="gpt-4o", messages=MESSAGES)
        with pytest.raises(openai.PermissionDeniedError):
            openai_client(hub, api_key=token(subscribe=["*"])).chat.completions.create(model="gpt-4o", messages=MESSAGES)
        answer = openai_client(hub, api_key=token(generate=True)).chat.completions.create(model="gpt-4o", messages=MESSAGES)
        assert answer.choices[0].message.content
        with pytest.raises(anthropic.AuthenticationError) as refused:
            anthropic_client(hub, api_key="nope").messages.create(model="claude", max_tokens=10, messages=MESSAGES)
        assert refused.value.body["error"]["type"] == "authentication_error"
        message = anthropic_client(hub, api_key=token(generate=True)).messages.create(
            model="claude", max_tokens=10, messages=MESSAGES)
        assert message.content[0].text
        # The hub's token never reaches the provider; its key does.
        assert all(token(generate=True)[:20] not in json.dumps(r["headers"]) for r in recorded(replay)[-2:])
    finally:
        hub.stop()


def test_bring_your_own_key_passes_the_callers_key(replay):
    hub = Hub(["serve", "--port", "0", "--log-level", "debug"],
              env=provider_env(replay, NEWSROOM_PROVIDER_OPENAI_PASS_CALLER_KEY="true"))
    try:
        openai_client(hub, api_key="sk-caller-own-key").chat.completions.create(model="gpt-4o", messages=MESSAGES)
        assert recorded(replay)[-1]["headers"]["authorization"] == "Bearer sk-caller-own-key"
    finally:
        hub.stop()
    assert "sk-caller-own-key" not in hub.log_text()


def test_websocket_viewers_see_the_same_answer(hub):
    with ws_connect(f"{hub.url.replace('http', 'ws')}/v1/topics/sdk-ws/ws") as socket:
        assert wait_until(lambda: httpx.get(f"{hub.url}/v1/topics/sdk-ws").json().get("subscribers") == 1)
        text = "".join((c.choices[0].delta.content or "") for c in openai_client(hub).chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True, extra_headers={"X-Newsroom-Topic": "sdk-ws"}) if c.choices)
        received = []
        while not received or received[-1]["type"] != "stream_complete":
            event = json.loads(socket.recv(timeout=10))
            if event["type"] != "heartbeat":
                received.append(event)
    assert text_of(received) == text
