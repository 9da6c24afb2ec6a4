"""Short runs of scripts/soak and scripts/chaos against the binary (the full ones — 10,000 viewers for 30
minutes — are in docs/benchmarks.md): nothing lost or duplicated on any transport, every answer's text
exact, memory flat after warm-up, and every fault recovered from."""

import json
import subprocess
import sys

import pytest

from conftest import BINARY, ROOT

pytest.importorskip("websockets")


def run_script(name, *args, timeout):
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / name), "--binary", str(BINARY), *args],
                            capture_output=True, text=True, timeout=timeout)
    print(result.stdout[-3000:], result.stderr[-3000:])
    return result


def test_a_short_soak_loses_nothing_and_memory_stays_flat(tmp_path):
    out = tmp_path / "soak.json"
    result = run_script("soak", "--duration", "40", "--clients", "300", "--topics", "10", "--rate", "5",
                        "--answers", "2", "--sample-every", "5", "--warmup", "20", "--retention", "3",
                        "--history-max-events", "100", "--rss-tolerance", "15", "--json", str(out), timeout=180)
    assert result.returncode == 0, result.stdout[-2000:]
    outcome = json.loads(out.read_text())
    assert set(outcome["transports"]) == {"sse", "ws", "grpc"}
    for transport, counts in outcome["transports"].items():
        assert counts["established"] == 100 and counts["lost"] == 0 and counts["duplicated"] == 0, transport
        assert counts["received"] == counts["expected"] > 0, transport
    assert outcome["answers"]["answers"] >= 10 and outcome["answers"]["wrong"] == 0
    assert len(outcome["samples"]) >= 6


def test_a_short_chaos_run_recovers_from_every_fault(tmp_path):
    out = tmp_path / "chaos.json"
    result = run_script("chaos", "--duration", "100", "--cycle", "20", "--clients", "300", "--topics", "10",
                        "--rate", "5", "--json", str(out), timeout=400)
    assert result.returncode == 0, result.stdout[-3000:]
    outcome = json.loads(out.read_text())
    faults = [row["fault"] for row in outcome["rows"]]
    assert faults == ["kill-node", "restart-redis", "stall", "storm", "network"]
    for row, detail in zip(outcome["rows"], outcome["outcomes"]):
        assert row["lost"] == 0 and row["duplicated"] == 0 and not row["problems"], row
        exact, total = map(int, row["answers"].split("/"))
        assert total > 0 and exact == total, row
        # The fault really struck.
        if row["fault"] == "kill-node":
            assert row["drops"] > 0 and row["reconnects"] >= row["drops"], row
        if row["fault"] == "storm":
            assert row["storm_dropped"] == row["viewers"], row
        # The network fault needs a namespace of the script's own (root and `ip netns`; .ci/run installs
        # iproute2 and iptables): where it had one, the fault must really have been injected.
        if row["fault"] == "network" and outcome["namespace"]:
            assert detail["what"].startswith("10 s of"), detail["what"]
