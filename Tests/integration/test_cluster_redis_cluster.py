"""Two hub nodes sharing topics through a real three-node Redis Cluster (the Redis broker with
NEWSROOM_BROKER_SHARDED=true: SPUBLISH/SSUBSCRIBE, and every key of a topic on the node that owns its hash
slot), black-box: every test starts its own cluster on free loopback ports (primaries only, each node in
a temporary directory, killed at teardown), and two `newsroom serve --broker redis://<first node>`
processes, and talks to them with httpx / httpx-sse."""

import binascii
import re
import shutil
import signal
import subprocess

import httpx
import pytest

from cluster_support import COMPLETE, Node, delta, events_url, free_port, publish, redis_command, viewers  # noqa: F401 (fixture)
from conftest import wait_until


def _redis_major_version():
    executable = shutil.which("redis-server")
    if executable is None:
        return None
    output = subprocess.run([executable, "--version"], capture_output=True, text=True).stdout
    match = re.search(r"v=(\d+)\.", output)
    return int(match.group(1)) if match else None


_MISSING = (
    "redis-server is not installed" if shutil.which("redis-server") is None
    else "redis-cli is not installed (it creates the cluster)" if shutil.which("redis-cli") is None
    else "a Redis Cluster with sharded Pub/Sub needs redis-server 7 or later" if (_redis_major_version() or 0) < 7
    else None
)
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")


# ----------------------------------------------------------------------------------------------------
# A three-node Redis Cluster


def key_slot(key):
    """The Redis Cluster hash slot of `key` (CRC16/XMODEM of the key or of its `{hash tag}`)."""
    data = key.encode()
    start = data.find(b"{")
    if start >= 0:
        end = data.find(b"}", start + 1)
        if end > start + 1:
            data = data[start + 1:end]
    return binascii.crc_hqx(data, 0) % 16384


class RedisCluster:
    """Primaries only, on free loopback ports; each node's cluster bus on its own free port
    (`--cluster-port`), so no node needs `port + 10000` free."""

    def __init__(self, directory, count=3):
        self.directory = directory
        self.count = count
        self.ports = []
        self.procs = []

    @property
    def urls(self):
        return [f"redis://127.0.0.1:{port}" for port in self.ports]

    def start(self, timeout=20.0):
        for _ in range(self.count):
            port, bus = free_port(), free_port()
            node_dir = self.directory / f"node-{port}"
            node_dir.mkdir(parents=True)
            log = open(node_dir / "redis.log", "w")
            self.procs.append(subprocess.Popen(
                [shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
                 "--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf",
                 "--cluster-node-timeout", "2000", "--cluster-port", str(bus),
                 "--save", "", "--appendonly", "no", "--dir", str(node_dir)],
                stdout=log, stderr=subprocess.STDOUT))
            log.close()
            self.ports.append(port)
        for port, proc in zip(self.ports, self.procs):
            def answers(port=port):
                try:
                    return redis_command(port, "PING", timeout=0.5) == "PONG"
                except (OSError, RuntimeError, ConnectionError):
                    return False
            assert wait_until(answers, timeout=10), f"redis-server on {port} did not start ({proc.poll()})"
        created = subprocess.run(
            [shutil.which("redis-cli"), "--cluster", "create", *[f"127.0.0.1:{p}" for p in self.ports],
             "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True, text=True, timeout=60)
        if "All 16384 slots covered" not in created.stdout:
            self.stop()
            pytest.skip(f"redis-cli --cluster create failed: {created.stdout} {created.stderr}")

        def ready():
            try:
                for port in self.ports:
                    info = redis_command(port, "CLUSTER", "INFO").decode()
                    if ("cluster_state:ok" not in info or "cluster_slots_assigned:16384" not in info
                            or f"cluster_known_nodes:{self.count}" not in info):
                        return False
                return True
            except (OSError, RuntimeError, ConnectionError):
                return False
        assert wait_until(ready, timeout=timeout, interval=0.05), "the Redis Cluster did not become ready"
        return self

    def owner(self, key):
        """The port of the primary that owns `key`'s slot (CLUSTER SLOTS on the first node)."""
        slot = key_slot(key)
        for start, end, primary, *_ in redis_command(self.ports[0], "CLUSTER", "SLOTS"):
            if start <= slot <= end:
                return primary[1]
        raise AssertionError(f"no node owns slot {slot}")

    def stop(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
        self.procs = []


@pytest.fixture
def redis_cluster(tmp_path):
    cluster = RedisCluster(tmp_path / "redis-cluster").start()
    yield cluster
    cluster.stop()


@pytest.fixture
def pair(redis_cluster, tmp_path):
    """Two hubs, both given the first node only (they learn the rest of the cluster from it)."""
    nodes = []
    for name in ("a", "b"):
        nodes.append(Node(redis_cluster.urls[0], tmp_path / f"hub-{name}.log",
                          env={"NEWSROOM_BROKER_SHARDED": "true"}))
    yield nodes
    for node in nodes:
        node.stop()




def ids(items):
    return [int(i) for i, _ in items]


def topic_on(cluster, port, prefix):
    """A topic name whose keys (`nr:{<topic>}:…`) live on the node listening on `port`."""
    for index in range(100_000):
        topic = f"{prefix}-{index}"
        if cluster.owner(f"nr:{{{topic}}}:meta") == port:
            return topic
    raise AssertionError(f"no topic name for the node on {port}")


# ----------------------------------------------------------------------------------------------------
# Tests


def test_an_event_published_on_a_reaches_a_viewer_on_b_for_topics_on_every_cluster_node(redis_cluster, pair, viewers):
    a, b = pair
    # One topic per cluster node: two of them live on nodes neither hub was given.
    topics = [topic_on(redis_cluster, port, "everywhere") for port in redis_cluster.ports]
    on_b = {topic: viewers(events_url(b, topic)) for topic in topics}
    assert {topic: viewer.status for topic, viewer in on_b.items()} == {topic: 200 for topic in topics}
    with httpx.Client(timeout=10) as client:
        for topic in topics:
            # B's viewer is attached: its mirror subscribed to the topic's shard channel on the owner.
            owner = redis_cluster.owner(f"nr:{{{topic}}}:live")
            assert wait_until(lambda: redis_command(owner, "PUBSUB", "SHARDNUMSUB", f"nr:{{{topic}}}:live")[1] >= 1,
                              timeout=10), f"nobody subscribed to {topic}'s shard channel on {owner}"
            for i in range(3):
                r = publish(client, a, topic, [delta(f"{topic} {i} ", i % 2)])
                assert r.status_code == 202, r.text
                assert r.json()["first_seq"] == r.json()["last_seq"] == i + 1
            assert publish(client, a, topic, [COMPLETE]).json()["last_seq"] == 4
    for topic in topics:
        seen = on_b[topic].until_end()
        assert ids(seen) == [1, 2, 3, 4], topic
        assert [e["text"] for _, e in seen[:-1]] == [f"{topic} {i} " for i in range(3)]
        assert seen[-1][1]["type"] == "stream_complete"
        assert not [e for _, e in seen if e["type"] == "error"]
        # The topic's history and metadata are stored on its own node, all under one hash tag.
        owner = redis_cluster.owner(f"nr:{{{topic}}}:meta")
        assert redis_command(owner, "XLEN", f"nr:{{{topic}}}:ev") == 4
        assert redis_command(owner, "HGET", f"nr:{{{topic}}}:meta", "state") == b"ended"
        info = b.topic(topic)
        assert info["last_seq"] == 4 and info["state"] == "ended"


def test_a_viewer_resumes_on_b_with_the_last_event_id_it_got_from_a(redis_cluster, pair, viewers):
    a, b = pair
    # On a node the hubs were not given, so every command and the shard channel must be routed there.
    topic = topic_on(redis_cluster, redis_cluster.ports[2], "resume")
    first, rest = [delta(f"x{i} ", i % 2) for i in range(6)], [delta(f"y{i} ", i % 2) for i in range(7)]
    on_a = viewers(events_url(a, topic))
    assert on_a.status == 200
    with httpx.Client(timeout=10) as client:
        for event in first:
            assert publish(client, a, topic, [event]).status_code == 202
        got = on_a.take(len(first))
        assert ids(got) == list(range(1, 7))
        last_id = got[-1][0]
        on_a.close()  # the viewer's network drops
        for event in rest:
            assert publish(client, a, topic, [event]).status_code == 202
        assert publish(client, a, topic, [COMPLETE]).json()["last_seq"] == 14
    # B holds no copy of the topic (nothing asked it for one): the resume reads the history from the cluster
    # node that has it. (A GET of the topic on B would mirror it first, so it is not asked here.)
    resumed = viewers(events_url(b, topic), headers={"Last-Event-ID": last_id})
    assert resumed.status == 200
    seen = resumed.until_end()
    assert ids(seen) == list(range(7, 15)), "exactly the rest: no duplicate, no gap"
    assert [e["text"] for _, e in seen[:-1]] == [e["text"] for e in rest]
    assert seen[-1][1]["type"] == "stream_complete"
    assert not [e for _, e in seen if e["type"] == "error"]
    # Live too: a viewer on B of a second topic on that node gets A's events as they are published.
    live_topic = topic_on(redis_cluster, redis_cluster.ports[2], "resume-live")
    live = viewers(events_url(b, live_topic))
    assert live.status == 200
    with httpx.Client(timeout=10) as client:
        for i in range(3):
            assert publish(client, a, live_topic, [delta(f"z{i} ", i % 2)]).status_code == 202
            item = live.next()
            assert int(item[0]) == i + 1 and item[1]["text"] == f"z{i} "
        # … and a resume on B mid-way with Last-Event-ID, while the topic is still streaming.
        again = viewers(events_url(b, live_topic), headers={"Last-Event-ID": "1"})
        assert ids(again.take(2)) == [2, 3]
        assert publish(client, a, live_topic, [delta("z3 ", 1)]).status_code == 202
        assert ids(again.take(1)) == [4]
