"""The access policy as one table, transport × operation × token, against the real binary with auth on.

Every cell asks one thing of a hub started with an HS256 secret (as test_security.py does) and reduces the
answer to one outcome: "ok", "401" (no, invalid or expired token), "403" (a valid token without the right)
or "404" (nothing by that id). The expected outcome comes from one function, `expected`, which encodes the
intended policy:

| operation                   | needs                                                        |
|-----------------------------|--------------------------------------------------------------|
| subscribe(t)                | `subscribe` matching t (or admin)                            |
| read_topic(t)               | `subscribe` on t                                             |
| list_topics                 | admin                                                        |
| publish(t)                  | `publish` on t                                               |
| cancel_topic(t)             | `cancel` on t                                                |
| start_generation(into t)    | `generate` (or admin) and `publish` on t                     |
| read_generation(id)         | `subscribe` on the generation's topic                        |
| cancel_generation(id)       | `cancel` on the generation's topic                           |
| read/cancel unknown id      | any valid token: not found                                   |

Transports and how each outcome shows:
- http1 / http2 (h2c prior knowledge): status 2xx / 401 / 403 / 404. Subscribe is the SSE stream.
- ws_topic (`/v1/topics/{t}/ws?token=`): the first message arrives / close 4001 / close 4003.
- ws_mux (`/v1/ws`, `Authorization` header): a socket opened without a valid token closes with 4001; a
  command gets `{"op":"ok",...}` or `{"op":"error","code":"forbidden"|"not_found",...}`.
- grpc: OK / UNAUTHENTICATED / PERMISSION_DENIED / NOT_FOUND. The address comes from `grpc_target`.

Each cell has its own topic (`am.<transport>.<op>.<token>`) and tokens whose topic rights name it, so the
cells do not disturb each other; one hub serves each transport group (HTTP, WebSocket, gRPC). Setup (an
ended topic to read, a running generation to cancel, ...) is done over HTTP/1.1 with an admin token.
"""

import json

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_connect

grpc = pytest.importorskip("grpc", reason="grpcio is not installed (pip install -r Tests/integration/requirements.txt)")
pytest.importorskip("grpc_tools", reason="grpcio-tools is not installed")
pytest.importorskip("h2", reason="h2 is not installed (httpx needs it for HTTP/2)")

from conftest import BINARY, Hub, wait_until  # noqa: E402
from grpc_support import generate_stubs  # noqa: E402
from test_generations import replay  # noqa: E402,F401  (the module-scoped replay upstream fixture)
from test_security import SECRET, bearer, token  # noqa: E402

pytestmark = pytest.mark.skipif(not BINARY.exists(), reason=f"no binary at {BINARY}")

UNKNOWN_GENERATION = "gen_0000000000000000unknown"
PROVIDER_ENV_KEY = "sk-test-access-matrix-0123456789"


# The policy.

TOKENS = [
    "none", "invalid_signature", "expired", "subscribe_only", "publish_only", "cancel_only",
    "generate_only", "generate_publish", "admin",
]
UNAUTHENTICATED = {"none", "invalid_signature", "expired"}
RIGHTS = {
    "subscribe_only": {"subscribe"},
    "publish_only": {"publish"},
    "cancel_only": {"cancel"},
    "generate_only": {"generate"},
    "generate_publish": {"generate", "publish"},
    "admin": {"admin"},
}
# What each operation needs on the cell's topic; "admin" only for the listing; None: the id is unknown.
NEEDS = {
    "subscribe": {"subscribe"},
    "read_topic": {"subscribe"},
    "list_topics": {"admin"},
    "publish": {"publish"},
    "cancel_topic": {"cancel"},
    "start_generation": {"generate", "publish"},
    "read_generation": {"subscribe"},
    "read_unknown_generation": None,
    "cancel_generation": {"cancel"},
    "cancel_unknown_generation": None,
}


def expected(op, kind):
    if kind in UNAUTHENTICATED:
        return "401"
    if NEEDS[op] is None:
        return "404"
    rights = RIGHTS[kind]
    if "admin" in rights or NEEDS[op] <= rights:
        return "ok"
    return "403"


def make_token(kind, topic):
    """A token of `kind` whose topic rights (if any) name `topic`; None for no token."""
    return {
        "none": lambda: None,
        "invalid_signature": lambda: token(key="another-secret-of-enough-length-0123456789", admin=True),
        "expired": lambda: token(expires_in=-120, admin=True),  # beyond the 30 s leeway
        "subscribe_only": lambda: token(subscribe=[topic]),
        "publish_only": lambda: token(publish=[topic]),
        "cancel_only": lambda: token(cancel=[topic]),
        "generate_only": lambda: token(generate=True),
        "generate_publish": lambda: token(generate=True, publish=[topic]),
        "admin": lambda: token(admin=True),
    }[kind]()


ALL_OPS = list(NEEDS)
TRANSPORT_OPS = {
    "http1": ALL_OPS,
    "http2": ALL_OPS,
    "ws_topic": ["subscribe"],
    "ws_mux": ["subscribe", "publish", "cancel_topic", "start_generation", "cancel_generation",
               "cancel_unknown_generation"],
    "grpc": ALL_OPS,
}
GROUP = {"http1": "http", "http2": "http", "ws_topic": "ws", "ws_mux": "ws", "grpc": "grpc"}
CASES = [(transport, op, kind) for transport, ops in TRANSPORT_OPS.items() for op in ops for kind in TOKENS]


# Hubs: one per transport group, started on first use.

def grpc_target(hub):
    """Where the hub's gRPC service listens: its one port (HTTP/2)."""
    return f"127.0.0.1:{hub.port}"


class Group:
    def __init__(self, name, replay_url):
        self.name = name
        args = ["--auth-hs256-secret", SECRET, "--heartbeat-interval", "0.3", "--log-level", "warning"]
        env = {"NEWSROOM_PROVIDER_OPENAI_BASE_URL": replay_url, "NEWSROOM_PROVIDER_OPENAI_API_KEY": PROVIDER_ENV_KEY}
        self.hub = Hub(["serve", "--port", "0", *args], env=env)
        self.admin = bearer(token(admin=True, expires_in=3600))
        self.setup = httpx.Client(timeout=15)
        self.clients = {}
        self.channel = None
        self.stub = None

    def client(self, transport):
        if transport not in self.clients:
            if transport == "http2":
                # h2c with prior knowledge: HTTP/2 on the cleartext port, no upgrade dance.
                self.clients[transport] = httpx.Client(http1=False, http2=True, timeout=15)
            else:
                self.clients[transport] = httpx.Client(timeout=15)
        return self.clients[transport]

    def grpc_stub(self, stubs):
        if self.stub is None:
            self.channel = grpc.insecure_channel(grpc_target(self.hub))
            grpc.channel_ready_future(self.channel).result(timeout=10)
            self.stub = stubs.rpc.NewsroomStub(self.channel)
        return self.stub

    def close(self):
        for client in [self.setup, *self.clients.values()]:
            client.close()
        if self.channel is not None:
            self.channel.close()
        self.hub.stop()


@pytest.fixture(scope="module")
def groups(replay):  # noqa: F811
    started = {}

    def get(name):
        if name not in started:
            started[name] = Group(name, replay)
        return started[name]

    yield get
    for group in started.values():
        group.close()


@pytest.fixture(scope="module")
def stubs():
    return generate_stubs()


# Setup, over HTTP/1.1 with an admin token.

def generation_body(topic, slow):
    request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "an access matrix story"}]}
    if slow:
        request["replay_behavior"] = "delay=300"  # still running when the cell cancels it
    return {"provider": "openai", "request": request, "topic": topic}


def start_generation(group, topic, slow):
    r = group.setup.post(f"{group.hub.url}/v1/generations", json=generation_body(topic, slow), headers=group.admin)
    assert r.status_code == 201, f"setup: starting a generation into {topic}: {r.status_code} {r.text}"
    return r.json()["generation"]


def prepare(group, op, topic):
    """What the cell's operation needs to exist; returns the generation id it works on, if any."""
    url = group.hub.url
    if op in ("subscribe", "read_topic"):
        # An ended topic: a permitted subscriber gets its replay and the stream ends.
        body = "\n".join(json.dumps(e) for e in [
            {"type": "text_delta", "text": "hi"}, {"type": "stream_complete", "finish_reason": "stop"}])
        r = group.setup.post(f"{url}/v1/topics/{topic}/events", content=body,
                             headers={**group.admin, "content-type": "application/x-ndjson"})
        assert r.status_code == 202, f"setup: publishing to {topic}: {r.status_code} {r.text}"
    elif op == "cancel_topic":
        # A topic with a running generation, so that every transport's "cancel the topic" has work to do.
        start_generation(group, topic, slow=True)
        assert wait_until(lambda: group.setup.get(f"{url}/v1/topics/{topic}", headers=group.admin).status_code == 200,
                          timeout=10), f"setup: {topic} never appeared"
    elif op == "read_generation":
        return start_generation(group, topic, slow=False)
    elif op == "cancel_generation":
        return start_generation(group, topic, slow=True)
    elif op in ("read_unknown_generation", "cancel_unknown_generation"):
        return UNKNOWN_GENERATION
    return None


# Running one cell: each returns (outcome, detail).

def http_outcome(status, text):
    if 200 <= status < 300:
        return "ok", f"HTTP {status}"
    return {401: "401", 403: "403", 404: "404"}.get(status, f"HTTP {status}"), f"HTTP {status}: {text[:300]}"


def run_http(group, transport, op, topic, tok, generation):
    client = group.client(transport)
    url = group.hub.url
    headers = bearer(tok) if tok else {}
    if op == "subscribe":
        with client.stream("GET", f"{url}/v1/topics/{topic}/events", headers=headers) as r:
            version = r.http_version
            text = r.read().decode(errors="replace") if r.status_code >= 300 else ""
            status = r.status_code
    else:
        method, path, body = {
            "read_topic": ("GET", f"/v1/topics/{topic}", None),
            "list_topics": ("GET", "/v1/topics", None),
            "publish": ("POST", f"/v1/topics/{topic}/events", {"type": "text_delta", "text": "x"}),
            "cancel_topic": ("DELETE", f"/v1/topics/{topic}", None),
            "start_generation": ("POST", "/v1/generations", generation_body(topic, slow=False)),
            "read_generation": ("GET", f"/v1/generations/{generation}", None),
            "read_unknown_generation": ("GET", f"/v1/generations/{generation}", None),
            "cancel_generation": ("DELETE", f"/v1/generations/{generation}", None),
            "cancel_unknown_generation": ("DELETE", f"/v1/generations/{generation}", None),
        }[op]
        r = client.request(method, url + path, json=body, headers=headers)
        version, status, text = r.http_version, r.status_code, r.text
    wanted = "HTTP/2" if transport == "http2" else "HTTP/1.1"
    if version != wanted:
        return f"spoke {version}", f"expected {wanted}, the exchange used {version}"
    return http_outcome(status, text)


def ws_close_outcome(ws, where):
    code = ws.close_code
    outcome = {4001: "401", 4003: "403"}.get(code, f"close {code}")
    return outcome, f"{where}: closed with {code} {ws.close_reason!r}"


def run_ws_topic(group, topic, tok):
    path = f"/v1/topics/{topic}/ws" + (f"?token={tok}" if tok else "")
    try:
        with ws_connect(group.hub.url.replace("http://", "ws://") + path, open_timeout=10) as ws:
            try:
                message = json.loads(ws.recv(timeout=5))
            except ConnectionClosed:
                return ws_close_outcome(ws, "before any message")
            except TimeoutError:
                return "silent", "no message and no close within 5 s"
            return "ok", f"first message {message}"
    except InvalidStatus as refused:
        status = refused.response.status_code
        return f"handshake {status}", f"the upgrade was refused with HTTP {status}"


def mux_command(op, topic, generation):
    return {
        "subscribe": {"op": "subscribe", "topic": topic},
        "publish": {"op": "publish", "topic": topic, "event": {"type": "text_delta", "text": "x"}},
        "cancel_topic": {"op": "cancel", "topic": topic},
        "start_generation": {"op": "generate", **generation_body(topic, slow=False)},
        "cancel_generation": {"op": "cancel", "generation": generation},
        "cancel_unknown_generation": {"op": "cancel", "generation": generation},
    }[op]


MUX_ERRORS = {"forbidden": "403", "not_found": "404", "unauthorized": "401", "token_expired": "401",
              "invalid_token": "401", "missing_token": "401"}


def run_ws_mux(group, op, topic, tok, generation):
    command = {**mux_command(op, topic, generation), "id": 1}
    try:
        with ws_connect(group.hub.url.replace("http://", "ws://") + "/v1/ws", open_timeout=10,
                        additional_headers=bearer(tok) if tok else None) as ws:
            try:
                ws.send(json.dumps(command))
                while True:
                    reply = json.loads(ws.recv(timeout=10))
                    if reply.get("op") in ("ok", "error") and reply.get("id") == 1:
                        break
            except ConnectionClosed:
                return ws_close_outcome(ws, "before the reply")
            except TimeoutError:
                return "silent", "no reply within 10 s"
    except InvalidStatus as refused:
        status = refused.response.status_code
        return f"handshake {status}", f"the upgrade was refused with HTTP {status}"
    if reply["op"] == "ok":
        return "ok", f"reply {reply}"
    return MUX_ERRORS.get(reply.get("code"), f"error {reply.get('code')}"), f"reply {reply}"


GRPC_OUTCOMES = {
    "OK": "ok", "UNAUTHENTICATED": "401", "PERMISSION_DENIED": "403", "NOT_FOUND": "404",
}


def run_grpc(group, stubs, op, topic, tok, generation):
    stub = group.grpc_stub(stubs)
    pb = stubs.pb
    metadata = (("authorization", f"Bearer {tok}"),) if tok else ()
    kw = {"timeout": 10, "metadata": metadata}
    try:
        if op == "subscribe":
            call = stub.Subscribe(pb.SubscribeRequest(topic=topic), **kw)
            try:
                first = next(iter(call))
            finally:
                call.cancel()
            detail = f"first event {first.WhichOneof('payload')}"
        elif op == "read_topic":
            detail = str(stub.GetTopic(pb.GetTopicRequest(topic=topic), **kw))
        elif op == "list_topics":
            detail = f"{len(stub.ListTopics(pb.ListTopicsRequest(), **kw).topics)} topics"
        elif op == "publish":
            event = pb.Event(text_delta=pb.TextDelta(text="x"))
            detail = str(stub.Publish(iter([pb.PublishRequest(topic=topic, event=event)]), **kw))
        elif op == "cancel_topic":
            detail = str(stub.CancelGeneration(pb.CancelRequest(topic=topic), **kw))
        elif op == "start_generation":
            body = generation_body(topic, slow=False)
            request = pb.GenerationRequest(provider=body["provider"], request=json.dumps(body["request"]), topic=topic)
            detail = str(stub.StartGeneration(request, **kw))
        elif op in ("read_generation", "read_unknown_generation"):
            detail = str(stub.GetGeneration(pb.GetGenerationRequest(generation=generation), **kw))
        else:  # cancel_generation, cancel_unknown_generation
            detail = str(stub.CancelGeneration(pb.CancelRequest(generation=generation), **kw))
    except grpc.RpcError as error:
        name = error.code().name
        return GRPC_OUTCOMES.get(name, name), f"{name}: {error.details()}"
    return "ok", f"OK: {detail[:300]}"


@pytest.mark.parametrize("transport, op, kind", CASES, ids=[f"{t}-{o}-{k}" for t, o, k in CASES])
def test_access(request, groups, transport, op, kind):
    if transport == "grpc":
        stubs = request.getfixturevalue("stubs")  # only the gRPC cells need protoc's output
    group = groups(GROUP[transport])
    topic = f"am.{transport}.{op}.{kind}"
    generation = prepare(group, op, topic)
    tok = make_token(kind, topic)
    if transport in ("http1", "http2"):
        outcome, detail = run_http(group, transport, op, topic, tok, generation)
    elif transport == "ws_topic":
        outcome, detail = run_ws_topic(group, topic, tok)
    elif transport == "ws_mux":
        outcome, detail = run_ws_mux(group, op, topic, tok, generation)
    else:
        outcome, detail = run_grpc(group, stubs, op, topic, tok, generation)
    want = expected(op, kind)
    assert outcome == want, f"{transport} {op} with a {kind} token: expected {want}, got {outcome} ({detail})"
