"""Tokens, capabilities, CORS and limits, with PyJWT-made tokens and real clients."""

import json
import signal
import socket
import ssl
import subprocess
import time

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from httpx_sse import connect_sse
from websockets.sync.client import connect as ws_connect

from conftest import Hub, publish, wait_until
from wsraw import RawWebSocket

SECRET = "a-test-secret-of-enough-length-0123456789"


def token(key=SECRET, algorithm="HS256", expires_in=600, **claims):
    payload = {"sub": "user-1", "exp": int(time.time()) + expires_in}
    payload.update(claims)
    return jwt.encode(payload, key, algorithm=algorithm)


def bearer(t):
    return {"authorization": f"Bearer {t}"}


@pytest.fixture
def secure_hub():
    hub = Hub(["serve", "--port", "0", "--auth-hs256-secret", SECRET, "--allowed-origins", "https://app.example"])
    yield hub
    hub.stop()


def test_missing_invalid_and_expired_tokens_are_401(secure_hub):
    url = f"{secure_hub.url}/v1/topics/t/events"
    with httpx.Client() as client:
        r = client.post(url, json={"type": "text_delta", "text": "x"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        assert r.headers["www-authenticate"] == "Bearer"
        assert client.post(url, json={"type": "text_delta", "text": "x"}, headers=bearer(token(key="wrong-secret-of-enough-length-0123456789"))).status_code == 401
        assert client.post(url, json={"type": "text_delta", "text": "x"}, headers=bearer("not.a.jwt")).status_code == 401
        expired = client.post(url, json={"type": "text_delta", "text": "x"}, headers=bearer(token(expires_in=-120, publish=["*"])))
        assert expired.status_code == 401 and expired.json()["error"]["code"] == "token_expired"
        future = token(publish=["*"], nbf=int(time.time()) + 300)
        assert client.post(url, json={"type": "text_delta", "text": "x"}, headers=bearer(future)).status_code == 401
        # within the leeway: a token that expired 5 s ago still works
        recent = token(expires_in=-5, publish=["*"])
        assert client.post(url, json={"type": "text_delta", "text": "x"}, headers=bearer(recent)).status_code == 202
        # health checks stay open
        assert client.get(f"{secure_hub.url}/healthz").status_code == 200


def test_capabilities_per_topic_pattern(secure_hub):
    viewer = token(subscribe=["chat:42", "demo"], publish=["chat:*"], cancel=["chat:42"], generate=True)
    with httpx.Client(timeout=10) as client:
        u = secure_hub.url
        assert client.post(f"{u}/v1/topics/chat:7/events", json={"type": "text_delta", "text": "a"}, headers=bearer(viewer)).status_code == 202
        r = client.post(f"{u}/v1/topics/other/events", json={"type": "text_delta", "text": "a"}, headers=bearer(viewer))
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden" and "publish" in r.json()["error"]["message"]
        assert client.get(f"{u}/v1/topics/chat:42", headers=bearer(viewer)).status_code in (200, 404)
        assert client.get(f"{u}/v1/topics/chat:7", headers=bearer(viewer)).status_code == 403
        assert client.get(f"{u}/v1/topics", headers=bearer(viewer)).status_code == 403  # listing is admin
        assert client.get(f"{u}/v1/topics", headers=bearer(token(admin=True))).status_code == 200
        assert client.delete(f"{u}/v1/topics/chat:7", headers=bearer(viewer)).status_code == 403
        assert client.delete(f"{u}/v1/topics/chat:42", headers=bearer(viewer)).status_code in (200, 404)
        no_generate = token(publish=["*"])
        r = client.post(f"{u}/v1/generations", json={"provider": "openai", "request": {}}, headers=bearer(no_generate))
        assert r.status_code == 403
        # SSE with ?token= (EventSource cannot set headers)
        publish(client, secure_hub, "demo", [{"type": "text_delta", "text": "hi"}, {"type": "stream_complete", "finish_reason": "stop"}]) if False else None
        client.post(f"{u}/v1/topics/demo/events", content="\n".join([
            json.dumps({"type": "text_delta", "text": "hi"}), json.dumps({"type": "stream_complete", "finish_reason": "stop"})]),
            headers={**bearer(token(publish=["demo"])), "content-type": "application/x-ndjson"})
        with connect_sse(client, "GET", f"{u}/v1/topics/demo/events?token={viewer}") as source:
            texts = [json.loads(s.data).get("text") for s in source.iter_sse() if s.data]
        assert "hi" in texts
        assert client.get(f"{u}/v1/topics/secret/events?token={viewer}").status_code == 403


def test_websocket_auth_close_codes(secure_hub):
    base = secure_hub.url.replace("http://", "ws://")
    viewer = token(subscribe=["chat:42"], publish=["chat:42"])
    with ws_connect(f"{base}/v1/topics/chat:42/ws") as ws:  # no token
        with pytest.raises(Exception):
            ws.recv(timeout=5)
        assert ws.close_code == 4001
    with ws_connect(f"{base}/v1/topics/secret/ws?token={viewer}") as ws:
        with pytest.raises(Exception):
            ws.recv(timeout=5)
        assert ws.close_code == 4003
    with ws_connect(f"{base}/v1/ws", additional_headers=bearer(viewer)) as ws:
        ws.send(json.dumps({"op": "subscribe", "topic": "secret", "id": 1}))
        assert json.loads(ws.recv(timeout=5)) == {"op": "error", "id": 1, "code": "forbidden",
                                                  "message": "the token does not allow subscribe on 'secret'"}
        ws.send(json.dumps({"op": "subscribe", "topic": "chat:42", "id": 2}))
        assert json.loads(ws.recv(timeout=5))["op"] == "ok"


def test_an_expired_token_ends_live_subscriptions_with_token_expired(secure_hub):
    short = token(expires_in=-27, subscribe=["live"])  # 30 s leeway: ends in about 3 s
    writer = token(publish=["live"])
    with httpx.Client(timeout=15) as client:
        client.post(f"{secure_hub.url}/v1/topics/live/events", json={"type": "text_delta", "text": "a"}, headers=bearer(writer))
        start = time.monotonic()
        with connect_sse(client, "GET", f"{secure_hub.url}/v1/topics/live/events", headers=bearer(short)) as source:
            events = [json.loads(s.data) for s in source.iter_sse() if s.data]
        assert events[-1]["type"] == "error" and events[-1]["code"] == "token_expired" and events[-1]["retryable"]
        assert 1 < time.monotonic() - start < 10
    base = secure_hub.url.replace("http://", "ws://")
    with ws_connect(f"{base}/v1/topics/live/ws?token={token(expires_in=-28, subscribe=['live'])}") as ws:
        messages = []
        try:
            while True:
                messages.append(json.loads(ws.recv(timeout=10)))
        except Exception:
            pass
        assert messages[-1]["code"] == "token_expired"
        assert ws.close_code == 4001


def test_rs256_es256_public_keys_and_jwks_with_audience_and_issuer(tmp_path):
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    pem = lambda k: k.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "rsa.pem").write_bytes(pem(rsa_key))
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key()))
    jwk.update({"kid": "ec-1", "alg": "ES256", "use": "sig"})
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    hub = Hub(["serve", "--port", "0", "--auth-public-key", str(tmp_path / "rsa.pem"), "--auth-jwks", str(tmp_path / "jwks.json")],
              env={"NEWSROOM_AUTH_AUDIENCE": "newsroom", "NEWSROOM_AUTH_ISSUER": "https://auth.example"})
    try:
        claims = {"publish": ["*"], "aud": "newsroom", "iss": "https://auth.example"}
        url = f"{hub.url}/v1/topics/k/events"
        body = {"type": "text_delta", "text": "x"}
        with httpx.Client() as client:
            assert client.post(url, json=body, headers=bearer(token(rsa_key, "RS256", **claims))).status_code == 202
            es = jwt.encode({"sub": "svc", "exp": int(time.time()) + 60, **claims}, ec_key, algorithm="ES256", headers={"kid": "ec-1"})
            assert client.post(url, json=body, headers=bearer(es)).status_code == 202
            wrong_aud = token(rsa_key, "RS256", publish=["*"], aud="other", iss="https://auth.example")
            assert client.post(url, json=body, headers=bearer(wrong_aud)).status_code == 401
            wrong_iss = token(rsa_key, "RS256", publish=["*"], aud="newsroom", iss="https://evil.example")
            assert client.post(url, json=body, headers=bearer(wrong_iss)).status_code == 401
            hs = token(publish=["*"], aud="newsroom", iss="https://auth.example")  # no HS256 secret configured
            assert client.post(url, json=body, headers=bearer(hs)).status_code == 401
    finally:
        hub.stop()


def test_cors_preflight_and_websocket_origin(secure_hub):
    with httpx.Client() as client:
        r = client.options(f"{secure_hub.url}/v1/topics/t/events",
                           headers={"origin": "https://app.example", "access-control-request-method": "POST"})
        assert r.status_code == 204
        assert r.headers["access-control-allow-origin"] == "https://app.example"
        assert "authorization" in r.headers["access-control-allow-headers"]
        assert "POST" in r.headers["access-control-allow-methods"]
        bad = client.options(f"{secure_hub.url}/v1/topics/t/events",
                             headers={"origin": "https://evil.example", "access-control-request-method": "POST"})
        assert bad.status_code == 403
        r = client.get(f"{secure_hub.url}/healthz", headers={"origin": "https://app.example"})
        assert r.headers["access-control-allow-origin"] == "https://app.example"
        assert "access-control-allow-origin" not in client.get(f"{secure_hub.url}/healthz", headers={"origin": "https://evil.example"}).headers
    raw = socket.create_connection(("127.0.0.1", secure_hub.port))
    raw.sendall(b"GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: https://evil.example\r\n\r\n")
    assert raw.recv(4096).startswith(b"HTTP/1.1 403")
    raw.close()


def test_limits_answer_with_their_status_and_count_in_metrics():
    hub = Hub(["serve", "--port", "0"], env={
        "NEWSROOM_LIMITS_MAX_CONNECTIONS_PER_IP": "20", "NEWSROOM_LIMITS_PUBLISH_RATE": "5",
        "NEWSROOM_LIMITS_PUBLISH_BURST": "50", "NEWSROOM_LIMITS_MAX_SUBSCRIPTIONS_PER_CONNECTION": "2",
        "NEWSROOM_LIMITS_MAX_HEADER_COUNT": "20"})
    try:
        with httpx.Client() as client:
            # publish rate (5/s, bursts of 50): 50 events pass, 10 more must wait
            ok = publish(client, hub, "rate", [{"type": "text_delta", "text": "x"}] * 50)
            assert ok.status_code == 202
            r = publish(client, hub, "rate", [{"type": "text_delta", "text": "x"}] * 10)
            assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
            # headers: too many fields
            r = client.get(f"{hub.url}/healthz", headers={f"x-h{i}": "v" for i in range(40)})
            assert r.status_code == 431
        # subscriptions per socket
        with ws_connect(hub.url.replace("http://", "ws://") + "/v1/ws") as ws:
            for i in range(3):
                ws.send(json.dumps({"op": "subscribe", "topic": f"s{i}", "id": i}))
            replies = [json.loads(ws.recv(timeout=5)) for _ in range(3)]
            assert [r["op"] for r in replies] == ["ok", "ok", "error"] and replies[2]["code"] == "subscription_limit"
        # connections per address
        socks = [socket.create_connection(("127.0.0.1", hub.port)) for _ in range(20)]
        time.sleep(0.2)
        extra = socket.create_connection(("127.0.0.1", hub.port))
        extra.settimeout(5)
        assert extra.recv(4096).startswith(b"HTTP/1.1 503")
        for s in socks + [extra]:
            s.close()
        time.sleep(0.3)
        metrics = httpx.get(f"{hub.url}/metrics").text
        for limit in ("publish_rate", "subscriptions_per_connection", "connections_per_ip"):
            assert f'newsroom_limit_rejections_total{{limit="{limit}"}}' in metrics
    finally:
        hub.stop()


def test_tls_certificate_reload_on_sighup_keeps_open_streams(tmp_path):
    def make_cert(name):
        cert, key = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                        "-days", "1", "-subj", f"/CN={name}"], check=True, capture_output=True)
        return cert, key

    first, first_key = make_cert("first")
    second, second_key = make_cert("second")
    live_cert, live_key = tmp_path / "live.pem", tmp_path / "live.key"
    live_cert.write_bytes(first.read_bytes())
    live_key.write_bytes(first_key.read_bytes())
    hub = Hub(["serve", "--port", "0", "--tls-certificate", str(live_cert), "--tls-private-key", str(live_key)])

    def served_subject():
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", hub.port)) as sock:
            with context.wrap_socket(sock) as tls:
                der = tls.getpeercert(binary_form=True)
        from cryptography import x509
        return x509.load_der_x509_certificate(der).subject.rfc4514_string()

    try:
        url = hub.url.replace("http://", "https://")
        assert served_subject() == "CN=first"
        received = []
        with httpx.Client(verify=False, timeout=15) as client:
            with connect_sse(client, "GET", f"{url}/v1/topics/tls-live/events") as source:
                it = (s for s in source.iter_sse() if s.data)
                client.post(f"{url}/v1/topics/tls-live/events", json={"type": "text_delta", "text": "before"})
                received.append(json.loads(next(it).data)["text"])
                live_cert.write_bytes(second.read_bytes())
                live_key.write_bytes(second_key.read_bytes())
                hub.proc.send_signal(signal.SIGHUP)
                assert wait_until(lambda: served_subject() == "CN=second", timeout=5)
                with httpx.Client(verify=False) as other:
                    other.post(f"{url}/v1/topics/tls-live/events", json={"type": "text_delta", "text": "after"})
                received.append(json.loads(next(it).data)["text"])
        assert received == ["before", "after"]
    finally:
        hub.stop()
