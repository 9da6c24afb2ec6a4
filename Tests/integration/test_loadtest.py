"""`newsroom loadtest` with gRPC and mixed viewers against the real hub binary (the SSE and WebSocket
paths are covered by the Swift suite against an in-process hub). Small, bounded runs with assertions
on counts only: speed is measured by scripts/bench, not here."""

import json
import subprocess

import pytest

from conftest import BINARY
from grpc_support import GRPCHub


@pytest.fixture
def ghub():
    hub = GRPCHub(["--heartbeat-interval", "0.5"])
    yield hub
    hub.stop()


def loadtest(hub, *args):
    # gRPC viewers go to the port of --url: the hub serves gRPC there.
    out = subprocess.run(
        [str(BINARY), "loadtest", "--url", hub.url, "--json", "--quiet",
         "--threads", "2", "--idle-settle", "0.2", "--timeout", "90", *args],
        capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize("transport", ["grpc", "mixed"])
def test_every_viewer_receives_every_event_once(ghub, transport):
    result = loadtest(ghub, "--transport", transport, "--clients", "60", "--topics", "2", "--rate", "20",
                      "--duration", "2")
    assert result["transport"] == transport
    assert (result["attempted"], result["established"], result["failed"]) == (60, 60, 0)
    assert 0 < result["published"] <= 80
    assert result["expected"] == 30 * result["published"]
    assert result["received"] == result["expected"]
    assert (result["lost"], result["duplicated"], result["out_of_order"]) == (0, 0, 0)
    assert result["p99_ms"] > 0


@pytest.mark.parametrize("transport", ["grpc", "sse", "ws"])
def test_a_reconnect_storm_resumes_without_loss(ghub, transport):
    result = loadtest(ghub, "--transport", transport, "--clients", "40", "--rate", "50", "--duration", "3",
                      "--reconnect-storm")
    assert result["lost"] == 0 and result["duplicated"] == 0
    assert result["received"] == result["expected"] > 0
    storm = result["storm"]
    assert storm["dropped"] == 40 and storm["resumed"] == 40 and storm["recovered"] == 40
    assert storm["resume_unavailable"] == 0
    # Live again (subscribed anew and caught up) is reported apart from the first event published after
    # the drop, which adds the wait for the next publish; both within the 1.5 s after the drop.
    assert 0 < storm["recover_p50_ms"] <= storm["recover_max_ms"] < 1500
    assert 0 < storm["first_new_event_p50_ms"] <= storm["first_new_event_max_ms"] < 1500
    # The live fan-out during the storm is reported apart from the replays: some of the 1.5 s after the
    # drop's events reached viewers already back, and only those count.
    assert 0 < storm["live_deliveries"] < result["received"]
    assert 0 < storm["live_p50_ms"] <= storm["live_p99_ms"] <= storm["live_max_ms"] <= result["max_ms"]


def test_grpc_slow_viewers_are_reported_apart(ghub):
    result = loadtest(ghub, "--transport", "grpc", "--clients", "40", "--rate", "20", "--duration", "2",
                      "--slow-fraction", "0.25", "--slow-read-bps", "4000")
    assert result["established"] == 40
    # The fast viewers lose nothing, whatever the slow ones do.
    assert result["fast"]["clients"] == 30 and result["fast"]["lost"] == 0
    assert result["slow"]["clients"] == 10


def test_grpc_viewers_need_the_newsroom_target():
    out = subprocess.run([str(BINARY), "loadtest", "--transport", "grpc", "--target", "nchan", "--clients", "1"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert "only against the newsroom hub" in out.stderr


@pytest.fixture
def tls_hub(tmp_path):
    """A hub serving TLS (HTTP/1.1, h2 and gRPC on its one port) with a self-signed certificate for 127.0.0.1."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True)
    hub = GRPCHub(["--tls-certificate", str(cert), "--tls-private-key", str(key), "--heartbeat-interval", "0.5"])
    hub.https = hub.url.replace("http://", "https://")
    hub.cert = cert
    yield hub
    hub.stop()


@pytest.mark.parametrize("transport", ["sse", "ws", "grpc", "mixed"])
def test_every_viewer_receives_every_event_over_tls_with_a_private_ca(tls_hub, transport):
    out = subprocess.run(
        [str(BINARY), "loadtest", "--url", tls_hub.https, "--ca-certificate", str(tls_hub.cert), "--json", "--quiet",
         "--threads", "2", "--idle-settle", "0.2", "--timeout", "90", "--transport", transport, "--clients", "30",
         "--topics", "2", "--rate", "20", "--duration", "2"],
        capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert (result["attempted"], result["established"], result["failed"]) == (30, 30, 0)
    assert result["published"] > 0 and result["received"] == result["expected"] == 15 * result["published"]
    assert (result["lost"], result["duplicated"], result["out_of_order"]) == (0, 0, 0)


def test_loadtest_over_tls_without_the_ca_fails_at_once_naming_the_url(tls_hub):
    out = subprocess.run(
        [str(BINARY), "loadtest", "--url", tls_hub.https, "--quiet", "--clients", "1", "--duration", "1",
         "--timeout", "30"], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert f"cannot connect to {tls_hub.https}" in out.stderr and "certificate" in out.stderr.lower(), out.stderr
    out = subprocess.run([str(BINARY), "loadtest", "--url", tls_hub.url, "--ca-certificate", str(tls_hub.cert)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "--ca-certificate needs an https:// --url" in out.stderr, out.stderr
