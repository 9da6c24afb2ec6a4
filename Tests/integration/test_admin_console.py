"""The operator's console at /admin, in headless Chromium against the real `newsroom` binary: a hub with
a running generation (against the replay upstream) shows its topics with viewers per transport, the
generation with a Cancel button that works, the last errors and the /metrics figures; with auth on it
needs an admin token; with auth off it is off unless `--admin-console` (or `demo --admin-console`)."""

import contextlib
import json
import re
import subprocess
import threading
import time

import httpx
import jwt
import pytest
from websockets.sync.client import connect as ws_connect

from conftest import BINARY, ROOT, Hub, publish
from viewer_support import require_browser, save_screenshot, start_browser, wait_for

SECRET = "an-admin-console-test-secret-0123456789"
API_KEY = "sk-test-SECRET-0123456789abcdef"
CONSOLE = ROOT / "Examples" / "admin-console"
VIEWER = ROOT / "Examples" / "web-viewer"
LIVE = "return window.newsroomAdmin && window.newsroomAdmin.state === 'live' && window.newsroomAdmin.snapshots >= 2"


def token(**claims):
    payload = {"sub": "ops", "exp": int(time.time()) + 600}
    payload.update(claims)
    return jwt.encode(payload, SECRET, algorithm="HS256")


def bearer(value):
    return {"authorization": f"Bearer {value}"}


@pytest.fixture(scope="module")
def replay():
    proc = subprocess.Popen([str(BINARY), "replay-upstream", "--port", "0", "--event-delay-ms", "20"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert "listening on" in line, line
    yield line.strip().split("listening on ")[1]
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def browser():
    require_browser()
    driver = start_browser(width=1280, height=1000)
    yield driver
    driver.quit()


@pytest.fixture
def hubs():
    started = []

    def start(*args, env=None):
        hub = Hub(list(args), env=env)
        started.append(hub)
        return hub

    yield start
    for hub in started:
        hub.stop()


def provider_env(replay):
    return {"NEWSROOM_PROVIDER_OPENAI_BASE_URL": replay, "NEWSROOM_PROVIDER_OPENAI_API_KEY": API_KEY}


def start_stalled_generation(client, hub, topic, headers=None):
    """A generation that sends a few events and then waits (the replay upstream stalls): it runs until
    cancelled."""
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "replay_behavior": "stall-after=4"}
    r = client.post(f"{hub.url}/v1/generations", json={"provider": "openai", "request": body, "topic": topic}, headers=headers or {})
    assert r.status_code == 201, r.text
    return r.json()["generation"]


def table(driver, table_id):
    """The rows of one of the console's tables: each row's dataset and its cells' text."""
    return driver.execute_script(
        "return [...document.querySelectorAll(`#${arguments[0]} tbody tr`)].map((r) => ({data: {...r.dataset},"
        " cells: [...r.cells].map((c) => c.textContent), transports: Object.fromEntries([...r.querySelectorAll('td[data-transport]')]"
        ".map((c) => [c.dataset.transport, c.textContent]))}))",
        table_id,
    )


def figure(driver, name):
    return driver.execute_script(
        "const f = document.querySelector(`[data-figure='${arguments[0]}'] .value`); return f && f.textContent", name
    )


# ---------------------------------------------------------------------------------------------------
# What it shows, and Cancel


def test_the_console_shows_topics_generations_errors_and_metrics_and_cancels(browser, hubs, replay):
    hub = hubs("serve", "--port", "0", "--admin-console", env=provider_env(replay))
    topic = "admin-gen"
    stop = threading.Event()
    with httpx.Client(timeout=10) as client:
        generation = start_stalled_generation(client, hub, topic)
        # Two viewers of the topic: one over SSE, one over WebSocket.
        def sse_viewer():
            with httpx.Client(timeout=None) as c, c.stream("GET", f"{hub.url}/v1/topics/{topic}/events") as r:
                for _ in r.iter_bytes():
                    if stop.is_set():
                        return
        thread = threading.Thread(target=sse_viewer, daemon=True)
        thread.start()
        sockets = contextlib.ExitStack()
        ws = sockets.enter_context(ws_connect(hub.url.replace("http://", "ws://") + f"/v1/topics/{topic}/ws"))
        # An error every viewer of another topic saw, with markup in it that must stay text.
        publish(client, hub, "broken", [{"type": "stream_start"},
                                        {"type": "error", "code": "upstream_unavailable",
                                         "message": "<img src=x onerror=\"window.__pwned=1\"> the provider did not answer",
                                         "retryable": True}])
        try:
            browser.get(f"{hub.url}/admin")
            wait_for(browser, LIVE, message="the console live")

            # Topics, with their viewers per transport.
            rows = wait_for(browser, f"""
                const row = document.querySelector("#topics tbody tr[data-topic='{topic}']")
                return row && row.querySelector("td[data-transport='sse']").textContent === '1'
                    && row.querySelector("td[data-transport='ws']").textContent === '1' && row""", message="the viewers per transport")
            assert rows
            topics = {r["data"]["topic"]: r for r in table(browser, "topics")}
            assert set(topics) >= {topic, "broken"}
            assert topics[topic]["cells"][1] == "streaming" and topics[topic]["cells"][2] == "2"
            assert topics[topic]["transports"] == {"sse": "1", "ws": "1", "grpc": "0", "grpc-web": "0", "socketio": "0"}
            link = browser.find_element("css selector", f"#topics tr[data-topic='{topic}'] a")
            assert link.get_attribute("href").endswith(f"/?topic={topic}")

            # The running generation: provider, model, age, and a Cancel button.
            generations = {r["data"]["generation"]: r for r in table(browser, "generations")}
            row = generations[generation]
            assert row["data"]["state"] == "running"
            model = client.get(f"{hub.url}/v1/generations/{generation}").json()["model"]
            assert model and model.startswith("gpt-4o")  # as the upstream reports it
            assert row["cells"][1:5] == [topic, "openai", model, "running"]
            assert re.fullmatch(r"\d+ s", row["cells"][5]), row["cells"][5]

            # The last errors, as text.
            errors = table(browser, "errors")
            assert errors[0]["cells"][1:3] == ["broken", "upstream_unavailable"]
            assert errors[0]["cells"][3].startswith('<img src=x onerror="window.__pwned=1">')
            assert errors[0]["cells"][4] == "every viewer"
            assert browser.execute_script("return document.querySelectorAll('main img').length") == 0

            # The figures from /metrics: connections (the two viewers, the page's own requests), a delivery rate.
            assert int(figure(browser, "connections")) >= 2
            assert int(figure(browser, "subscriptions")) == 2
            assert figure(browser, "generations-running") == "1"
            wait_for(browser, "const f = document.querySelector(\"[data-figure='deliveries-rate'] .value\"); return f && f.textContent !== '–'")
            assert figure(browser, "slow-disconnects") == "0"
            save_screenshot(browser, "admin-console.png")

            # Cancel asks first; declining keeps it running.
            button = browser.find_element("css selector", f"button[data-cancel='{generation}']")
            button.click()
            wait_for(browser, "return document.getElementById('confirm-cancel').open", message="the confirmation")
            text = browser.find_element("id", "confirm-cancel-text").text
            assert generation in text and topic in text and "every viewer" in text, text
            browser.find_element("id", "confirm-cancel-no").click()
            time.sleep(0.5)
            assert client.get(f"{hub.url}/v1/generations/{generation}").json()["state"] == "running"

            # Confirmed: cancelled, for the hub and on the page.
            button = browser.find_element("css selector", f"button[data-cancel='{generation}']")
            button.click()
            wait_for(browser, "return document.getElementById('confirm-cancel').open")
            browser.find_element("id", "confirm-cancel-yes").click()
            wait_for(browser, f"return window.newsroomAdmin.cancelled.includes('{generation}')", message="the cancel answered")
            wait_for(browser, f"""
                const row = document.querySelector("#generations tbody tr[data-generation='{generation}']")
                return row && row.dataset.state === 'cancelled' && !row.querySelector('button')""", message="the row cancelled")
            wait_for(browser, f"""
                const row = document.querySelector("#topics tbody tr[data-topic='{topic}']")
                return row && row.cells[1].textContent === 'ended'""", message="the topic ended")
            assert client.get(f"{hub.url}/v1/generations/{generation}").json()["state"] == "cancelled"
            assert client.get(f"{hub.url}/v1/topics/{topic}").json()["state"] == "ended"
            assert "cancelled" in browser.find_element("id", "notices").text
            # The viewers were told: the WebSocket got the end of the stream.
            ends = []
            try:
                while True:
                    event = json.loads(ws.recv(timeout=5))
                    if event["type"] == "stream_complete":
                        ends.append(event)
                        break
            except TimeoutError:
                pass
            assert ends and ends[0]["finish_reason"] == "cancelled"
            assert browser.execute_script("return typeof window.__pwned") == "undefined"
            save_screenshot(browser, "admin-console-cancelled.png")
        finally:
            stop.set()
            sockets.close()


def test_the_snapshot_lists_at_most_50_errors_newest_first(hubs):
    hub = hubs("serve", "--port", "0", "--admin-console")
    with httpx.Client() as client:
        for n in range(60):
            publish(client, hub, f"e{n}", [{"type": "error", "code": f"code_{n}", "message": "m", "retryable": False}])
        snapshot = client.get(f"{hub.url}/v1/admin").json()
    assert [e["code"] for e in snapshot["errors"]] == [f"code_{n}" for n in range(59, 9, -1)]
    assert {"time", "topic", "code", "message", "source", "seq"} <= set(snapshot["errors"][0])
    assert snapshot["metrics"]["events_published_total"] >= 60


# ---------------------------------------------------------------------------------------------------
# Access


def test_with_auth_on_the_console_needs_an_admin_token(browser, hubs, replay):
    hub = hubs("serve", "--port", "0", "--auth-hs256-secret", SECRET, env=provider_env(replay))
    admin = token(admin=True)
    viewer = token(subscribe=["*"], publish=["*"], cancel=["*"], generate=True)
    with httpx.Client(timeout=10) as client:
        for path in ("/admin", "/v1/admin"):
            missing = client.get(hub.url + path)
            assert missing.status_code == 401 and missing.json()["error"]["code"] == "unauthorized"
            refused = client.get(hub.url + path, headers=bearer(viewer))
            assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
            assert "admin" in refused.json()["error"]["message"]
            assert client.get(f"{hub.url}{path}?token={viewer}").status_code == 403
            assert client.get(hub.url + path, headers=bearer(admin)).status_code == 200
        page = client.get(f"{hub.url}/admin?token={admin}")
        assert page.status_code == 200 and page.headers["x-frame-options"] == "DENY"
        assert page.headers["referrer-policy"] == "no-referrer" and page.headers["cache-control"] == "no-store"
        generation = start_stalled_generation(client, hub, "secured", headers=bearer(admin))

    # The page without a token is the hub's JSON refusal, not the console.
    browser.get(f"{hub.url}/admin?token={viewer}")
    assert '"forbidden"' in browser.find_element("tag name", "body").text
    assert browser.execute_script("return typeof window.newsroomAdmin") == "undefined"

    # With an admin token: the console, and its Cancel carries the token.
    browser.get(f"{hub.url}/admin?token={admin}")
    wait_for(browser, LIVE, message="the console live")
    wait_for(browser, f"return document.querySelector(\"button[data-cancel='{generation}']\")", message="the generation")
    browser.find_element("css selector", f"button[data-cancel='{generation}']").click()
    wait_for(browser, "return document.getElementById('confirm-cancel').open")
    browser.find_element("id", "confirm-cancel-yes").click()
    wait_for(browser, f"return window.newsroomAdmin.cancelled.includes('{generation}')", message="cancelled")
    with httpx.Client() as client:
        assert client.get(f"{hub.url}/v1/generations/{generation}", headers=bearer(admin)).json()["state"] == "cancelled"
    # The topic link keeps the token, so the viewer can open the topic.
    href = browser.find_element("css selector", "#topics tr[data-topic='secured'] a").get_attribute("href")
    assert "topic=secured" in href and f"token={admin}" in href


def test_with_auth_off_the_console_is_off_unless_turned_on(browser, hubs):
    hub = hubs("serve", "--port", "0")
    with httpx.Client() as client:
        for path in ("/admin", "/v1/admin", "/admin/admin.js"):
            r = client.get(hub.url + path)
            assert r.status_code == 403, path
            error = r.json()["error"]
            assert error["code"] == "admin_console_disabled"
            assert "--admin-console" in error["message"] and "authentication is off" in error["message"]
        # The rest of the hub is unaffected.
        assert client.get(f"{hub.url}/").status_code == 200
    browser.get(f"{hub.url}/admin")
    assert "--admin-console" in browser.find_element("tag name", "body").text

    # `demo --admin-console`: the console, with the demo's answers in it.
    demo = hubs("demo", "--port", "0", "--admin-console", "--tokens-per-second", "200", "--answers", "1")
    browser.get(f"{demo.url}/admin")
    wait_for(browser, LIVE, message="the console live")
    wait_for(browser, "return document.querySelector(\"#topics tbody tr[data-topic='demo-1']\")", message="the demo topic")


# ---------------------------------------------------------------------------------------------------
# The page as served


def test_the_embedded_console_equals_its_sources(hubs):
    check = subprocess.run([str(ROOT / "scripts" / "embed-viewer"), "--check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    hub = hubs("serve", "--port", "0", "--admin-console")
    types = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
    with httpx.Client() as client:
        for name in ("index.html", "admin.js", "admin.css"):
            r = client.get(f"{hub.url}/admin/{name}")
            assert r.status_code == 200, name
            assert r.headers["content-type"].startswith(types["." + name.rsplit(".", 1)[1]])
            assert r.content == (CONSOLE / name).read_bytes(), f"/admin/{name} differs from its source"
        assert client.get(f"{hub.url}/admin").content == (CONSOLE / "index.html").read_bytes()
        assert client.get(f"{hub.url}/admin/nope.js").status_code == 404
    # The same Content-Security-Policy as the viewer, and no inline script or style.
    policy = re.compile(r'<meta http-equiv="Content-Security-Policy"\s+content="([^"]+)">')
    page = (CONSOLE / "index.html").read_text()
    assert policy.search(page).group(1) == policy.search((VIEWER / "index.html").read_text()).group(1)
    assert not re.search(r"<script(?![^>]*\bsrc=)", page) and "<style" not in page and " style=" not in page
    assert "innerHTML" not in (CONSOLE / "admin.js").read_text()


def test_the_console_refreshes_over_the_hubs_own_server_sent_events(browser, hubs):
    """`GET /v1/admin/stream`: one `snapshot` event a second (the JSON of `GET /v1/admin`), admin-only;
    the page follows it instead of polling."""
    hub = hubs("serve", "--port", "0", "--admin-console")
    with httpx.Client(timeout=10) as client:
        publish = client.post(f"{hub.url}/v1/topics/watched/events", json={"type": "text_delta", "text": "x"})
        assert publish.status_code == 202
        snapshots, started = [], time.monotonic()
        with client.stream("GET", f"{hub.url}/v1/admin/stream") as stream:
            assert stream.headers["content-type"] == "text/event-stream"
            event = None
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "snapshot":
                    snapshots.append(json.loads(line[6:]))
                    if len(snapshots) == 3:
                        break
        assert 1.5 < time.monotonic() - started < 5  # one a second, the first at once
        assert any(t["name"] == "watched" for t in snapshots[-1]["topics"])
    browser.get(f"{hub.url}/admin")
    wait_for(browser, LIVE, message="the console live")
    wait_for(browser, "return window.newsroomAdmin.snapshots >= 2", message="two snapshots")
    assert browser.execute_script("return window.newsroomAdmin.transport") == "sse"
    requests = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert not any(name.endswith("/v1/admin") for name in requests), requests  # no polling
    metrics = httpx.get(f"{hub.url}/metrics").text
    streams = re.search(r'newsroom_http_requests_total\{route="/v1/admin/stream",status="200"\} (\d+)', metrics)
    assert streams and int(streams.group(1)) >= 2  # this test's and the page's
    assert 'route="/v1/admin",' not in metrics


def test_the_console_stream_needs_an_admin_token(hubs):
    secret = "a-test-secret-of-enough-length-0123456789"
    hub = hubs("serve", "--port", "0", "--auth-hs256-secret", secret)
    viewer = jwt.encode({"sub": "v", "exp": int(time.time()) + 600, "subscribe": ["*"]}, secret, algorithm="HS256")
    admin = jwt.encode({"sub": "a", "exp": int(time.time()) + 600, "admin": True}, secret, algorithm="HS256")
    with httpx.Client(timeout=10) as client:
        assert client.get(f"{hub.url}/v1/admin/stream").status_code == 401
        assert client.get(f"{hub.url}/v1/admin/stream?token={viewer}").status_code == 403
        with client.stream("GET", f"{hub.url}/v1/admin/stream?token={admin}") as stream:
            assert stream.status_code == 200
            assert any(line == "event: snapshot" for line in stream.iter_lines())
