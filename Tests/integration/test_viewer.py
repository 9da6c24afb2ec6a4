"""The web viewer in a real browser (headless Chromium driven by Selenium) against the real `newsroom`
binary: the demo answer rendered over SSE and WebSocket, following the newest answer, resuming after
the network drops, a hostile answer that must not run, the Cancel button, switching transports, and
rendering smoothness at 1,000 deltas per second. Plus: the hub's embedded copy of the viewer equals
its sources, and markdown.js's own unit tests (node)."""

import json
import os
import re
import shutil
import statistics
import subprocess
import threading
import time

import httpx
import pytest
from websockets.sync.client import connect as ws_connect

from conftest import ROOT, Hub, publish, wait_until
from viewer_support import (
    NODE,
    VIEWER,
    CuttableProxy,
    expected_html,
    grant_clipboard,
    read_clipboard,
    record_viewer_counts,
    rendered_html,
    require_browser,
    save_screenshot,
    start_browser,
    wait_for,
)

ENDED = "return window.newsroomViewer && window.newsroomViewer.state === 'ended'"

# A Markdown answer with every construct the renderer knows, streamed in small deltas.
ANSWER = """# Resuming a stream

Every stored event has a `seq`; a viewer that drops **resumes after the last one** it saw, and the
replay never *duplicates* text.

## Steps

1. The page receives `id: 41`.
2. The network drops; the page shows *reconnecting*.
3. It reconnects and receives `42` onwards.

- SSE: `Last-Event-ID`
- WebSocket: `?after=`

> Nothing is lost and nothing arrives twice.

```python
async for event in subscribe("chat:42", after=41):
    print(event["text"], end="")
```

See [the SSE spec](https://html.spec.whatwg.org/multipage/server-sent-events.html) for details.
"""


def deltas(text, size=4):
    return [{"type": "text_delta", "text": text[i : i + size]} for i in range(0, len(text), size)]


def published_text(hub, topic):
    """The answer as the hub has it: every text delta of the topic's history, concatenated."""
    text = []
    with httpx.Client(timeout=10) as client:
        with client.stream("GET", f"{hub.url}/v1/topics/{topic}/events") as response:
            for line in response.iter_lines():
                if line.startswith("data: "):
                    event = json.loads(line[6:])
                    if event["type"] == "text_delta" and event.get("index", 0) == 0:
                        text.append(event["text"])
    return "".join(text)


def structure(driver):
    return driver.execute_script(
        """
        const answer = document.querySelector('#answer')
        const texts = (selector) => [...answer.querySelectorAll(selector)].map((e) => e.textContent)
        return {
            headings: texts('h1, h2, h3, h4, h5, h6'),
            items: texts('li'),
            code: texts('pre code'),
            quotes: texts('blockquote'),
            links: [...answer.querySelectorAll('a')].map((a) => a.getAttribute('href')),
        }
        """
    )


def expected_structure(text):
    code = re.findall(r"^```[^\n]*\n(.*?)\n```", text, flags=re.S | re.M)
    return {
        "headings": [re.sub(r"^#+\s+", "", line) for line in text.splitlines() if re.match(r"^#{1,6}\s", line)],
        "item_count": sum(1 for line in text.splitlines() if re.match(r"^(\s*[-*+]|\s*\d+[.)])\s", line)),
        "code": code,
    }


@pytest.fixture
def browser():
    require_browser()
    driver = start_browser()
    yield driver
    driver.quit()


@pytest.fixture
def demo_hub():
    hubs = []

    def start(*args):
        hub = Hub(["demo", "--port", "0", "--heartbeat-interval", "1", *args])
        hubs.append(hub)
        return hub

    yield start
    for hub in hubs:
        hub.stop()


# ---------------------------------------------------------------------------------------------------
# The page as served


def test_embedded_viewer_equals_its_sources(hub):
    check = subprocess.run([str(ROOT / "scripts" / "embed-viewer"), "--check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    files = sorted(p.name for p in VIEWER.iterdir() if p.is_file() and p.suffix in (".html", ".js", ".css"))
    assert {"index.html", "viewer.js", "markdown.js", "style.css"} <= set(files)
    types = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
    with httpx.Client() as client:
        for name in files:
            response = client.get(f"{hub.url}/viewer/{name}")
            assert response.status_code == 200, name
            assert response.headers["content-type"].startswith(types[os.path.splitext(name)[1]]), name
            assert response.content == (VIEWER / name).read_bytes(), f"/viewer/{name} differs from its source"
        for path in ("/", "/viewer"):
            assert client.get(hub.url + path).content == (VIEWER / "index.html").read_bytes()
        assert client.get(f"{hub.url}/viewer/nope.js").status_code == 404


def test_markdown_module_unit_tests_pass_under_node():
    if not NODE:
        pytest.skip("node is not installed")
    result = subprocess.run(
        [NODE, "--test", str(VIEWER / "test" / "markdown.test.mjs")], capture_output=True, text=True, timeout=300
    )
    print(result.stdout[-600:])
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"^# fail 0$", result.stdout, flags=re.M)


# ---------------------------------------------------------------------------------------------------
# The demo answer


@pytest.mark.parametrize("transport", ["sse", "ws"])
def test_demo_answer_renders_completely_and_correctly(browser, demo_hub, transport):
    hub = demo_hub("--tokens-per-second", "400", "--answers", "1")
    browser.get(f"{hub.url}/?transport={transport}")
    wait_for(browser, "return window.newsroomViewer && window.newsroomViewer.topic", message="a topic to follow")
    wait_for(browser, "return window.newsroomViewer.states.includes('live')", message="live")
    wait_for(browser, ENDED, timeout=60)
    status = browser.execute_script("return window.newsroomViewer")
    topic = status["topic"]
    assert topic == "demo-1"
    assert status["transport"] == transport
    assert status["finishReason"] == "tool_calls"

    # The text the page assembled is the text the hub published, and the DOM is its Markdown rendering.
    expected_text = published_text(hub, topic)
    assert expected_text and browser.execute_script("return window.newsroomViewer.answerText()") == expected_text
    assert rendered_html(browser) == expected_html(expected_text)

    # Structure, checked against the Markdown source itself: headings, list items, the code block.
    seen = structure(browser)
    wanted = expected_structure(expected_text)
    assert seen["headings"] == wanted["headings"] and len(seen["headings"]) >= 2
    assert len(seen["items"]) == wanted["item_count"] >= 3
    assert seen["code"] == wanted["code"] and len(seen["code"]) == 1
    assert len(seen["quotes"]) == 1
    assert "```" not in browser.find_element("id", "answer").text

    # The tool call, formed and then complete; the reasoning folded away; the viewer count.
    tool = browser.execute_script(
        "const t = document.querySelector('.tool-call'); return t && {name: t.querySelector('.tool-name').textContent,"
        " state: t.querySelector('.tool-state').textContent, args: t.querySelector('.tool-arguments').textContent}"
    )
    assert tool["name"] == "get_weather" and tool["state"] == "called"
    assert json.loads(tool["args"]) == {"city": "Lisbon", "unit": "celsius"}
    reasoning = browser.execute_script(
        "const r = document.querySelector('#reasoning'); return {hidden: r.hidden, open: r.open,"
        " text: document.querySelector('#reasoning-text').textContent}"
    )
    assert reasoning["hidden"] is False and reasoning["open"] is False and len(reasoning["text"]) > 20
    assert browser.find_element("id", "state").text.startswith("ended")

    shot = save_screenshot(browser, f"viewer-demo-{transport}.png")
    if transport == "sse":
        # The README's picture: refreshed when missing, or on demand (NEWSROOM_UPDATE_SCREENSHOT=1).
        docs = ROOT / "docs" / "viewer.png"
        if not docs.exists() or os.environ.get("NEWSROOM_UPDATE_SCREENSHOT") == "1":
            docs.parent.mkdir(exist_ok=True)
            shutil.copyfile(shot, docs)


def test_without_a_topic_the_page_follows_answer_after_answer(browser, demo_hub):
    hub = demo_hub("--tokens-per-second", "600", "--answers", "2")
    browser.get(f"{hub.url}/")
    wait_for(browser, "return window.newsroomViewer.topic === 'demo-1'", message="demo-1")
    wait_for(browser, "return window.newsroomViewer.topic === 'demo-2'", timeout=60, message="the next answer")
    wait_for(browser, ENDED, timeout=60)
    text = published_text(hub, "demo-2")
    assert browser.execute_script("return window.newsroomViewer.answerText()") == text
    assert rendered_html(browser) == expected_html(text)
    assert browser.execute_script("return window.newsroomViewer.states.filter((s) => s === 'ended').length") >= 2


def test_a_conversation_page_follows_each_announced_answer(browser, hub):
    """`/?conversation=ID` watches `conversation:ID` and switches to each answer it announces; a page
    opened after two announcements shows the newest answer, not each in turn."""
    def answer(client, topic, text):
        assert publish(client, hub, topic, [{"type": "stream_start", "provider": "demo"},
                                            *deltas(text), {"type": "stream_complete", "finish_reason": "stop"}]).status_code == 202

    def announce(client, generation, topic):
        assert publish(client, hub, "conversation:room", [
            {"type": "generation_started", "generation": generation, "answer_topic": topic}]).status_code == 202

    with httpx.Client(timeout=10) as client:
        browser.get(f"{hub.url}/?conversation=room")
        wait_for(browser, "return window.newsroomViewer.state === 'waiting'", message="waiting")
        answer(client, "room-a1", "The first answer.")
        announce(client, "g1", "room-a1")
        wait_for(browser, "return window.newsroomViewer.topic === 'room-a1'", message="the first answer")
        wait_for(browser, ENDED)
        assert browser.execute_script("return window.newsroomViewer.answerText()") == "The first answer."
        answer(client, "room-a2", "And the **second** one.")
        announce(client, "g2", "room-a2")
        wait_for(browser, "return window.newsroomViewer.topic === 'room-a2'", message="the second answer")
        wait_for(browser, ENDED)
        assert browser.execute_script("return window.newsroomViewer.answerText()") == "And the **second** one."
        assert browser.execute_script("return window.newsroomViewer.announced") == ["room-a1", "room-a2"]
        # A page opened now goes straight to the newest answer.
        browser.get(f"{hub.url}/?conversation=room")
        wait_for(browser, "return window.newsroomViewer.topic === 'room-a2'", message="the newest answer")
        wait_for(browser, ENDED)
        assert browser.execute_script("return window.newsroomViewer.connections") == 1


# ---------------------------------------------------------------------------------------------------
# Resuming after the network drops


@pytest.mark.parametrize("transport", ["sse", "ws"])
def test_page_resumes_after_the_connection_drops_mid_stream(browser, hub, transport):
    """The page and its API go through a proxy; halfway through the answer every connection is cut.
    The page must reconnect by itself, resume after its last seq, and end with exactly the answer."""
    topic = f"drop-{transport}"
    events = [{"type": "stream_start", "provider": "test", "model": "m"}] + deltas(ANSWER, 3)
    half = len(events) // 2
    proxy = CuttableProxy(hub.port)
    try:
        with httpx.Client() as client:
            assert publish(client, hub, topic, events[:half]).status_code == 202
            browser.get(f"{proxy.url}/viewer?topic={topic}&transport={transport}")
            wait_for(browser, f"return window.newsroomViewer.lastSeq === {half}", message="the first half")
            assert proxy.cut() >= 1
            wait_for(browser, "return window.newsroomViewer.states.includes('reconnecting')", message="reconnecting")
            # Part of the rest is published while the page is away, part after it is back.
            assert publish(client, hub, topic, events[half : half + 20]).status_code == 202
            wait_for(browser, "return window.newsroomViewer.states.includes('resumed')", timeout=30, message="resumed")
            for start in range(half + 20, len(events), 15):
                assert publish(client, hub, topic, events[start : start + 15]).status_code == 202
                time.sleep(0.02)
            assert publish(client, hub, topic, [{"type": "stream_complete", "finish_reason": "stop"}]).status_code == 202
        wait_for(browser, ENDED, timeout=30)
        assert browser.execute_script("return window.newsroomViewer.answerText()") == ANSWER
        assert rendered_html(browser) == expected_html(ANSWER)
        # It resumed: the reconnect asked for what came after the last seq it had, not the whole history.
        if transport == "sse":
            requests = proxy.subscription_requests(f"/v1/topics/{topic}/events")
            resumed = [r for r in requests if re.search(r"(?im)^last-event-id:\s*(\d+)", r)]
            assert resumed, "\n".join(r.split("\r\n", 1)[0] for r in proxy.requests)
            assert int(re.search(r"(?im)^last-event-id:\s*(\d+)", resumed[0]).group(1)) >= half
        else:
            requests = proxy.subscription_requests(f"/v1/topics/{topic}/ws")
            resumed = [r for r in requests if re.search(r"after=(\d+)", r.split("\r\n", 1)[0])]
            assert resumed, "\n".join(r.split("\r\n", 1)[0] for r in proxy.requests)
            assert int(re.search(r"after=(\d+)", resumed[0]).group(1)) >= half
        save_screenshot(browser, f"viewer-resumed-{transport}.png")
    finally:
        proxy.close()


def test_switching_transport_mid_stream_keeps_the_text_exact(browser, hub):
    topic = "switch"
    events = [{"type": "stream_start"}] + deltas(ANSWER, 5)
    half = len(events) // 2
    with httpx.Client() as client:
        publish(client, hub, topic, events[:half])
        browser.get(f"{hub.url}/?topic={topic}&transport=sse")
        wait_for(browser, f"return window.newsroomViewer.lastSeq === {half}")
        browser.find_element("css selector", "input[name=transport][value=ws]").click()
        wait_for(browser, "return window.newsroomViewer.transport === 'ws'")
        assert "transport=ws" in browser.current_url
        publish(client, hub, topic, events[half:] + [{"type": "stream_complete", "finish_reason": "stop"}])
    wait_for(browser, ENDED)
    assert browser.execute_script("return window.newsroomViewer.answerText()") == ANSWER
    assert rendered_html(browser) == expected_html(ANSWER)


# ---------------------------------------------------------------------------------------------------
# Hostile output


HOSTILE = """# <script>window.__pwned = 1</script>Title

<img src=x onerror="window.__pwned = 2"> and <svg onload="window.__pwned = 3"></svg>

Links: [click me](javascript:window.__pwned=4) [again](JaVaScRiPt:alert(1)) [data](data:text/html,<script>alert(1)</script>)
[vb](vbscript:msgbox) <javascript:alert(2)> [tab](java\tscript:alert(3))

Entities stay text: &lt;b&gt;bold&lt;/b&gt; &amp; &#x3C;script&#x3E; &quot;

```html
</code></pre><script>window.__pwned = 5</script><img src=x onerror=alert(6)>
```

> <iframe src="javascript:alert(7)"></iframe>

- `<b>code</b>` ![pixel](https://tracker.invalid/p.gif)
"""


def test_hostile_answer_runs_no_script_and_shows_the_text_literally(browser, hub):
    topic = "hostile"
    with httpx.Client() as client:
        publish(
            client,
            hub,
            topic,
            [{"type": "stream_start", "provider": "<img src=x onerror=alert(8)>", "model": "<script>alert(9)</script>"}]
            + [{"type": "reasoning_delta", "text": "<img src=x onerror=\"window.__pwned = 10\">"}]
            + deltas(HOSTILE, 7)
            + [
                {"type": "tool_call_delta", "index": 0, "call_id": "c1", "name": "<img src=x onerror=alert(11)>",
                 "arguments_delta": "{\"html\":\"<script>window.__pwned=12</script>\"}"},
                {"type": "tool_call", "index": 0, "call_id": "c1", "name": "<img src=x onerror=alert(11)>",
                 "arguments": "{\"html\":\"<script>window.__pwned=12</script>\"}"},
                {"type": "error", "code": "bad_request", "message": "<img src=x onerror=alert(13)>", "retryable": False},
                {"type": "stream_complete", "finish_reason": "stop"},
            ],
        )
    browser.get(f"{hub.url}/?topic={topic}")
    wait_for(browser, ENDED)
    # Open the folded reasoning and click every link-looking thing: still nothing may run.
    browser.execute_script("document.querySelector('#reasoning').open = true")
    for element in browser.find_elements("css selector", "#answer span.refused-link"):
        element.click()
    time.sleep(0.5)
    assert browser.execute_script("return typeof window.__pwned") == "undefined"
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018
    counts = browser.execute_script(
        "const q = (s) => document.querySelectorAll(s).length;"
        "return {script: q('main script'), img: q('main img'), svg: q('main svg'), iframe: q('main iframe'),"
        " bad: [...document.querySelectorAll('main a')].filter((a) => !/^(https?:|mailto:|\\/|#)/i.test(a.getAttribute('href'))).length}"
    )
    assert counts == {"script": 0, "img": 0, "svg": 0, "iframe": 0, "bad": 0}
    shown = browser.find_element("id", "answer").text
    assert "<script>window.__pwned = 1</script>Title" in shown
    assert '<img src=x onerror="window.__pwned = 2">' in shown
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &#x3C;script&#x3E; &quot;" in shown
    assert "</code></pre><script>window.__pwned = 5</script>" in shown
    assert "<b>code</b>" in shown
    assert browser.find_element("css selector", ".tool-name").text == "<img src=x onerror=alert(11)>"
    assert "<img src=x onerror=alert(13)>" in browser.find_element("id", "notices").text
    assert rendered_html(browser) == expected_html(HOSTILE)
    save_screenshot(browser, "viewer-hostile.png")

    # A hostile topic name in the URL is refused, not used.
    browser.get(f"{hub.url}/?topic=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E")
    wait_for(browser, "return window.newsroomViewer.state === 'error'")
    assert browser.execute_script("return document.querySelectorAll('main img, header img').length") == 0


# ---------------------------------------------------------------------------------------------------
# Cancel


def confirm_dialog(driver):
    """The Cancel confirmation dialog's state: whether it is open and what it says."""
    return driver.execute_script(
        "const d = document.getElementById('confirm-cancel');"
        "return d ? {open: d.open, text: d.textContent.replace(/\\s+/g, ' ').trim()} : null"
    )


@pytest.mark.parametrize("transport", ["sse", "ws"])
def test_cancel_button_ends_the_topic_for_everyone(browser, hub, transport):
    topic = f"cancel-{transport}"
    with httpx.Client() as client:
        publish(client, hub, topic, [{"type": "stream_start"}] + deltas("Some text that is still going", 4))
        browser.get(f"{hub.url}/?topic={topic}&transport={transport}")
        wait_for(browser, "return window.newsroomViewer.state === 'live' && window.newsroomViewer.lastSeq > 5")
        # The number of viewers: this page, then this page and one more subscriber.
        wait_for(browser, "return window.newsroomViewer.viewers === 1", message="one viewer")
        with client.stream("GET", f"{hub.url}/v1/topics/{topic}/events"):
            wait_for(browser, "return window.newsroomViewer.viewers === 2", message="two viewers")
            assert browser.find_element("id", "viewers").text == "2 watching"
        browser.find_element("id", "cancel").click()
        wait_for(browser, "return document.getElementById('confirm-cancel').open", message="the confirmation")
        browser.find_element("id", "confirm-cancel-yes").click()
        wait_for(browser, ENDED)
        assert browser.execute_script("return window.newsroomViewer.finishReason") == "cancelled"
        assert client.get(f"{hub.url}/v1/topics/{topic}").json()["state"] == "ended"
    assert browser.find_element("id", "cancel").get_attribute("disabled") is not None


def test_cancel_asks_first_and_every_viewer_is_told_the_answer_was_cancelled(browser, hub):
    """Cancel opens an in-page confirmation that says the answer ends for every viewer; declining
    changes nothing; confirming ends the topic, and each viewer (this page and another window) shows a
    notice that the answer was cancelled."""
    topic = "cancel-confirm"
    with httpx.Client() as client:
        publish(client, hub, topic, [{"type": "stream_start", "provider": "demo"}] + deltas("An answer that is still going", 4))
        browser.get(f"{hub.url}/?topic={topic}")
        wait_for(browser, "return window.newsroomViewer.state === 'live' && window.newsroomViewer.lastSeq > 5")
        first = browser.current_window_handle
        browser.switch_to.new_window("window")
        browser.get(f"{hub.url}/?topic={topic}&transport=ws")
        wait_for(browser, "return window.newsroomViewer.state === 'live' && window.newsroomViewer.lastSeq > 5")
        other = browser.current_window_handle
        browser.switch_to.window(first)

        # Asked first; "keep it running" changes nothing.
        browser.find_element("id", "cancel").click()
        dialog = wait_for(browser, "const d = document.getElementById('confirm-cancel'); return d && d.open && d", message="the confirmation")
        assert dialog
        text = confirm_dialog(browser)["text"]
        assert "every viewer" in text and topic in text, text
        browser.find_element("id", "confirm-cancel-no").click()
        wait_for(browser, "return !document.getElementById('confirm-cancel').open")
        time.sleep(0.5)
        assert client.get(f"{hub.url}/v1/topics/{topic}").json()["state"] == "streaming"
        assert browser.execute_script("return window.newsroomViewer.state") == "live"

        # Confirmed: the topic ends, and both viewers say why.
        browser.find_element("id", "cancel").click()
        wait_for(browser, "return document.getElementById('confirm-cancel').open")
        browser.find_element("id", "confirm-cancel-yes").click()
        wait_for(browser, ENDED)
        assert client.get(f"{hub.url}/v1/topics/{topic}").json()["state"] == "ended"
    for handle in (first, other):
        browser.switch_to.window(handle)
        wait_for(browser, ENDED)
        notice = wait_for(
            browser,
            "const n = document.querySelector('#notices .notice.cancelled'); return n && n.textContent",
            message="the cancellation notice",
        )
        assert "cancelled" in notice.lower() and "every viewer" in notice.lower(), notice
        assert browser.execute_script("return window.newsroomViewer.finishReason") == "cancelled"
        # The text so far stays on screen.
        assert browser.execute_script("return window.newsroomViewer.answerText()") == "An answer that is still going"
    save_screenshot(browser, "viewer-cancelled.png")
    browser.close()
    browser.switch_to.window(first)


# ---------------------------------------------------------------------------------------------------
# The viewer count, the waiting state, following the answer down, copy buttons, tables


def test_the_viewer_count_includes_this_page_from_the_first_moment(browser, hub):
    """Never "0 watching" while the page itself watches: not on a pinned topic, and not after the
    page moves on to the next answer (the count was 0 for ~2 s after each switch)."""
    record_viewer_counts(browser)
    with httpx.Client() as client:
        publish(client, hub, "count-a", [{"type": "stream_start"}] + deltas("First answer. " * 5))
        browser.get(f"{hub.url}/?topic=count-a")
        wait_for(browser, "return window.newsroomViewer.state === 'live'")
        time.sleep(2.5)  # more than one poll interval
        # Following: the page moves from one answer to the next.
        browser.get(f"{hub.url}/")
        wait_for(browser, "return window.newsroomViewer.topic === 'count-a' && window.newsroomViewer.state === 'live'")
        publish(client, hub, "count-b", [{"type": "stream_start"}] + deltas("Second answer. " * 5))
        publish(client, hub, "count-a", [{"type": "stream_complete", "finish_reason": "stop"}])
        wait_for(browser, "return window.newsroomViewer.topic === 'count-b' && window.newsroomViewer.state === 'live'", timeout=15)
        time.sleep(2.5)
        shown = browser.execute_script("return window.__viewerCounts")
        assert browser.find_element("id", "viewers").text == "1 watching"
        publish(client, hub, "count-b", [{"type": "stream_complete", "finish_reason": "stop"}])
    watching = [r for r in shown if r["topic"] == "count-b" and r["state"] in ("connecting", "waiting", "live", "resumed")]
    assert watching, shown
    assert all(r["text"] == "1 watching" for r in watching), watching
    assert not [r for r in shown if r["text"].startswith("0 ") and r["state"] != "ended"], shown


def test_a_topic_with_no_events_yet_shows_waiting_with_cancel_disabled(browser, hub):
    topic = "not-started"
    browser.get(f"{hub.url}/?topic={topic}")
    wait_for(browser, "return window.newsroomViewer.state === 'waiting'", message="waiting")
    assert browser.find_element("id", "state").text == "waiting · for the answer to start"
    assert browser.find_element("id", "cancel").get_attribute("disabled") is not None
    time.sleep(0.6)
    assert "live" not in browser.execute_script("return window.newsroomViewer.states")
    note = browser.find_element("id", "waiting-note")
    assert note.is_displayed() and note.text == "Waiting for the answer to start…"
    assert browser.find_element("id", "answer").text == ""
    with httpx.Client() as client:
        publish(client, hub, topic, [{"type": "stream_start", "provider": "demo"}, {"type": "text_delta", "text": "Here it is."}])
        wait_for(browser, "return window.newsroomViewer.state === 'live'", message="live once the answer starts")
        assert browser.find_element("id", "cancel").get_attribute("disabled") is None
        assert browser.find_element("id", "answer").text == "Here it is."
        assert not browser.find_element("id", "waiting-note").is_displayed()
        publish(client, hub, topic, [{"type": "stream_complete", "finish_reason": "stop"}])
    wait_for(browser, ENDED)


def _at_bottom(driver):
    return driver.execute_script(
        "const e = document.scrollingElement; return e.scrollHeight - (e.scrollTop + window.innerHeight) <= 2"
    )


def test_the_page_follows_a_growing_answer_until_the_reader_scrolls_up(browser, hub):
    topic = "tall"
    paragraph = "A line of the answer that keeps the page growing, one delta at a time.\n\n"
    with httpx.Client() as client:
        publish(client, hub, topic, [{"type": "stream_start"}] + deltas(paragraph * 10, 12))
        browser.get(f"{hub.url}/?topic={topic}")
        wait_for(browser, "return window.newsroomViewer.state === 'live'")
        # Grow the answer well past the window: the page stays at the bottom.
        for _ in range(8):
            publish(client, hub, topic, deltas(paragraph * 8, 12))
            time.sleep(0.15)
        wait_for(browser, "return document.scrollingElement.scrollHeight > 2 * window.innerHeight", message="a tall page")
        wait_for(browser, "const e = document.scrollingElement; return e.scrollHeight - (e.scrollTop + window.innerHeight) <= 2",
                 message="the page at the bottom")
        assert not browser.find_element("id", "jump").is_displayed()

        # The reader scrolls up: the page stays where they are, and offers to jump to the latest text.
        browser.execute_script("window.scrollTo(0, 200)")
        time.sleep(0.2)
        for _ in range(3):
            publish(client, hub, topic, deltas(paragraph * 8, 12))
            time.sleep(0.15)
        time.sleep(0.3)
        assert browser.execute_script("return document.scrollingElement.scrollTop") == 200
        jump = browser.find_element("id", "jump")
        assert jump.is_displayed() and "latest" in jump.text.lower()
        save_screenshot(browser, "viewer-jump-to-latest.png")

        # Jumping follows the answer again.
        jump.click()
        wait_for(browser, "const e = document.scrollingElement; return e.scrollHeight - (e.scrollTop + window.innerHeight) <= 2")
        for _ in range(3):
            publish(client, hub, topic, deltas(paragraph * 8, 12))
            time.sleep(0.15)
        wait_for(browser, "const e = document.scrollingElement; return e.scrollHeight - (e.scrollTop + window.innerHeight) <= 2")
        assert not jump.is_displayed()
        # A wheel turn upwards stops following at once, even while text arrives.
        browser.execute_script("window.dispatchEvent(new WheelEvent('wheel', {deltaY: -120, bubbles: true})); window.scrollBy(0, -300)")
        top = browser.execute_script("return document.scrollingElement.scrollTop")
        publish(client, hub, topic, deltas(paragraph * 8, 12) + [{"type": "stream_complete", "finish_reason": "stop"}])
        wait_for(browser, ENDED)
        time.sleep(0.3)
        assert browser.execute_script("return document.scrollingElement.scrollTop") == top
        assert browser.find_element("id", "jump").is_displayed()


CODE_ANSWER = """Run this:

```python
print("<b>not markup</b>")  # a comment
for i in range(3):
    print(i)
```

And `inline code` has no button.
"""


def test_code_blocks_have_a_copy_button(browser, hub):
    topic = "copy"
    code = 'print("<b>not markup</b>")  # a comment\nfor i in range(3):\n    print(i)'
    grant_clipboard(browser)
    with httpx.Client() as client:
        publish(client, hub, topic, [{"type": "stream_start"}] + deltas(CODE_ANSWER, 5) + [{"type": "stream_complete", "finish_reason": "stop"}])
    browser.get(f"{hub.url}/?topic={topic}")
    wait_for(browser, ENDED)
    buttons = browser.find_elements("css selector", "#answer pre > button.copy-code")
    assert len(buttons) == 1 and buttons[0].text == "Copy"
    assert browser.execute_script("return document.querySelectorAll('#answer button').length") == 1
    # The rendering is unchanged apart from the button.
    assert rendered_html(browser) == expected_html(CODE_ANSWER)
    browser.execute_script("window.focus()")
    buttons[0].click()
    wait_for(browser, "return document.querySelector('#answer pre > button.copy-code').textContent === 'Copied'", message="Copied")
    copies = browser.execute_script("return window.newsroomViewer.copies")
    assert copies[-1]["text"] == code and copies[-1]["ok"] is True, copies
    clipboard = read_clipboard(browser)
    if clipboard is not None:
        assert clipboard == code
    # The label comes back.
    wait_for(browser, "return document.querySelector('#answer pre > button.copy-code').textContent === 'Copy'", timeout=5)
    assert browser.execute_script("return document.querySelectorAll('main b, main img').length") == 0

    # Without the asynchronous clipboard API (an older browser, an insecure origin): the fallback copies.
    browser.execute_script("Object.defineProperty(navigator, 'clipboard', {value: undefined, configurable: true})")
    buttons[0].click()
    wait_for(browser, "return window.newsroomViewer.copies.length === 2")
    copies = browser.execute_script("return window.newsroomViewer.copies")
    assert copies[-1]["text"] == code and copies[-1]["via"] == "execCommand", copies
    assert browser.execute_script("return document.querySelectorAll('textarea').length") == 0


def test_copy_buttons_appear_on_code_blocks_while_they_stream(browser, hub):
    topic = "copy-streaming"
    with httpx.Client() as client:
        publish(client, hub, topic, [{"type": "stream_start"}] + deltas("Intro\n\n```js\nconst a = 1\n", 4))
        browser.get(f"{hub.url}/?topic={topic}")
        wait_for(browser, "return document.querySelectorAll('#answer pre > button.copy-code').length === 1", message="a button on the open block")
        publish(client, hub, topic, deltas("const b = 2\n```\n\n```\nsecond\n```\n", 4) + [{"type": "stream_complete", "finish_reason": "stop"}])
    wait_for(browser, ENDED)
    assert browser.execute_script("return document.querySelectorAll('#answer pre > button.copy-code').length") == 2


TABLE_ANSWER = """Transports compared:

| Transport | Resume with | Default | Notes |
|:----------|:-----------:|--------:|-------|
| SSE | `Last-Event-ID` | yes | *EventSource* reconnects by itself |
| WebSocket | `?after=` | no | a pipe \\| inside a cell |
| gRPC | `after` field | no | |

After the table.
"""


def test_markdown_tables_render_with_their_alignment(browser, hub):
    topic = "table"
    with httpx.Client() as client:
        publish(client, hub, topic, [{"type": "stream_start"}] + deltas(TABLE_ANSWER, 3) + [{"type": "stream_complete", "finish_reason": "stop"}])
    browser.get(f"{hub.url}/?topic={topic}")
    wait_for(browser, ENDED)
    assert rendered_html(browser) == expected_html(TABLE_ANSWER)
    table = browser.execute_script(
        """
        const table = document.querySelector('#answer table')
        if (!table) return null
        const cells = (selector) => [...table.querySelectorAll(selector)].map((c) => [c.textContent, getComputedStyle(c).textAlign])
        return { head: cells('thead th'), rows: [...table.querySelectorAll('tbody tr')].map((r) => [...r.cells].map((c) => c.textContent)),
                 aligns: cells('tbody tr:first-child td').map((c) => c[1]) }
        """
    )
    assert table is not None, "no table"
    assert [h[0] for h in table["head"]] == ["Transport", "Resume with", "Default", "Notes"]
    assert table["aligns"][:3] == ["left", "center", "right"]
    assert table["rows"] == [
        ["SSE", "Last-Event-ID", "yes", "EventSource reconnects by itself"],
        ["WebSocket", "?after=", "no", "a pipe | inside a cell"],
        ["gRPC", "after field", "no", ""],
    ]
    # While it streamed, no frame showed the raw header or alignment rows.
    assert "|:---" not in browser.find_element("id", "answer").text
    save_screenshot(browser, "viewer-table.png")


def test_tables_never_show_raw_pipes_while_streaming(browser, hub):
    topic = "table-streaming"
    with httpx.Client() as client:
        publish(client, hub, topic, [{"type": "stream_start"}])
        browser.get(f"{hub.url}/?topic={topic}")
        wait_for(browser, "return window.newsroomViewer.state === 'live'")
        browser.execute_script(
            "window.__raw = [];"
            "new MutationObserver(() => { const t = document.getElementById('answer').textContent;"
            " if (/\\|\\s*Transport|:-{3,}|-{3,}:/.test(t)) window.__raw.push(t) })"
            ".observe(document.getElementById('answer'), {childList: true, subtree: true, characterData: true})"
        )
        for delta in deltas(TABLE_ANSWER, 2):
            publish(client, hub, topic, [delta])
        publish(client, hub, topic, [{"type": "stream_complete", "finish_reason": "stop"}])
    wait_for(browser, ENDED)
    assert browser.execute_script("return window.__raw") == []
    assert browser.execute_script("return document.querySelectorAll('#answer table tbody tr').length") == 3


# ---------------------------------------------------------------------------------------------------
# Smoothness


SAMPLER_JS = """
window.__frames = []
const tick = (t) => { window.__frames.push(t); if (!window.__stopFrames) requestAnimationFrame(tick) }
requestAnimationFrame(tick)
"""


def test_rendering_stays_smooth_at_1000_deltas_per_second(browser, hub):
    """Streams 5 s of small deltas at 1,000 per second (a long Markdown answer with code blocks) and
    measures, in the page, the animation-frame rate and the longest frame while it streams."""
    topic = "smooth"
    paragraph = ANSWER + "\n"
    text = (paragraph * 40)[:20000]
    pieces = [text[i : i + 4] for i in range(0, len(text), 4)][:5000]
    expected = "".join(pieces)
    with httpx.Client() as client:
        publish(client, hub, topic, [{"type": "stream_start"}])
    browser.get(f"{hub.url}/?topic={topic}")
    wait_for(browser, "return window.newsroomViewer.state === 'live'")
    browser.execute_script(SAMPLER_JS)
    time.sleep(0.5)

    rate = 1000
    browser.execute_script("window.__t0 = performance.now()")
    with ws_connect(hub.url.replace("http://", "ws://") + "/v1/ws") as ws:
        drain = threading.Thread(target=lambda: _drain(ws), daemon=True)
        drain.start()
        started = time.monotonic()
        sent = 0
        while sent < len(pieces):
            # Send what is due by now, 1 ms at a time: an even 1,000 deltas per second.
            due = min(len(pieces), int((time.monotonic() - started) * rate) + 1)
            while sent < due:
                ws.send(json.dumps({"op": "publish", "topic": topic, "event": {"type": "text_delta", "text": pieces[sent]}}))
                sent += 1
            time.sleep(0.001)
        elapsed = time.monotonic() - started
        browser.execute_script("window.__t1 = performance.now()")
        ws.send(json.dumps({"op": "publish", "topic": topic, "event": {"type": "stream_complete", "finish_reason": "stop"}}))
        wait_for(browser, ENDED, timeout=30)
    browser.execute_script("window.__stopFrames = true")
    # Only the frames while the deltas streamed count.
    streaming = browser.execute_script("return window.__frames.filter((t) => t >= window.__t0 && t <= window.__t1)")
    status = browser.execute_script("return window.newsroomViewer")
    intervals = [b - a for a, b in zip(streaming, streaming[1:])]
    seconds = (streaming[-1] - streaming[0]) / 1000
    fps = (len(streaming) - 1) / seconds
    longest = max(intervals)
    p99 = sorted(intervals)[int(0.99 * (len(intervals) - 1))]
    print(
        f"\nviewer smoothness: {len(pieces)} deltas in {elapsed:.2f} s ({len(pieces) / elapsed:.0f}/s): "
        f"{fps:.1f} frames/s, longest frame {longest:.1f} ms, p99 {p99:.1f} ms, median "
        f"{statistics.median(intervals):.1f} ms; {status['renders']} renders, longest render "
        f"{status['longestRenderMs']:.1f} ms, mean {status['totalRenderMs'] / max(1, status['renders']):.2f} ms"
    )
    assert browser.execute_script("return window.newsroomViewer.answerText()") == expected
    assert rendered_html(browser) == expected_html(expected)
    assert len(pieces) / elapsed > 800, "the publisher could not keep 1,000 deltas per second"
    assert fps > 30, f"{fps:.1f} frames per second"
    assert status["longestRenderMs"] < 100


def _drain(ws):
    try:
        while True:
            ws.recv()
    except Exception:
        pass
