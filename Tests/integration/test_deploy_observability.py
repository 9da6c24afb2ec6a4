"""The operator files: every metric the dashboard and the alert rules use is one the hub really exposes,
and the Prometheus files pass promtool (when installed)."""

import json
import pathlib
import re
import shutil
import subprocess

import httpx
from prometheus_client.parser import text_string_to_metric_families

from conftest import ROOT, publish

SUFFIXES = ("_bucket", "_count", "_sum")


def names_in(text):
    names = set()
    for name in re.findall(r"\bnewsroom_[a-z_]+", text):
        for suffix in SUFFIXES:
            if name.endswith(suffix):
                name = name[: -len(suffix)]
        names.add(name)
    return names


def test_dashboard_and_alerts_use_only_metrics_the_hub_exposes(hub):
    with httpx.Client() as client:
        publish(client, hub, "d", [{"type": "text_delta", "text": "x"}])
        exposed = {f.name for f in text_string_to_metric_families(client.get(f"{hub.url}/metrics").text)}
    # prometheus_client strips _total from counter family names
    exposed |= {n + "_total" for n in exposed}
    dashboard = json.loads((ROOT / "deploy/grafana/newsroom-dashboard.json").read_text())
    used = names_in(json.dumps(dashboard)) | names_in((ROOT / "deploy/prometheus/newsroom-alerts.yml").read_text())
    assert used, "expected metric names in the dashboard"
    assert used <= exposed, sorted(used - exposed)


def test_prometheus_files_pass_promtool():
    promtool = shutil.which("promtool")
    if promtool is None:
        import pytest
        pytest.skip("promtool (Debian package prometheus) is not installed")
    deploy = ROOT / "deploy/prometheus"
    subprocess.run([promtool, "check", "config", "prometheus.yml"], cwd=deploy, check=True, capture_output=True)
    subprocess.run([promtool, "test", "rules", "newsroom-alerts.test.yml"], cwd=deploy, check=True, capture_output=True)
