"""Helpers for the browser tests of the web viewer: headless Chromium through Selenium, a TCP proxy
whose connections the test can cut (the network dropping under the page), and the serializer and
expected rendering of the page's Markdown."""

import json
import os
import pathlib
import shutil
import socket
import subprocess
import threading
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
VIEWER = ROOT / "Examples" / "web-viewer"
ARTIFACTS = ROOT / ".test-artifacts"

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMEDRIVER = shutil.which("chromedriver")
NODE = shutil.which("node")


def require_browser():
    """Skips the test when Chromium, its driver or Selenium is missing (apt-get install chromium
    chromium-driver; pip install selenium), unless NEWSROOM_REQUIRE_BROWSER=1 makes that a failure."""
    missing = []
    if not CHROMIUM:
        missing.append("chromium")
    if not CHROMEDRIVER:
        missing.append("chromium-driver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip)")
    if missing:
        message = "browser tests need " + ", ".join(missing)
        if os.environ.get("NEWSROOM_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)


def start_browser(width=1100, height=1060):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # the tests run as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={width},{height}",
        "--force-device-scale-factor=1",
        "--disable-background-timer-throttling",
        "--disable-renderer-backgrounding",
        "--disable-backgrounding-occluded-windows",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-component-update",
        "--disable-sync",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(60)
    return driver


def wait_for(driver, script, timeout=30.0, interval=0.05, message=None):
    """Polls a JavaScript expression (`return …`) until it is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(interval)
    status = driver.execute_script("return JSON.stringify(window.newsroomViewer || null)")
    raise AssertionError(f"timed out waiting for {message or script!r}; last value {value!r}; viewer {status}")


# The same serialization as markdown.js's toHTML, run in the page over the live DOM (the viewer's own
# controls, marked data-ui, left out).
SERIALIZE_JS = r"""
const escape = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
const serialize = (node) => {
    if (node.nodeType === Node.TEXT_NODE) return escape(node.data)
    if (node.nodeType !== Node.ELEMENT_NODE) return ''
    // The viewer's own controls inside the answer (a code block's copy button) are not the rendering.
    if (node.hasAttribute('data-ui')) return ''
    const tag = node.tagName.toLowerCase()
    let html = '<' + tag
    for (const attribute of node.attributes) html += ` ${attribute.name}="${escape(attribute.value)}"`
    html += '>'
    if (tag === 'hr' || tag === 'br') return html
    return html + [...node.childNodes].map(serialize).join('') + '</' + tag + '>'
}
return [...document.querySelector(arguments[0]).childNodes].map(serialize).join('')
"""


def rendered_html(driver, selector="#answer"):
    return driver.execute_script(SERIALIZE_JS, selector)


def expected_html(markdown_text):
    """The one-shot rendering of `markdown_text` by markdown.js, run with node."""
    if not NODE:
        pytest.skip("node is needed to compute the expected rendering")
    script = (
        "const fs = require('fs'), os = require('os'), path = require('path'), url = require('url');"
        "const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'newsroom-md-'));"
        "const copy = path.join(dir, 'markdown.mjs');"
        f"fs.copyFileSync({json.dumps(str(VIEWER / 'markdown.js'))}, copy);"
        "let input = ''; process.stdin.on('data', (d) => input += d);"
        "process.stdin.on('end', async () => {"
        "  const md = await import(url.pathToFileURL(copy).href);"
        "  process.stdout.write(md.toHTML(md.renderMarkdown(input).blocks));"
        "  fs.rmSync(dir, { recursive: true });"
        "});"
    )
    result = subprocess.run([NODE, "-e", script], input=markdown_text, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout


def save_screenshot(driver, name):
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    return path


class CuttableProxy:
    """A TCP proxy on 127.0.0.1 in front of the hub. `cut()` closes every open connection at once, as a
    network drop would; new connections keep working. The head of each request is kept so a test can see
    how a client reconnected (Last-Event-ID, ?after=)."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.lock = threading.Lock()
        self.pairs = []
        self.requests = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            pair = (client, upstream)
            with self.lock:
                self.pairs.append(pair)
            threading.Thread(target=self._pipe, args=(client, upstream, pair, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, pair, False), daemon=True).start()

    def _pipe(self, source, destination, pair, from_client):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if from_client and data[:8].split(b" ", 1)[0] in (b"GET", b"POST", b"DELETE", b"HEAD", b"PUT"):
                    # A request head (connections are kept alive, so every one is kept, not just the first).
                    with self.lock:
                        self.requests.append(data.split(b"\r\n\r\n", 1)[0].decode("latin-1"))
                destination.sendall(data)
        except OSError:
            pass
        finally:
            for sock in pair:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            with self.lock:
                if pair in self.pairs:
                    self.pairs.remove(pair)

    def cut(self):
        """Drops every open connection (RST, like a network that went away)."""
        with self.lock:
            pairs = list(self.pairs)
            self.pairs.clear()
        for pair in pairs:
            for sock in pair:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                except OSError:
                    pass
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
        return len(pairs)

    def subscription_requests(self, fragment):
        with self.lock:
            return [r for r in self.requests if fragment in r.split("\r\n", 1)[0]]

    def close(self):
        self.closed = True
        self.listener.close()
        self.cut()


# Installed before the page's scripts run (CDP), so it sees the very first value: every text the viewer
# count shows, with the page's state and topic at that moment.
RECORD_VIEWER_COUNT_JS = """
window.__viewerCounts = []
document.addEventListener('DOMContentLoaded', () => {
    const node = document.getElementById('viewers')
    const record = () => window.__viewerCounts.push({
        text: node.textContent,
        state: window.newsroomViewer ? window.newsroomViewer.state : null,
        topic: window.newsroomViewer ? window.newsroomViewer.topic : null,
    })
    new MutationObserver(record).observe(node, { childList: true, characterData: true, subtree: true })
})
"""


def record_viewer_counts(driver):
    """Makes every later page load record what the viewer count shows (window.__viewerCounts)."""
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_VIEWER_COUNT_JS})


def grant_clipboard(driver):
    """Lets the page (and the test, through it) read and write the clipboard."""
    try:
        driver.execute_cdp_cmd("Browser.grantPermissions", {"permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    except Exception:  # noqa: BLE001 - older Chromium: the copy is still checked through the page's record
        return False
    return True


def read_clipboard(driver):
    """The clipboard's text, read in the page (None when the browser refuses)."""
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "navigator.clipboard.readText().then(done, () => done(null))"
    )
